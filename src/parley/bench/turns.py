"""End of turn by turn detection: false cut-offs on paused speech, and latency.

For each mode of ``--modes`` (default: ``silence`` and ``model``) a temporary agent is
made as a copy of the demo agent with that ``turn_detection`` and no first message, and
deleted at the end. Every clip of :mod:`parley.testing.paused_speech` (real sentences
with a mid-sentence pause, and real finished sentences) is said to each of them, in a
fresh conversation, streamed in real time over the native WebSocket with silence after
it; once the reply to the clip's last turn starts sounding, the client interrupts it (a
reply left running would hold the LLM while the next clip is said) and hangs up. The
modes take turns clip by clip, on the same server, so both see the same load.

- ``paused`` clips: a **false cut-off** is the server ending a user turn before the
  sentence is over: a ``speech_stopped`` (or a user transcript) arriving before the
  recording goes on after the pause, plus ``--allowance-ms`` (default 250: the VAD needs
  a few frames to hear the speech again, and the event needs to travel); also counted:
  those where the agent's reply to the half sentence was heard (its audio arrived).
- ``complete`` clips: client voice-to-voice (first agent audio received minus the end
  of speech in the streamed clip) and the **end-of-turn time** (``speech_stopped``
  received minus the end of speech).

Reports, per mode: false cut-offs k/n (also by pause length), voice-to-voice and
end-of-turn p50/p95 on the complete clips, the mean pause; side by side.

    parley bench turns [--modes silence model] [--clips N] [--allowance-ms 250]
                       [--no-warmup] [--out DIR] [--url URL --api-key KEY]
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from parley.audio.pcm import SAMPLE_RATE, VAD_FRAME_BYTES
from parley.audio.wav import read_wav
from parley.bench.common import (
    Meter,
    base_parser,
    config_bars,
    figure,
    fmt,
    machine,
    now_utc,
    print_load,
    summary_or_none,
    target,
    temporary_agent,
    write_results,
)
from parley.client import Conversation, Microphone, conversation_url
from parley.testing.paused_speech import PAUSES_MS, SpeechClip, clip_set

MODES = ("silence", "model")
ALLOWANCE_MS = 250.0
LEAD_IN_S = 0.5
"""Silence streamed before a clip."""
REPLY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
_FRAME_S = VAD_FRAME_BYTES / 2 / SAMPLE_RATE


async def say(
    url: str, key: str, agent_id: str, pcm: bytes, speech_end_ms: float
) -> dict[str, Any]:
    """Say one clip in a new conversation; wait until a turn has ended after the clip's
    speech and has its first reply audio (or was dropped). Times in the result are ms
    from the clip's first frame."""
    events: list[tuple[float, dict[str, Any]]] = []
    async with Conversation(conversation_url(url, key, agent_id)) as conv:
        first = await conv.recv(timeout=30)
        if first.get("type") != "connected":
            raise ConnectionError(f"{first.get('code')}: {first.get('message')}")
        changed = asyncio.Event()

        async def listen() -> None:
            async for event in conv.events():
                events.append((time.monotonic(), event))
                changed.set()

        listening = asyncio.create_task(listen())
        mic = Microphone(conv.send_audio)
        streaming = asyncio.create_task(mic.run())
        try:
            await asyncio.sleep(LEAD_IN_S)
            sent = await mic.say(pcm)
            start = sent - math.ceil(len(pcm) / VAD_FRAME_BYTES) * _FRAME_S

            async def until(done: Callable[[], bool], timeout: float) -> None:
                deadline = time.monotonic() + timeout
                while not done() and not listening.done() and time.monotonic() < deadline:
                    changed.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(changed.wait(), deadline - time.monotonic())

            await until(lambda: _settled(events, start + speech_end_ms / 1000.0), REPLY_TIMEOUT_S)
            # stop the reply: one left running would hold the LLM while the next clip is said
            with contextlib.suppress(Exception):
                await conv.send({"type": "control", "action": "interrupt"})
                await until(lambda: _agent_quiet(events), STOP_TIMEOUT_S)
                await conv.send({"type": "end"})
                await until(lambda: _has(events, "session_ended"), STOP_TIMEOUT_S)
        finally:
            streaming.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await streaming
            await conv.close()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(listening, 5.0)
    said = _turns([(round((t - start) * 1000.0, 1), e) for t, e in events])
    return {"conversation_id": first.get("conversation_id"), **said}


def _settled(events: list[tuple[float, dict[str, Any]]], speech_end: float) -> bool:
    """Whether the last turn ended after the speech and was answered or dropped."""
    ended = [(t, e["turn_id"]) for t, e in events if e.get("type") == "speech_stopped"]
    if not ended or ended[-1][0] < speech_end:
        return False
    last = ended[-1][1]
    return any(
        e.get("turn_id") == last and e.get("type") in ("audio", "user_turn_dropped")
        for _, e in events
    )


def _has(events: list[tuple[float, dict[str, Any]]], kind: str) -> bool:
    return any(e.get("type") == kind for _, e in events)


def _agent_quiet(events: list[tuple[float, dict[str, Any]]]) -> bool:
    """Whether every agent turn that started has ended."""
    started = {e["turn_id"] for _, e in events if e.get("type") == "agent_turn_start"}
    ended = {e["turn_id"] for _, e in events if e.get("type") == "agent_turn_end"}
    return started <= ended


def _turns(events: list[tuple[float, dict[str, Any]]]) -> dict[str, Any]:
    """The user turns the server ended (``stops``) and what became of each."""
    stops: list[dict[str, Any]] = []
    first_audio: dict[str, float] = {}
    heard: dict[str, str] = {}
    dropped: set[str] = set()
    interrupted = False
    for ms, e in events:
        kind, turn = e.get("type"), str(e.get("turn_id", ""))
        if kind == "speech_stopped":
            stops.append({"turn_id": turn, "ms": ms})
        elif kind == "transcript" and e.get("role") == "user" and e.get("final", True):
            heard[turn] = e["text"]
            if not any(s["turn_id"] == turn for s in stops):  # a transcript ends a turn too
                stops.append({"turn_id": turn, "ms": ms})
        elif kind == "audio":
            first_audio.setdefault(turn, ms)
        elif kind == "user_turn_dropped":
            dropped.add(turn)
        elif kind == "interruption":
            interrupted = True
    for s in stops:
        s["dropped"] = s["turn_id"] in dropped
        s["heard"] = heard.get(s["turn_id"])
        s["first_audio_ms"] = first_audio.get(s["turn_id"])
    return {"stops": stops, "interrupted": interrupted}


def score(clip: SpeechClip, said: dict[str, Any], allowance_ms: float) -> dict[str, Any]:
    """One clip's numbers: the cut-off verdict (``paused``) or the timings (``complete``)."""
    stops = [s for s in said["stops"] if not s["dropped"]]
    row: dict[str, Any] = {
        "clip": clip.name,
        "kind": clip.kind,
        "source": clip.source,
        "speech_end_ms": clip.speech_end_ms,
        "pause_at_ms": clip.pause_at_ms,
        "pause_ms": clip.pause_ms,
        "user_turns": len(stops),
        "early_turn_ends": sum(s["ms"] < clip.speech_end_ms for s in stops),
        **said,
    }
    if clip.resume_ms is not None:
        first = min((s["ms"] for s in stops), default=None)
        row["first_turn_end_ms"] = first
        early = [x for x in stops if x["ms"] < clip.resume_ms + allowance_ms]
        row["cut_off"] = bool(early)
        row["cut_off_answered"] = any(x["first_audio_ms"] is not None for x in early)
    final = next((s for s in reversed(stops) if s["ms"] >= clip.speech_end_ms), None)
    row["end_of_turn_ms"] = None if final is None else round(final["ms"] - clip.speech_end_ms, 1)
    audio = None if final is None else final["first_audio_ms"]
    row["client_voice_to_voice_ms"] = (
        None if audio is None else round(audio - clip.speech_end_ms, 1)
    )
    return row


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One mode's false cut-offs (paused clips) and latency (complete clips)."""
    paused = [r for r in rows if r["kind"] == "paused"]
    complete = [r for r in rows if r["kind"] == "complete"]
    cut = sum(r["cut_off"] for r in paused)
    by_pause = {
        str(p): f"{sum(r['cut_off'] for r in of)}/{len(of)}"
        for p in PAUSES_MS
        if (of := [r for r in paused if r["pause_ms"] == p])
    }
    return {
        "paused_clips": len(paused),
        "false_cutoffs": cut,
        "false_cutoff_rate": round(cut / len(paused), 3) if paused else None,
        "false_cutoffs_answered": sum(r["cut_off_answered"] for r in paused),
        "false_cutoffs_by_pause_ms": by_pause,
        "mean_pause_ms": round(statistics.fmean(r["pause_ms"] for r in paused), 1)
        if paused
        else None,
        "complete_clips": len(complete),
        "complete_cut_early": sum(r["early_turn_ends"] > 0 for r in complete),
        "complete_without_reply": sum(r["client_voice_to_voice_ms"] is None for r in complete),
        "voice_to_voice_client_ms": summary_or_none(
            [v for r in complete if (v := r["client_voice_to_voice_ms"]) is not None]
        ),
        "end_of_turn_ms": summary_or_none(
            [v for r in complete if (v := r["end_of_turn_ms"]) is not None]
        ),
    }


def plot(report: dict[str, Any]) -> Any:
    """False cut-off rate by pause length; voice-to-voice and end-of-turn p50/p95."""
    fig, axes = figure(1, 3, (15, 4.5))
    left, middle, right = axes[0]
    modes = list(report["summary"])
    width = 0.8 / max(1, len(modes))
    for i, mode in enumerate(modes):
        by_pause = report["summary"][mode]["false_cutoffs_by_pause_ms"]
        xs = [j + (i - (len(modes) - 1) / 2) * width for j in range(len(by_pause))]
        rates = [int(v.split("/")[0]) / int(v.split("/")[1]) for v in by_pause.values()]
        left.bar(xs, rates, width, label=mode)
        left.set_xticks(range(len(by_pause)), [f"{p} ms" for p in by_pause])
    left.set(
        xlabel="pause", ylabel="false cut-off rate", title="cut off during a pause", ylim=(0, 1)
    )
    left.legend()
    config_bars(middle, report["summary"], "voice_to_voice_client_ms", "voice-to-voice (client)")
    config_bars(right, report["summary"], "end_of_turn_ms", "end of speech to speech_stopped")
    return fig


async def _warm_up(url: str, key: str, agents: dict[str, str], clip: SpeechClip) -> None:
    pcm = read_wav(clip.path)
    for agent_id in agents.values():
        await say(url, key, agent_id, pcm, clip.speech_end_ms)


def run(
    url: str, key: str, modes: list[str], clips: list[SpeechClip], allowance_ms: float, warm: bool
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Say every clip to an agent of each mode (modes alternate in order clip by clip)."""
    rows: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        agents = {
            m: stack.enter_context(temporary_agent(url, key, turn_detection=m, first_message=None))
            for m in modes
        }
        if warm:
            complete = [c for c in clips if c.kind == "complete"]
            if complete:
                asyncio.run(_warm_up(url, key, agents, complete[0]))
        for i, clip in enumerate(clips):
            pcm = read_wav(clip.path)
            for mode in modes if i % 2 == 0 else modes[::-1]:
                said = asyncio.run(say(url, key, agents[mode], pcm, clip.speech_end_ms))
                rows.append({"turn_detection": mode, **score(clip, said, allowance_ms)})
    return agents, rows


def _table(report: dict[str, Any]) -> None:
    modes = list(report["summary"])
    print(f"{'clip':<22}{'pause':>6}" + "".join(f"{m + ' cut/eot/v2v':>26}" for m in modes))
    rows = report["clips"]
    for name in dict.fromkeys(r["clip"] for r in rows):
        of = {r["turn_detection"]: r for r in rows if r["clip"] == name}
        first = next(iter(of.values()))
        cells = ""
        for m in modes:
            r = of[m]
            cut = ("CUT" if r["cut_off"] else "ok") if "cut_off" in r else "-"
            cells += (
                f"{cut:>10}{fmt(r['end_of_turn_ms']):>8}{fmt(r['client_voice_to_voice_ms']):>8}"
            )
        print(f"{name:<22}{fmt(first['pause_ms']):>6}{cells}")
    s = report["summary"]
    print(f"\n{'':<34}" + "".join(f"{m:>12}" for m in modes))

    def line(label: str, value: Any) -> None:
        print(f"{label:<34}" + "".join(f"{value(s[m]):>12}" for m in modes))

    line("false cut-offs (paused clips)", lambda v: f"{v['false_cutoffs']}/{v['paused_clips']}")
    line("  and the agent spoke (answered)", lambda v: str(v["false_cutoffs_answered"]))
    for p in PAUSES_MS:
        line(
            f"  with a {p} ms pause", lambda v, p=p: v["false_cutoffs_by_pause_ms"].get(str(p), "-")
        )
    line("mean pause (ms)", lambda v: fmt(v["mean_pause_ms"]))
    for label, key in (
        ("voice-to-voice", "voice_to_voice_client_ms"),
        ("end of turn", "end_of_turn_ms"),
    ):
        for stat in ("p50", "p95"):
            line(
                f"{label} {stat} (complete, ms)",
                lambda v, k=key, st=stat: fmt((v[k] or {}).get(st)),
            )
    line("complete clips cut early", lambda v: f"{v['complete_cut_early']}/{v['complete_clips']}")
    line("complete clips without reply", lambda v: str(v["complete_without_reply"]))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; the exit status is 0."""
    parser = base_parser(__doc__, "parley bench turns")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument(
        "--clips", type=int, default=None, metavar="N", help="at most N clips of each class"
    )
    parser.add_argument("--allowance-ms", type=float, default=ALLOWANCE_MS)
    parser.add_argument("--no-warmup", action="store_true")
    args = parser.parse_args(argv)
    modes = list(dict.fromkeys(args.modes))
    clips = clip_set(limit=args.clips)

    report: dict[str, Any] = {"benchmark": "turns", "when": now_utc(), "machine": machine()}
    report["settings"] = {
        "modes": modes,
        "clips": [c.name for c in clips],
        "allowance_ms": args.allowance_ms,
        "lead_in_ms": LEAD_IN_S * 1000,
        "warmup": not args.no_warmup,
    }
    with target(args) as tgt:
        meter = Meter(tgt.pid)
        meter.start()
        agents, rows = run(tgt.url, tgt.key, modes, clips, args.allowance_ms, not args.no_warmup)
        report["load"] = meter.stop()
    report["agents"] = agents
    report["clips"] = rows
    report["summary"] = {m: summary([r for r in rows if r["turn_detection"] == m]) for m in modes}
    json_path, png_path = write_results(args.out, "turns", report, plot)
    _table(report)
    print_load(report["load"])
    print(f"written to {json_path} and {png_path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
