"""Parley's benchmark suite: ``parley bench NAME`` for each name in :data:`BENCHMARKS`.

Each benchmark talks to a real server with real recorded speech
(:mod:`parley.testing.recordings`), writes ``<name>-<timestamp>.json`` and a PNG plot with
the same stem into ``--out`` (default ``benchmarks/results``), and prints a short table.
Without ``--url`` a benchmark starts its own ``parley serve`` with a fresh data directory;
with ``--url URL --api-key KEY`` it targets a server that is already running.

Why the code lives here and not in the top-level ``benchmarks/`` folder: ``benchmarks``
is not part of the installed package, so ``parley bench`` (an installed console script)
could only import it when run from a source checkout. Inside ``parley.bench`` the suite
ships with the package, is type-checked with the rest of ``src/parley``, and
``benchmarks/<name>.py`` stays as a thin wrapper, so ``python -m benchmarks.latency``
keeps working from a checkout.

The benchmarks need the ``dev`` extra (matplotlib for the plots, jiwer and
whisper-normalizer for WER).
"""

from __future__ import annotations

BENCHMARKS = (
    "latency",
    "concurrency",
    "accuracy",
    "interruption",
    "protocols",
    "llm",
    "soak",
    "flood",
    "safety_terms",
    "safety",
    "pii",
    "judge",
    "retrieval",
    "grounding",
    "turns",
    "cluster",
    "languages",
)
