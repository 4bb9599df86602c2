"""Barge-in reaction time with real speech.

Each run: the demo agent answers a typed request with a long reply; once its audio is
flowing, a real recorded utterance is streamed in real time. Measured from the onset of
speech in the streamed audio (two frames 15 dB above the clip's noise floor) to
(a) the ``interruption`` event and (b) the last agent audio frame of the interrupted
turn received. The clips rotate and the delay is drawn from 0.3 to 1.2 s (seeded), so the
user cuts in at different points of the reply.

    parley bench interruption [--runs 10] [--out DIR] [--url URL --api-key KEY]
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from typing import Any

from parley.audio.levels import speech_bounds_ms
from parley.audio.pcm import VAD_FRAME_BYTES
from parley.audio.wav import read_wav
from parley.bench.common import (
    Meter,
    base_parser,
    figure,
    fmt,
    machine,
    now_utc,
    print_load,
    summary_or_none,
    target,
    write_results,
)
from parley.client import Conversation, conversation_url
from parley.testing.recordings import recording

CLIPS = ["cards-001", "cards-003", "cards-005", "librivox-0880", "librivox-0930"]


def onset_ms(pcm: bytes) -> float:
    """Where speech starts in the clip (noise-floor relative level, not the VAD)."""
    bounds = speech_bounds_ms(pcm)
    assert bounds is not None, "a clip without speech"
    return bounds[0]


async def one_run(url: str, key: str, clip: str, delay_s: float) -> dict[str, Any]:
    """Interrupt one long agent reply with ``clip`` after ``delay_s`` of its audio."""
    pcm = read_wav(recording(clip).path)
    events: list[tuple[float, dict[str, Any]]] = []
    async with Conversation(conversation_url(url, key, "agt_demo")) as conv:
        changed = asyncio.Event()

        async def listen() -> None:
            async for event in conv.events():
                events.append((time.monotonic(), event))
                changed.set()

        async def until(predicate: Any) -> None:
            while not any(predicate(e) for _, e in events):
                changed.clear()
                await changed.wait()

        listener = asyncio.create_task(listen())
        await until(lambda e: e["type"] == "agent_turn_end")  # the greeting
        await asyncio.sleep(1.0)  # ... and let it play out
        await conv.send({"type": "text", "text": "Tell me a long story about a dragon."})
        await until(lambda e: e["type"] == "audio" and e["turn_id"] != "turn_1")
        turn_id = next(
            e["turn_id"] for _, e in events if e["type"] == "audio" and e["turn_id"] != "turn_1"
        )
        await asyncio.sleep(delay_s)
        start = time.monotonic()
        for n, i in enumerate(range(0, len(pcm), VAD_FRAME_BYTES)):
            await conv.send_audio(pcm[i : i + VAD_FRAME_BYTES])
            await asyncio.sleep(max(0.0, start + (n + 1) * 0.032 - time.monotonic()))
        await asyncio.sleep(0.5)
        await conv.send({"type": "end"})
        await asyncio.sleep(0.3)
        listener.cancel()
    onset = start + onset_ms(pcm) / 1000.0
    cut = next(
        (t for t, e in events if e["type"] == "interruption" and e["turn_id"] == turn_id), None
    )
    audio = [t for t, e in events if e["type"] == "audio" and e["turn_id"] == turn_id]
    return {
        "clip": clip,
        "delay_s": round(delay_s, 2),
        "interruption_ms": None if cut is None else round((cut - onset) * 1000, 1),
        "last_audio_ms": round((max(audio) - onset) * 1000, 1) if audio else None,
    }


def plot(report: dict[str, Any]) -> Any:
    """Each run's onset → interruption and onset → last agent audio, with the p50/p95."""
    fig, axes = figure(1, 1, (9, 4.5))
    ax = axes[0][0]
    runs = report["runs"]
    xs = range(1, len(runs) + 1)

    def values(key: str) -> list[float]:
        return [float("nan") if r[key] is None else r[key] for r in runs]

    ax.plot(xs, values("interruption_ms"), "o", label="onset → interruption event")
    ax.plot(xs, values("last_audio_ms"), "x", label="onset → last agent audio received")
    summary = report["onset_to_interruption_ms"]
    if summary:
        for stat, style in (("p50", "--"), ("p95", ":")):
            ax.axhline(
                summary[stat], color="tab:blue", lw=0.8, ls=style, label=f"interruption {stat}"
            )
    ax.axhline(0, color="grey", lw=0.5)
    ax.set(xlabel="run", ylabel="ms after the speech onset", title="barge-in reaction time")
    ax.legend(fontsize="small")
    return fig


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; the exit status is 0."""
    parser = base_parser(__doc__, "parley bench interruption")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args(argv)
    rng = random.Random(7)
    report: dict[str, Any] = {"benchmark": "interruption", "when": now_utc(), "machine": machine()}
    with target(args) as tgt:
        meter = Meter(tgt.pid)
        meter.start()
        runs = [
            asyncio.run(one_run(tgt.url, tgt.key, CLIPS[i % len(CLIPS)], rng.uniform(0.3, 1.2)))
            for i in range(args.runs)
        ]
        report["load"] = meter.stop()
    reacted = [r["interruption_ms"] for r in runs if r["interruption_ms"] is not None]
    last = [r["last_audio_ms"] for r in runs if r["last_audio_ms"] is not None]
    report.update(
        runs=runs,
        missed=sum(r["interruption_ms"] is None for r in runs),
        onset_to_interruption_ms=summary_or_none(reacted),
        onset_to_last_agent_audio_ms=summary_or_none(last),
    )
    json_path, png_path = write_results(args.out, "interruption", report, plot)
    print(f"{'clip':<15}{'delay s':>8}{'interruption':>14}{'last audio':>12}")
    for r in runs:
        print(
            f"{r['clip']:<15}{r['delay_s']:>8.2f}{fmt(r['interruption_ms']):>14}"
            f"{fmt(r['last_audio_ms']):>12}"
        )
    print(f"\n{'from speech onset (ms)':<34}{'p50':>7}{'p95':>7}{'max':>7}")
    for label, key in (
        ("to the interruption event", "onset_to_interruption_ms"),
        ("to the last agent audio received", "onset_to_last_agent_audio_ms"),
    ):
        v = report[key] or {}
        print(f"{label:<34}{fmt(v.get('p50')):>7}{fmt(v.get('p95')):>7}{fmt(v.get('max')):>7}")
    print(f"missed: {report['missed']} of {len(runs)}")
    print_load(report["load"])
    print(f"written to {json_path} and {png_path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
