"""The server side of ``parley bench languages``: real conversations with one server.

3. Voice to voice, English: two agents with the same prompt, ``language="en"`` (Whisper
   tiny.en) and ``language="auto"`` (Whisper base multilingual), are called in turn with the
   same English recordings, one utterance per call, clip by clip, so machine load hits both
   alike. Per agent: client voice-to-voice, the server's ``stt`` and ``voice_to_voice``
   stages (p50/p95) and the WER of what the server heard. One call per agent first warms
   the models up and is left out.
4. Replies in the caller's language: each clip of the chosen languages goes to the ``auto``
   agent and to an agent with that language code. Per call: the language the server
   detected in the caller's words, whether ``language_changed`` came, the reply text, and
   the language Whisper base detects in the reply's AUDIO (transcribed in this process after
   the server has stopped), against the language expected (the caller's for ``auto``, the
   agent's code otherwise).
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from parley.audio.pcm import SAMPLE_RATE
from parley.audio.wav import read_wav
from parley.bench.common import (
    Meter,
    fmt,
    summary_or_none,
    target,
)
from parley.client import AsyncParleyClient, CallResult, CallTurn, call
from parley.providers.stt.whisper_local import WhisperSTT
from parley.testing.multilingual_speech import DEBIAN_VOICES, SpeechClip
from parley.testing.multilingual_speech import clips as speech_clips
from parley.testing.recordings import Recording, recordings
from parley.testing.wer import normalized_wer

PROMPT = "You are a helpful travel agent. Answer in one or two short sentences."
CALL_LANGUAGES = ("es", "fr", "de")
CALL_LANGUAGE_CHOICES = (*DEBIAN_VOICES, "de")
ENGLISH_AGENTS = ("en", "auto")
MAX_CALL_BYTES = 25 * 32_000
SAMPLE_REPLIES = 3


def wer(references: list[str], hypotheses: list[str], english: bool = False) -> float | None:
    """:func:`~parley.testing.wer.normalized_wer` over the pairs whose reference has
    words, rounded; None when none has."""
    from whisper_normalizer.basic import BasicTextNormalizer

    keep = [
        (r, h)
        for r, h in zip(references, hypotheses, strict=True)
        if BasicTextNormalizer()(r).strip()
    ]
    if not keep:
        return None
    return round(normalized_wer([r for r, _ in keep], [h for _, h in keep], english=english), 4)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the server-based sections."""
    group = parser.add_argument_group("calls through a server")
    group.add_argument("--no-calls", action="store_true", help="skip the server-based sections")
    group.add_argument("--calls-english", type=int, default=10, help="English clips to call with")
    group.add_argument("--calls-rounds", type=int, default=1, help="passes over those clips")
    group.add_argument(
        "--calls-languages", nargs="+", default=list(CALL_LANGUAGES), choices=CALL_LANGUAGE_CHOICES
    )
    group.add_argument("--calls-per-language", type=int, default=3)
    group.add_argument(
        "--calls-max-tokens",
        type=int,
        default=None,
        help="reply length cap of every agent (default: the server's llm_max_tokens)",
    )
    group.add_argument("--url", default=None, help="call a running server (default: start one)")
    group.add_argument("--api-key", default=None, help="API key for --url ($PARLEY_API_KEY)")


# one call ------------------------------------------------------------------------------


def _user_event(result: CallResult, turn: CallTurn) -> dict[str, Any]:
    """The last user ``transcript`` event of the turn ``turn`` answers ({} when none)."""
    turn_id = turn.reply.turn_id if turn.reply else None
    users = [e for e in result.events if e.get("type") == "transcript" and e["role"] == "user"]
    mine = [e for e in users if e.get("turn_id") == turn_id] or users
    return mine[-1] if mine else {}


async def _call_once(url: str, key: str, agent_id: str, pcm: bytes) -> dict[str, Any]:
    """One utterance in one conversation: what came back, audio kept for later."""
    result = await call(url, key, agent_id, [pcm])
    [turn] = result.turns
    user = _user_event(result, turn)
    switches = [e for e in result.events if e.get("type") == "language_changed"]
    reply = turn.reply
    return {
        "conversation_id": result.conversation_id,
        "heard": turn.user_text,
        "heard_language": user.get("language"),
        "heard_probability": user.get("language_probability"),
        "language_changed": [
            {k: e.get(k) for k in ("language", "previous", "probability")} for e in switches
        ],
        "reply": reply.text if reply else None,
        "reply_audio_s": round(len(reply.audio) / 2 / SAMPLE_RATE, 2) if reply else 0.0,
        "client_voice_to_voice_ms": turn.client_voice_to_voice_ms,
        "server_ms": dict(reply.metrics) if reply else {},
        "_audio": bytes(reply.audio) if reply else b"",
    }


@contextlib.asynccontextmanager
async def _agents(
    url: str, key: str, languages: list[str], max_tokens: int | None
) -> AsyncIterator[dict[str, str]]:
    """Agents with the same prompt: ``en``, ``auto`` and one per language; deleted after."""
    made: dict[str, str] = {}
    overrides = {} if max_tokens is None else {"llm_max_tokens": max_tokens}
    async with AsyncParleyClient(url, key, timeout=60) as client:
        try:
            for language in dict.fromkeys([*ENGLISH_AGENTS, *languages]):
                agent = await client.create_agent(
                    name=f"bench languages [{language}]",
                    system_prompt=PROMPT,
                    language=language,
                    provider_overrides=overrides,
                )
                made[language] = agent["id"]
            yield made
        finally:
            for agent_id in made.values():
                with contextlib.suppress(Exception):
                    await client.delete_agent(agent_id)


# the two sections ----------------------------------------------------------------------


def english_clips(count: int) -> list[Recording]:
    """The first ``count`` English recordings under 25 s."""
    fit = [r for r in recordings() if r.path.stat().st_size - 44 <= MAX_CALL_BYTES]
    return fit[:count]


async def voice_to_voice(
    url: str, key: str, agents: dict[str, str], clips: list[Recording], rounds: int
) -> dict[str, Any]:
    """Each clip to the ``en`` agent, then to the ``auto`` agent, ``rounds`` times."""
    warmup = min(clips, key=lambda r: r.path.stat().st_size)
    warm = {a: await _call_once(url, key, agents[a], read_wav(warmup.path)) for a in ENGLISH_AGENTS}
    rows = []
    for round_ in range(rounds):
        for clip in clips:
            pcm = read_wav(clip.path)
            for agent in ENGLISH_AGENTS:
                row = await _call_once(url, key, agents[agent], pcm)
                del row["_audio"]
                rows.append({"round": round_, "clip": clip.name, "agent": agent, **row})
                rows[-1]["reference"] = clip.text
    return {
        "warmup": {a: {k: v for k, v in r.items() if k != "_audio"} for a, r in warm.items()},
        "results": rows,
    }


def _stage(rows: list[dict[str, Any]], stage: str) -> list[float]:
    return [r["server_ms"][stage] for r in rows if r["server_ms"].get(stage) is not None]


def voice_to_voice_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per agent: client voice-to-voice, server stt and voice_to_voice (ms), WER."""
    summary: dict[str, Any] = {}
    for agent in ENGLISH_AGENTS:
        mine = [r for r in rows if r["agent"] == agent]
        v2v = [r["client_voice_to_voice_ms"] for r in mine]
        summary[agent] = {
            "stt_model": "Whisper tiny.en" if agent == "en" else "Whisper base multilingual",
            "turns": len(mine),
            "turns_without_reply": sum(v is None for v in v2v),
            "voice_to_voice_client_ms": summary_or_none([v for v in v2v if v is not None]),
            "voice_to_voice_server_ms": summary_or_none(_stage(mine, "voice_to_voice")),
            "stt_server_ms": summary_or_none(_stage(mine, "stt")),
            "wer": wer([r["reference"] for r in mine], [r["heard"] for r in mine], True)
            if mine
            else None,
            "heard_as_en": round(sum(r["heard_language"] == "en" for r in mine) / len(mine), 3)
            if mine
            else None,
        }
    return summary


async def replies_in_language(
    url: str, key: str, agents: dict[str, str], clips: list[SpeechClip]
) -> list[dict[str, Any]]:
    """Each clip to the ``auto`` agent, then to the agent with the clip's language."""
    rows = []
    for clip in clips:
        for agent in ("auto", clip.language):
            row = await _call_once(url, key, agents[agent], clip.pcm)
            rows.append(
                {
                    "clip": clip.name,
                    "language": clip.language,
                    "synthetic": clip.synthetic,
                    "agent": "auto" if agent == "auto" else "given",
                    "agent_language": agent,
                    "reference": clip.text,
                    **row,
                }
            )
    return rows


async def detect_reply_languages(rows: list[dict[str, Any]], stt: WhisperSTT) -> None:
    """Transcribe each reply's audio with language detection; set the ``reply_audio_*``
    fields and drop the audio."""
    for row in rows:
        audio = row.pop("_audio")
        if not audio:
            row.update(reply_audio_language=None, reply_audio_probability=None)
            row["reply_audio_text"] = None
            continue
        heard = await stt.transcribe(audio, language="auto")
        probability = heard.language_probability
        row.update(
            reply_audio_language=heard.language,
            reply_audio_probability=None if probability is None else round(probability, 3),
            reply_audio_text=heard.text,
        )


def replies_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per language and agent: detected caller language, switches, replies in language."""
    summary: dict[str, Any] = {}
    for language in dict.fromkeys(r["language"] for r in rows):
        per_agent: dict[str, Any] = {}
        for agent in ("auto", "given"):
            mine = [r for r in rows if r["language"] == language and r["agent"] == agent]
            if not mine:
                continue
            voiced = [r for r in mine if r["reply_audio_language"] is not None]
            per_agent[agent] = {
                "calls": len(mine),
                "caller_detected": [r["heard_language"] for r in mine],
                "caller_detected_right": round(
                    sum(r["heard_language"] == language for r in mine) / len(mine), 3
                ),
                "language_changed": round(
                    sum(any(e["language"] == language for e in r["language_changed"]) for r in mine)
                    / len(mine),
                    3,
                ),
                "replies_with_audio": len(voiced),
                "reply_audio_detected": [r["reply_audio_language"] for r in mine],
                "reply_audio_in_language": round(
                    sum(r["reply_audio_language"] == language for r in mine) / len(mine), 3
                ),
                "sample_replies": [r["reply"] for r in mine[:SAMPLE_REPLIES]],
            }
        summary[language] = {
            "synthetic": all(r["synthetic"] for r in rows if r["language"] == language),
            **per_agent,
        }
    return summary


async def run_calls(args: argparse.Namespace, stt: WhisperSTT) -> dict[str, Any]:
    """Both sections against one server (started here unless ``--url``); ``stt`` is the
    multilingual Whisper that judges the replies' audio afterwards."""
    english = english_clips(args.calls_english)
    foreign = speech_clips(args.calls_languages, args.calls_per_language)
    report: dict[str, Any] = {"prompt": PROMPT, "llm_max_tokens": args.calls_max_tokens}
    with target(args) as tgt:
        if tgt.server is not None:
            ready = next(r for r in tgt.server.log_records() if r.get("msg") == "models ready")
            report["server_model_load_s"] = ready["seconds"]
        meter = Meter(tgt.pid)
        meter.start()
        async with _agents(tgt.url, tgt.key, args.calls_languages, args.calls_max_tokens) as agents:
            english_part = await voice_to_voice(
                tgt.url, tgt.key, agents, english, args.calls_rounds
            )
            report["voice_to_voice_load"] = meter.stop()
            language_rows = await replies_in_language(tgt.url, tgt.key, agents, foreign)
    await detect_reply_languages(language_rows, stt)
    english_rows = english_part["results"]
    report["voice_to_voice"] = {
        "clips": len(english),
        "rounds": args.calls_rounds,
        "summary": voice_to_voice_summary(english_rows),
        "warmup": english_part["warmup"],
        "results": english_rows,
    }
    report["replies"] = {
        "summary": replies_summary(language_rows),
        "reply_audio_in_language": round(
            sum(r["reply_audio_language"] == r["language"] for r in language_rows)
            / len(language_rows),
            3,
        )
        if language_rows
        else None,
        "results": language_rows,
    }
    return report


# output --------------------------------------------------------------------------------


def print_calls(calls: dict[str, Any]) -> None:
    """The voice-to-voice table and the replies table."""
    print(
        f"\n{'agent (ms)':<11}{'v2v cli p50':>12}{'p95':>7}{'v2v srv p50':>12}{'p95':>7}"
        f"{'stt p50':>8}{'p95':>7}{'WER':>7}{'no reply':>9}"
    )
    for agent, s in calls["voice_to_voice"]["summary"].items():
        cells = ""
        for key, width in (
            ("voice_to_voice_client_ms", 12),
            ("voice_to_voice_server_ms", 12),
            ("stt_server_ms", 8),
        ):
            v = s[key] or {}
            cells += f"{fmt(v.get('p50')):>{width}}{fmt(v.get('p95')):>7}"
        print(f"{agent:<11}{cells}{fmt(s['wer'], 3):>7}{s['turns_without_reply']:>9}")
    print(f"\n{'replies':<9}{'agent':>7}{'calls':>6}{'caller ok':>10}{'switched':>9}{'in lang':>8}")
    for language, s in calls["replies"]["summary"].items():
        name = f"{language}{'*' if s['synthetic'] else ''}"
        for agent in ("auto", "given"):
            if agent in s:
                a = s[agent]
                print(
                    f"{name:<9}{agent:>7}{a['calls']:>6}{fmt(a['caller_detected_right'], 2):>10}"
                    f"{fmt(a['language_changed'], 2):>9}{fmt(a['reply_audio_in_language'], 2):>8}"
                )
    print("(* synthetic speech; 'in lang': reply audio detected in the expected language)")


def plot_calls(left: Any, right: Any, calls: dict[str, Any]) -> None:
    """Left: voice-to-voice and STT stage per agent. Right: replies in language."""
    summary = calls["voice_to_voice"]["summary"]
    keys = (
        ("voice_to_voice_client_ms", "v2v client"),
        ("voice_to_voice_server_ms", "v2v server"),
        ("stt_server_ms", "stt"),
    )
    xs = range(len(keys))
    for i, (agent, s) in enumerate(summary.items()):
        for j, stat in enumerate(("p50", "p95")):
            offset = -0.3 + 0.2 * (2 * i + j)
            ys = [(s[k] or {}).get(stat, 0) for k, _ in keys]
            left.bar([x + offset for x in xs], ys, 0.2, label=f"{agent} {stat}")
    left.set_xticks(list(xs), [label for _, label in keys])
    left.set(ylabel="ms", title="English calls: tiny.en (en) vs base (auto)")
    left.legend()
    replies = calls["replies"]["summary"]
    names = [f"{c}{'*' if s['synthetic'] else ''}" for c, s in replies.items()]
    xs = range(len(names))
    for offset, agent in ((-0.2, "auto"), (0.2, "given")):
        ys = [(s.get(agent) or {}).get("reply_audio_in_language", 0) for s in replies.values()]
        right.bar([x + offset for x in xs], ys, 0.4, label=f"{agent} agent")
    right.set_xticks(list(xs), names)
    right.set(ylim=(0, 1.15), title="reply audio in the expected language (* synthetic)")
    right.legend()
