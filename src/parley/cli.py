"""``parley`` command line: serve, keys, call."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from parley import __version__
from parley.config import ClientSettings, Settings


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {k: v for k, v in {"data_dir": args.data_dir}.items() if v is not None}
    for name in ("host", "port", "providers_file"):
        if getattr(args, name, None) is not None:
            overrides[name] = getattr(args, name)
    return Settings(**overrides)


async def _bootstrap(settings: Settings) -> tuple[str | None, str]:
    from parley.server.bootstrap import bootstrap
    from parley.storage import Database
    from parley.storage.permissions import secure_data_dir

    secure_data_dir(settings.data_dir)  # 0700, its files 0600 (tightened with a warning)
    db = Database(settings.resolved_database_url())
    await db.connect()
    try:
        result = await bootstrap(db)
    finally:
        await db.close()
    return result.admin_key, result.demo_agent_id


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the server with the embedded models."""
    from parley.observability.logging import configure_logging
    from parley.providers.catalog import ProvidersFileError
    from parley.server import create_app
    from parley.server.serving import serve

    settings = _settings(args)
    configure_logging(settings.log_level, json_format=settings.log_json)
    try:
        app = create_app(settings)
    except ProvidersFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    admin_key, demo = asyncio.run(_bootstrap(settings))
    if admin_key:
        print("Created the admin API key. It is shown only once; store it now:", flush=True)
        print(f"  {admin_key}", flush=True)
    print(f"Data directory: {settings.data_dir.resolve()}", flush=True)
    print(f"Demo agent: {demo}", flush=True)
    print(
        f"Listening on http://{settings.host}:{settings.port} (models load in the background; "
        "GET /healthz answers 200 when ready)",
        flush=True,
    )
    print(
        f"Dashboard: http://{settings.host}:{settings.port}/ (sign in with an API key)", flush=True
    )
    serve(app, settings)  # SIGTERM drains first (docs/deployment.md)
    return 0


async def _with_keys(settings: Settings, work: Any) -> Any:
    """Run ``work(ApiKeyRepository, AgentRepository)`` against the data directory's database."""
    from parley.storage import AgentRepository, ApiKeyRepository, Database
    from parley.storage.permissions import secure_data_dir

    secure_data_dir(settings.data_dir)
    db = Database(settings.resolved_database_url())
    await db.connect()
    try:
        return await work(ApiKeyRepository(db), AgentRepository(db))
    finally:
        await db.close()


def cmd_keys_create(args: argparse.Namespace) -> int:
    """Create an API key; the key is the last line of the output."""
    from parley.errors import ParleyError

    kind = "publishable" if args.publishable else "secret"
    agent_ids = args.agent or None

    async def create(keys: Any, agents: Any) -> tuple[str, str]:
        for agent_id in agent_ids or []:
            if await agents.get(agent_id) is None:
                raise ParleyError(f"agent {agent_id!r} not found")
        record, plaintext = await keys.create(
            args.name, is_admin=args.admin, kind=kind, agent_ids=agent_ids
        )
        return record.id, plaintext

    try:
        key_id, plaintext = asyncio.run(_with_keys(_settings(args), create))
    except ParleyError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    limited = f", agents {', '.join(agent_ids)}" if agent_ids else ""
    admin = ", admin" if args.admin else ""
    print(f"Created {kind} API key {key_id} ({args.name}{admin}{limited}). It is shown only once:")
    print(plaintext)
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    """List API keys (never the keys themselves, only their first characters)."""

    async def list_keys(keys: Any, _agents: Any) -> Any:
        return await keys.list()

    records = asyncio.run(_with_keys(_settings(args), list_keys))
    print(f"{'ID':<28} {'KIND':<11} {'PREFIX':<14} {'ADMIN':<5} {'STATUS':<8} {'CREATED':<20} NAME")
    for r in records:
        status = "revoked" if r.revoked else "active"
        created = r.created_at.strftime("%Y-%m-%d %H:%M:%S")
        agents = f" (agents: {', '.join(r.agent_ids)})" if r.agent_ids else ""
        print(
            f"{r.id:<28} {r.kind:<11} {r.prefix + '...':<14} {'yes' if r.is_admin else 'no':<5} "
            f"{status:<8} {created:<20} {r.name}{agents}"
        )
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    """Revoke an API key by its id (``key_...``)."""

    async def revoke(keys: Any, _agents: Any) -> bool:
        return bool(await keys.revoke(args.key_id))

    if not asyncio.run(_with_keys(_settings(args), revoke)):
        print(f"error: API key {args.key_id!r} not found", file=sys.stderr)
        return 1
    print(f"Revoked API key {args.key_id}")
    return 0


def cmd_call(args: argparse.Namespace) -> int:
    """Stream WAV files to an agent in real time and print the conversation."""
    from websockets.exceptions import WebSocketException

    from parley.audio.wav import read_wav, write_wav
    from parley.client import call
    from parley.errors import AudioError

    client = ClientSettings()
    api_key = args.api_key or client.api_key
    if not api_key:
        print("error: pass --api-key or set PARLEY_API_KEY", file=sys.stderr)
        return 2
    try:
        utterances = [read_wav(p) for p in args.inputs]
    except OSError as exc:
        print(f"error: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    except AudioError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    url = args.url or client.url
    try:
        result = asyncio.run(
            call(url, api_key, args.agent_id, utterances, reply_timeout=args.timeout)
        )
    except ConnectionRefusedError:
        print(f"error: cannot connect to {url} (is `parley serve` running?)", file=sys.stderr)
        return 1
    except (OSError, WebSocketException) as exc:
        print(f"error: the call to {url} failed: {exc or type(exc).__name__}", file=sys.stderr)
        return 1
    print(f"conversation {result.conversation_id}")
    if result.greeting:
        print(f"agent: {result.greeting.text}")
    for turn in result.turns:
        print(f"you:   {turn.user_text or '(nothing recognised)'}")
        if turn.reply is None:
            continue
        print(f"agent: {turn.reply.text}")
        m = turn.reply.metrics

        def fmt(v: float | None) -> str:
            return "-" if v is None else f"{v:.0f}"

        print(
            f"       voice-to-voice {fmt(m.get('voice_to_voice'))} ms (server), "
            f"{fmt(turn.client_voice_to_voice_ms)} ms (client) | endpointing "
            f"{fmt(m.get('endpointing'))} | stt {fmt(m.get('stt'))} | llm first token "
            f"{fmt(m.get('llm_first_token'))} | first clause {fmt(m.get('first_clause'))} | "
            f"tts first audio {fmt(m.get('tts_first_audio'))}"
        )
    if args.out:
        write_wav(args.out, result.agent_audio)
        print(f"agent audio written to {args.out}")
    return 0


def cmd_say(args: argparse.Namespace) -> int:
    """Speak text into a WAV file with the embedded voice (handy input for ``parley call``)."""
    from parley.audio.wav import write_wav
    from parley.providers.tts.piper_local import PiperTTS

    tts = PiperTTS()
    voice = tts.voice(args.voice) if args.voice else tts.voices()[0]

    async def speak() -> bytes:
        return b"".join([pcm async for pcm in tts.synthesize(args.text, voice_id=voice.id)])

    write_wav(args.out, asyncio.run(speak()), voice.sample_rate)
    tts.close()
    print(f"wrote {args.out} ({voice.id})")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """Run one benchmark of :mod:`parley.bench` with the remaining arguments."""
    import importlib

    module = importlib.import_module(f"parley.bench.{args.benchmark}")
    code: int = module.main(args.bench_args)
    return code


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``parley`` command."""
    parser = argparse.ArgumentParser(prog="parley", description="Self-hosted voice agents.")
    parser.add_argument("--version", action="version", version=f"parley {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default 8000)")
    serve.add_argument("--data-dir", type=Path, default=None, help="default ./parley-data")
    serve.add_argument(
        "--providers",
        dest="providers_file",
        type=Path,
        default=None,
        help="TOML file of named STT, LLM and TTS providers (or PARLEY_PROVIDERS_FILE)",
    )
    serve.set_defaults(func=cmd_serve)

    keys = sub.add_parser("keys", help="manage API keys").add_subparsers(dest="keys", required=True)
    create = keys.add_parser("create", help="create an API key (printed as the last line)")
    create.add_argument("--data-dir", type=Path, default=None)
    create.add_argument("--name", default="cli")
    kind = create.add_mutually_exclusive_group()
    kind.add_argument("--admin", action="store_true", help="an admin key (manages keys)")
    kind.add_argument(
        "--publishable",
        action="store_true",
        help="a publishable key (pk_live_...): may only open conversations",
    )
    create.add_argument(
        "--agent",
        action="append",
        default=[],
        metavar="AGENT_ID",
        help="publishable keys: limit to this agent (repeatable)",
    )
    create.set_defaults(func=cmd_keys_create)
    listing = keys.add_parser("list", help="list API keys")
    listing.add_argument("--data-dir", type=Path, default=None)
    listing.set_defaults(func=cmd_keys_list)
    revoke = keys.add_parser("revoke", help="revoke an API key")
    revoke.add_argument("key_id", help="the key's id (key_...), as `parley keys list` shows")
    revoke.add_argument("--data-dir", type=Path, default=None)
    revoke.set_defaults(func=cmd_keys_revoke)

    c = sub.add_parser("call", help="talk to an agent with WAV files")
    c.add_argument("agent_id")
    c.add_argument("inputs", nargs="+", type=Path, help="WAV files, one per user turn")
    c.add_argument("--out", type=Path, default=None, help="write the agent's audio here")
    c.add_argument("--url", default=None, help="server URL (default http://127.0.0.1:8000)")
    c.add_argument("--api-key", default=None, help="API key (default $PARLEY_API_KEY)")
    c.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each reply")
    c.set_defaults(func=cmd_call)

    say = sub.add_parser("say", help="speak text into a WAV file with the embedded voice")
    say.add_argument("text")
    say.add_argument("out", type=Path, help="WAV file to write")
    say.add_argument("--voice", default=None, help="voice id (default: the first installed)")
    say.set_defaults(func=cmd_say)

    bench = sub.add_parser(
        "bench",
        help="run a benchmark against real recorded speech (needs the dev extra)",
        description="Run a benchmark; `parley bench NAME --help` lists its options "
        "(--runs/--conversations N, --out DIR, --url URL --api-key KEY, ...).",
    )
    from parley.bench import BENCHMARKS

    bench.add_argument("benchmark", choices=BENCHMARKS)
    bench.add_argument("bench_args", nargs=argparse.REMAINDER, help="the benchmark's options")
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``parley`` command."""
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
