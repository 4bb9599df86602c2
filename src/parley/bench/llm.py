"""LLM speed and answers, provider by provider, on the same short spoken-style questions.

For each provider: time to the first piece of the answer (p50/p95), pieces per second
after it (streamed pieces are tokens for llama.cpp and most servers), and every answer,
so quality can be compared side by side. Providers run one after the other, each
question twice (the second time its system prompt is cached, as in a conversation).

    parley bench llm [--providers llm:llama-local ...] [--providers-file FILE]
                     [--rounds 2] [--out DIR]

Remote providers come from a providers file (docs/providers.md); no server is started.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from parley.bench.common import (
    DEFAULT_OUT,
    figure,
    fmt,
    machine,
    now_utc,
    summary_or_none,
    write_results,
)
from parley.config import Settings
from parley.providers.llm.base import ChatMessage, LanguageModel
from parley.providers.pool import ProviderPool

SYSTEM = (
    "You are a friendly voice assistant on a phone call. Reply in one or two short, plain "
    "spoken sentences."
)
QUESTIONS = [
    "What is the capital of France?",
    "Can you recommend a good book for a long flight?",
    "How many minutes are there in three hours?",
    "My order hasn't arrived yet. What should I do?",
    "What's a quick idea for dinner tonight?",
    "Is it better to rent or to buy a car?",
    "How do I reset my password?",
    "Tell me a fun fact about octopuses.",
]


async def measure(llm: LanguageModel, rounds: int, max_tokens: int) -> list[dict[str, Any]]:
    """Ask every question ``rounds`` times; the timing and answer of each."""
    results = []
    for round_ in range(rounds):
        for question in QUESTIONS:
            messages: list[ChatMessage] = [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": question},
            ]
            started = time.perf_counter()
            first: float | None = None
            pieces: list[str] = []
            async for piece in llm.stream(messages, max_tokens=max_tokens, temperature=0.3):
                if isinstance(piece, str):
                    first = first if first is not None else time.perf_counter()
                    pieces.append(piece)
            ended = time.perf_counter()
            generating = ended - first if first is not None else 0.0
            results.append(
                {
                    "round": round_,
                    "question": question,
                    "answer": "".join(pieces).strip(),
                    "first_piece_ms": None if first is None else round((first - started) * 1e3, 1),
                    "pieces": len(pieces),
                    "pieces_per_s": round((len(pieces) - 1) / generating, 1)
                    if generating > 0
                    else None,
                    "total_ms": round((ended - started) * 1e3, 1),
                }
            )
    return results


def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    """First-piece latency and generation speed."""
    first = [r["first_piece_ms"] for r in results if r["first_piece_ms"] is not None]
    rate = [r["pieces_per_s"] for r in results if r["pieces_per_s"] is not None]
    return {
        "answers": len(results),
        "first_piece_ms": summary_or_none(first),
        "pieces_per_s": summary_or_none(rate),
    }


def plot(report: dict[str, Any]) -> Any:
    """First-piece latency per question, one line per provider."""
    fig, axes = figure(1, 1, (10, 4.5))
    ax = axes[0][0]
    for name, data in report["providers"].items():
        values = [r["first_piece_ms"] for r in data["results"]]
        ax.plot(range(1, len(values) + 1), values, "o-", label=name)
    ax.set(xlabel="question", ylabel="ms", title="time to the first piece", ylim=(0, None))
    ax.legend()
    return fig


async def run(names: list[str], pool: ProviderPool, rounds: int, max_tokens: int) -> dict[str, Any]:
    """Benchmark each provider of ``names``."""
    report: dict[str, Any] = {}
    for name in names:
        t0 = time.perf_counter()
        llm = await pool.load(name)
        load_s = round(time.perf_counter() - t0, 2)
        await llm.prefill([{"role": "system", "content": SYSTEM}])
        results = await measure(llm, rounds, max_tokens)
        report[name] = {"load_s": load_s, "summary": summary(results), "results": results}
    pool.close()
    return report


def main(argv: list[str] | None = None) -> int:
    """``parley bench llm``."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="parley bench llm",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--providers", nargs="+", default=["llm:llama-local"], metavar="NAME")
    parser.add_argument("--providers-file", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    settings = Settings(providers_file=args.providers_file)
    pool = ProviderPool.from_settings(settings)
    started = now_utc()
    providers = asyncio.run(run(args.providers, pool, args.rounds, args.max_tokens))
    report = {
        "benchmark": "llm",
        "started": started,
        "machine": machine(),
        "rounds": args.rounds,
        "max_tokens": args.max_tokens,
        "providers": providers,
    }
    print(f"{'provider':<22} {'first p50':>9} {'first p95':>9} {'pieces/s p50':>12} {'load s':>7}")
    for name, data in providers.items():
        s = data["summary"]
        first, rate = s["first_piece_ms"] or {}, s["pieces_per_s"] or {}
        print(
            f"{name:<22} {fmt(first.get('p50')):>9} {fmt(first.get('p95')):>9} "
            f"{fmt(rate.get('p50'), 1):>12} {data['load_s']:>7}"
        )
    json_path, png_path = write_results(args.out, "llm", report, plot)
    print(f"written to {json_path} and {png_path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
