"""One caller beside a flood: does a client that pushes audio far faster than real time
change another caller's latency?

For each server configuration, a caller holds a conversation (real recorded utterances,
streamed in real time, each reply waited for) first alone, then while a flooder pushes
``--flood-minutes`` of real speech as fast as the socket takes it, reconnecting whenever
it is closed, until the caller is done. The flooder runs on its own thread and event
loop, so it cannot hold up the caller's client. Configurations:

- ``limited``: the default limits (audio at most ``PARLEY_LIMITS__AUDIO_BURST_S`` ahead of
  real time; a flooding session is ended with 1008);
- ``unlimited``: the limits raised out of reach, i.e. the server as it was before them.
  Careful: on our 2-core, 24 GiB machine this server grew to 24 GB and was killed by
  the kernel's OOM killer within minutes of the flood.

The flooder uses an API key of its own (``--url`` needs an admin key), so the caller is
not caught by the flooder's cooldown.

Reported per configuration and phase: client voice-to-voice p50/p95, turns answered,
and for the flood the connections it made, the audio it sent and the close codes.

    parley bench flood [--configs limited unlimited] [--utterances NAME ...]
                       [--flood-minutes 10] [--out DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import websockets

from parley.audio.wav import read_wav
from parley.bench.common import (
    base_parser,
    client_voice_to_voice_ms,
    figure,
    fmt,
    machine,
    now_utc,
    summary_or_none,
    target,
    write_results,
)
from parley.client import call, conversation_url
from parley.testing.recordings import recording

DEFAULT_UTTERANCES = ["cards-001", "librivox-0880", "cards-003", "cards-005"]
FLOOD_CHUNK_S = 1.0
CONFIGS: dict[str, dict[str, str]] = {
    "limited": {},
    "unlimited": {
        "PARLEY_LIMITS__AUDIO_BURST_S": "3600",
        "PARLEY_LIMITS__MESSAGES_PER_S": "100000",
        "PARLEY_LIMITS__MESSAGE_BURST": "1000000",
        "PARLEY_LIMITS__MAX_REFUSED": "10000",
    },
}


class Flooder:
    """Pushes ``minutes`` of speech per connection as fast as possible, reconnecting
    when closed, on its own thread, until :meth:`stop`."""

    def __init__(self, url: str, speech: bytes, minutes: float) -> None:
        self.url, self.minutes = url, minutes
        step = int(FLOOD_CHUNK_S * 16000) * 2
        loop = (speech * (int(minutes * 60 * 32000 / max(1, len(speech))) + 1))[
            : int(minutes * 60 * 32000)
        ]
        self.frames = [
            json.dumps({"type": "audio", "audio": base64.b64encode(loop[i : i + step]).decode()})
            for i in range(0, len(loop), step)
        ]
        self.connections = 0
        self.audio_sent_s = 0.0
        self.close_codes: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self) -> None:
        """Start flooding."""
        self._thread.start()

    def stop(self) -> dict[str, Any]:
        """Stop and report."""
        self._stop.set()
        self._thread.join(timeout=60)
        return {
            "connections": self.connections,
            "audio_sent_s": round(self.audio_sent_s, 1),
            "close_codes": dict(self.close_codes),
        }

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self._one_connection()
            except (OSError, websockets.WebSocketException) as exc:
                self.close_codes[type(exc).__name__] += 1
                await asyncio.sleep(0.2)

    async def _one_connection(self) -> None:
        async with websockets.connect(self.url, max_size=None) as ws:
            self.connections += 1
            await ws.recv()
            with contextlib.suppress(websockets.ConnectionClosed):
                for frame in self.frames:
                    if self._stop.is_set():
                        break
                    await ws.send(frame)
                    self.audio_sent_s += FLOOD_CHUNK_S
                while not self._stop.is_set():  # sent it all: wait for the server to close
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(ws.recv(), 0.5)
            self.close_codes[str(ws.close_code)] += 1


async def conversation(url: str, key: str, clips: list[bytes]) -> dict[str, Any]:
    """One call; its turns' client voice-to-voice (None: no reply)."""
    try:
        result = await call(url, key, "agt_demo", clips, reply_timeout=60.0)
    except Exception as exc:  # a refused or dropped caller is a result too
        return {"error": f"{type(exc).__name__}: {exc}", "voice_to_voice_ms": []}
    v2v = [client_voice_to_voice_ms(t) for t in result.turns]
    return {"voice_to_voice_ms": v2v + [None] * (len(clips) - len(v2v))}


def phase(name: str, calls: dict[str, Any], flood: dict[str, Any] | None) -> dict[str, Any]:
    """One row of the report."""
    values = [v for v in calls["voice_to_voice_ms"] if v is not None]
    return {
        "phase": name,
        "turns": len(calls["voice_to_voice_ms"]),
        "answered": len(values),
        "voice_to_voice_client_ms": summary_or_none(values),
        "error": calls.get("error"),
        "flood": flood,
        "raw_ms": calls["voice_to_voice_ms"],
    }


def own_key(url: str, admin_key: str) -> str:
    """A new secret key (needs an admin ``admin_key``)."""
    created = httpx.post(
        f"{url}/v1/api-keys",
        headers={"Authorization": f"Bearer {admin_key}"},
        json={"name": "bench-flood"},
        timeout=30,
    )
    created.raise_for_status()
    return str(created.json()["key"])


def run_config(
    args: argparse.Namespace, name: str, clips: list[bytes], speech: bytes
) -> list[dict[str, Any]]:
    """Alone, then beside the flood, on one server with configuration ``name``."""
    with target(args, env=CONFIGS[name]) as tgt:
        asyncio.run(conversation(tgt.url, tgt.key, clips[:1]))  # warm-up
        alone = asyncio.run(conversation(tgt.url, tgt.key, clips))
        flood_key = own_key(tgt.url, tgt.key)  # the flooder's cooldown is not the caller's
        flooder = Flooder(
            conversation_url(tgt.url, flood_key, "agt_demo"), speech, args.flood_minutes
        )
        flooder.start()
        time.sleep(1.0)
        beside = asyncio.run(conversation(tgt.url, tgt.key, clips))
        flood = flooder.stop()
    return [
        {"config": name, **phase("alone", alone, None)},
        {"config": name, **phase("beside_flood", beside, flood)},
    ]


def plot(report: dict[str, Any]) -> Any:
    """Voice-to-voice p50/p95 per configuration and phase; unanswered turns marked."""
    fig, axes = figure(1, 1, (9, 4.5))
    ax = axes[0][0]
    rows = report["rows"]
    labels = [f"{r['config']}\n{r['phase']}" for r in rows]
    xs = list(range(len(rows)))
    for stat, marker in (("p50", "o"), ("p95", "s")):
        ax.plot(
            xs,
            [(r["voice_to_voice_client_ms"] or {}).get(stat, float("nan")) for r in rows],
            marker,
            label=f"client {stat}",
        )
    for x, r in zip(xs, rows, strict=True):
        ax.annotate(f"{r['answered']}/{r['turns']} answered", (x, 0), ha="center", va="bottom")
    ax.set_xticks(xs, labels)
    ax.set(
        ylabel="ms", title="voice-to-voice of a caller, alone and beside a flood", ylim=(0, None)
    )
    ax.legend()
    return fig


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; the exit status is 0."""
    parser = base_parser(__doc__, "parley bench flood")
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--utterances", nargs="+", default=DEFAULT_UTTERANCES, metavar="NAME")
    parser.add_argument("--flood-minutes", type=float, default=10.0)
    args = parser.parse_args(argv)
    if args.url and len(args.configs) > 1:
        raise SystemExit("error: with --url, name one of --configs (the server's own limits)")
    clips = [read_wav(recording(n).path) for n in args.utterances]
    speech = b"".join(read_wav(recording(n).path) for n in ("librivox-0870", "librivox-0890"))
    report: dict[str, Any] = {"benchmark": "flood", "when": now_utc(), "machine": machine()}
    report["settings"] = {
        "configs": {c: CONFIGS[c] for c in args.configs},
        "utterances": args.utterances,
        "flood_minutes": args.flood_minutes,
    }
    report["rows"] = [row for c in args.configs for row in run_config(args, c, clips, speech)]
    json_path, png_path = write_results(Path(args.out), "flood", report, plot)
    print(f"{'config':<11}{'phase':<14}{'answered':>9}{'p50':>7}{'p95':>7}  flood")
    for r in report["rows"]:
        v = r["voice_to_voice_client_ms"] or {}
        flood = r["flood"] or {}
        print(
            f"{r['config']:<11}{r['phase']:<14}{r['answered']:>5}/{r['turns']:<3}"
            f"{fmt(v.get('p50')):>7}{fmt(v.get('p95')):>7}  {flood or ''}"
        )
        if r["error"]:
            print(f"    caller failed: {r['error']}")
    print(f"written to {json_path} and {png_path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
