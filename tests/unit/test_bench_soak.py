"""The soak benchmark's bookkeeping: /proc samples, the tasks gauge, growth per wave."""

from __future__ import annotations

import os
import threading

from parley.bench.soak import gauge_value, process_sample, summarize_waves


def test_process_sample_reads_this_process() -> None:
    sample = process_sample(os.getpid())
    assert isinstance(sample["rss_kib"], int) and sample["rss_kib"] > 1000
    assert isinstance(sample["threads"], int) and sample["threads"] >= threading.active_count()
    assert isinstance(sample["fds"], int) and sample["fds"] >= 3


def test_process_sample_of_a_gone_process_is_empty() -> None:
    assert process_sample(2**22 + 12345) == {"rss_kib": None, "threads": None, "fds": None}


def test_gauge_value() -> None:
    text = (
        "# HELP parley_asyncio_tasks asyncio tasks\n# TYPE parley_asyncio_tasks gauge\n"
        "parley_asyncio_tasks_other 3.0\nparley_asyncio_tasks 12.0\n"
    )
    assert gauge_value(text, "parley_asyncio_tasks") == 12.0
    assert gauge_value("parley_active_sessions 1.0\n", "parley_asyncio_tasks") is None


def wave(n: int, rss: int | None, threads: int = 30, answered: int = 4) -> dict[str, object]:
    return {
        "wave": n,
        "turns": 4,
        "turns_answered": answered,
        "failed_sessions": [],
        "rss_settled_kib": rss,
        "threads_settled": threads,
        "fds_settled": 20,
        "tasks_settled": None,
    }


def test_summary_growth_from_first_to_last_wave() -> None:
    waves = [wave(1, 1000), wave(2, 1500, answered=3), wave(3, 1600, threads=31)]
    samples = [{"t_s": 0.0, "rss_kib": 900}, {"t_s": 1.0, "rss_kib": 1700}, {"t_s": 2.0}]
    summary = summarize_waves(waves, samples)
    assert summary["rss_growth_kib"] == 600 and summary["rss_growth_per_wave_kib"] == 300
    assert summary["rss_peak_kib"] == 1700
    assert summary["turns"] == 12 and summary["turns_answered"] == 11
    assert summary["threads_growth"] == 1 and summary["fds_growth"] == 0
    assert summary["tasks_growth"] is None


def test_summary_without_memory_figures() -> None:
    summary = summarize_waves([wave(1, None)], [])
    assert summary["rss_growth_kib"] is None and summary["rss_growth_per_wave_kib"] is None
    assert summary["rss_peak_kib"] is None
