"""The pure parts of the cluster helper and benchmark: the reconnect backoff, the replica
environment, and the summaries of ``parley bench cluster``."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from parley.bench.cluster import memory_summary, resume_summary
from parley.testing.cluster import Cluster, ClusterOptions, Replica, backoff_delay_s, ws_base
from parley.testing.postgres import PostgresServer


def test_backoff_is_full_jitter_under_a_growing_cap() -> None:
    rng = random.Random(7)
    for attempt, cap in enumerate([0.25, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0]):
        delays = [backoff_delay_s(attempt, rng) for _ in range(200)]
        assert all(0.0 <= d <= cap for d in delays)
        assert max(delays) > cap * 0.8  # the whole range is used
        assert min(delays) < cap * 0.2


def test_ws_base() -> None:
    assert ws_base("http://127.0.0.1:8080/") == "ws://127.0.0.1:8080"
    assert ws_base("https://parley.example") == "wss://parley.example"


def _cluster(tmp_path: Path) -> Cluster:
    """A cluster object with nothing started (the pure parts need no process)."""
    replicas = [Replica(f"r{i}", 9000 + i, tmp_path / f"r{i}") for i in (1, 2)]
    settings = ClusterOptions(lease_s=2.0, resume_window_s=8.0, env={"PARLEY_X": "1"})
    postgres = PostgresServer(5432, tmp_path, process=None, bin_dir=tmp_path)  # type: ignore[arg-type]
    return Cluster(postgres, "redis://127.0.0.1:1/0", settings, replicas)


def test_replica_environment_and_numbering(tmp_path: Path) -> None:
    cluster = _cluster(tmp_path)
    env = cluster.env("r2")
    assert env["PARLEY_CLUSTER__REPLICA_ID"] == "r2"
    assert env["PARLEY_CLUSTER__REDIS_URL"] == "redis://127.0.0.1:1/0"
    assert env["PARLEY_DATABASE_URL"] == "postgresql+asyncpg://postgres@127.0.0.1:5432/parley"
    assert env["PARLEY_CLUSTER__LEASE_S"] == "2.0"
    assert env["PARLEY_CLUSTER__RESUME_WINDOW_S"] == "8.0"
    assert env["PARLEY_LIMITS__MAX_SESSIONS"] == "4"
    assert env["PARLEY_X"] == "1"
    assert not cluster.is_running(1) and cluster.rss_kib(1) is None
    with pytest.raises(IndexError):
        cluster.replica(3)
    with pytest.raises(RuntimeError):
        cluster.replica(1)  # not started


def test_memory_summary_takes_start_middle_end(tmp_path: Path) -> None:
    cluster = _cluster(tmp_path)
    rows = [(100, 0), (150, 4), (300, 4), (200, 3), (250, 0)]
    quiet = {"rss_kib": None, "live_sessions": None}
    samples = [
        {"replicas": {"r1": {"rss_kib": v, "live_sessions": n}, "r2": quiet}} for v, n in rows
    ]
    summary = memory_summary(samples, cluster)
    assert summary["r1"] == {
        "rss_start_kib": 100,
        "rss_middle_kib": 300,
        "rss_end_kib": 250,
        "rss_peak_kib": 300,
        "live_sessions_max": 4,
    }
    assert summary["r2"]["rss_peak_kib"] is None and summary["r2"]["live_sessions_max"] is None


def test_resume_summary_counts_only_real_resumes() -> None:
    def drop(resumed: bool, ms: float | None, after: list[str]) -> dict[str, Any]:
        return {
            "resumed": resumed,
            "same_conversation": resumed,
            "resumed_flag": resumed,
            "time_to_resume_ms": ms,
            "from_signal_ms": ms,
            "turns_after": after,
        }

    kill: dict[str, Any] = {"kind": "kill", "drain_s": None, "drained_s": None}
    kill["dropped"] = [drop(True, 200.0, ["answered"]), drop(False, None, [])]
    drain: dict[str, Any] = {"kind": "drain", "drain_s": 12.5, "drained_s": 10.1}
    drain["dropped"] = [drop(True, 400.0, ["cut", "answered"])]
    trials = [kill, drain]
    killed = resume_summary(trials, "kill")
    assert (killed["dropped"], killed["resumed"], killed["success_rate"]) == (2, 1, 0.5)
    assert killed["answered_after_resume"] == 1 and killed["drain_s"] is None
    assert killed["time_to_resume_ms"]["p50"] == 200.0
    drained = resume_summary(trials, "drain")
    assert (drained["success_rate"], drained["drain_s"]["max"], drained["drained_s"]["max"]) == (
        1.0,
        12.5,
        10.1,
    )
