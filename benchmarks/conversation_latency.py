"""One real conversation, measured: voice-to-voice latency per turn and its stage
breakdown, model load time and server memory. Writes a JSON result file.

    python -m benchmarks.conversation_latency [--out benchmarks/results] [--url URL --api-key KEY]

Without ``--url`` it starts its own ``parley serve`` with a fresh data dir.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from parley.audio.wav import read_wav
from parley.client import call
from parley.testing.recordings import recording
from parley.testing.server import start_server

DEFAULT_UTTERANCES = [
    "librivox-0880",
    "cards-005",
    "librivox-0930",
    "cards-001",
    "librivox-0890",
    "cards-003",
]
STAGES = [
    "endpointing",
    "stt",
    "llm_first_token",
    "first_clause",
    "tts_first_audio",
    "first_audio_sent",
    "voice_to_voice",
]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def summarize(values: list[float]) -> dict[str, float]:
    """p50/p95/max/mean of a list of milliseconds."""
    return {
        "p50": round(statistics.median(values), 1),
        "p95": round(percentile(values, 95), 1),
        "max": round(max(values), 1),
        "mean": round(statistics.fmean(values), 1),
    }


async def run(url: str, key: str, names: list[str]) -> dict[str, Any]:
    """Talk to the demo agent, one utterance per turn; return per-turn numbers."""
    clips = [recording(n) for n in names]
    result = await call(url, key, "agt_demo", [read_wav(c.path) for c in clips])
    turns = []
    for clip, turn in zip(clips, result.turns, strict=True):
        metrics = turn.reply.metrics if turn.reply else {}
        turns.append(
            {
                "utterance": clip.name,
                "heard": turn.user_text,
                "reply": turn.reply.text if turn.reply else None,
                "client_voice_to_voice_ms": turn.client_voice_to_voice_ms,
                "server_ms": metrics,
            }
        )
    return {"conversation_id": result.conversation_id, "turns": turns}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--url")
    parser.add_argument("--api-key")
    parser.add_argument("--utterances", nargs="+", default=DEFAULT_UTTERANCES)
    args = parser.parse_args()

    server = None
    report: dict[str, Any] = {
        "benchmark": "conversation_latency",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
    }
    if args.url:
        url, key = args.url, args.api_key
    else:
        server = start_server(Path(tempfile.mkdtemp(prefix="parley-bench-")) / "data")
        url, key = server.url, server.admin_key
        ready = next(r for r in server.log_records() if r.get("msg") == "models ready")
        report["model_load_seconds"] = {"total": ready["seconds"], **ready["per_model"]}
        report["server_memory_kib_after_load"] = server.memory_kib()
    try:
        report.update(asyncio.run(run(url, key, args.utterances)))
        if server is not None:
            report["server_memory_kib_after_conversation"] = server.memory_kib()
    finally:
        if server is not None:
            server.stop()

    server_v2v = [
        t["server_ms"]["voice_to_voice"]
        for t in report["turns"]
        if t["server_ms"].get("voice_to_voice") is not None
    ]
    client_v2v = [
        t["client_voice_to_voice_ms"]
        for t in report["turns"]
        if t["client_voice_to_voice_ms"] is not None
    ]
    report["summary"] = {
        "voice_to_voice_server_ms": summarize(server_v2v),
        "voice_to_voice_client_ms": summarize(client_v2v),
        "stages_p50_ms": {
            s: round(
                statistics.median(
                    [
                        t["server_ms"][s]
                        for t in report["turns"]
                        if t["server_ms"].get(s) is not None
                    ]
                ),
                1,
            )
            for s in STAGES
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"conversation_latency-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2))

    print(
        f"{'utterance':<15}{'v2v srv':>9}{'v2v cli':>9}{'endpt':>7}{'stt':>6}"
        f"{'ttft':>6}{'clause':>8}{'tts':>6}"
    )
    for t in report["turns"]:
        m = t["server_ms"]

        def f(v: Any) -> str:
            return "-" if v is None else f"{v:.0f}"

        print(
            f"{t['utterance']:<15}{f(m.get('voice_to_voice')):>9}"
            f"{f(t['client_voice_to_voice_ms']):>9}{f(m.get('endpointing')):>7}"
            f"{f(m.get('stt')):>6}{f(m.get('llm_first_token')):>6}"
            f"{f(m.get('first_clause')):>8}{f(m.get('tts_first_audio')):>6}"
        )
    print(json.dumps(report["summary"], indent=1))
    for k in (
        "model_load_seconds",
        "server_memory_kib_after_load",
        "server_memory_kib_after_conversation",
    ):
        if k in report:
            print(k, report[k])
    print(f"written to {path}")


if __name__ == "__main__":
    main()
