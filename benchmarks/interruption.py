"""Barge-in reaction time with real speech.

Each run: the demo agent answers a typed request with a long reply; once its audio is
flowing, a real recorded utterance is streamed in real time. Measured from the onset of
speech in the streamed audio (two frames 15 dB above the clip's noise floor) to
(a) the ``interruption`` event and (b) the last agent audio frame of the interrupted
turn received. Writes a JSON result.

    python -m benchmarks.interruption [--runs 10] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.conversation_latency import summarize
from parley.audio.levels import speech_bounds_ms
from parley.audio.pcm import VAD_FRAME_BYTES
from parley.audio.wav import read_wav
from parley.client import Conversation, conversation_url
from parley.testing.recordings import recording
from parley.testing.server import start_server

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    rng = random.Random(7)
    server = start_server(Path(tempfile.mkdtemp(prefix="parley-bench-")) / "data")
    try:
        runs = [
            asyncio.run(
                one_run(server.url, server.admin_key, CLIPS[i % len(CLIPS)], rng.uniform(0.3, 1.2))
            )
            for i in range(args.runs)
        ]
    finally:
        server.stop()
    reacted = [r["interruption_ms"] for r in runs if r["interruption_ms"] is not None]
    last = [r["last_audio_ms"] for r in runs if r["last_audio_ms"] is not None]
    report = {
        "benchmark": "interruption",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "runs": runs,
        "missed": sum(r["interruption_ms"] is None for r in runs),
        "onset_to_interruption_ms": summarize(reacted) if reacted else None,
        "onset_to_last_agent_audio_ms": summarize(last) if last else None,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"interruption-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2))
    for r in runs:
        print(r)
    print("onset → interruption", report["onset_to_interruption_ms"])
    print("onset → last agent audio", report["onset_to_last_agent_audio_ms"])
    print("missed", report["missed"], "| written to", path)


if __name__ == "__main__":
    main()
