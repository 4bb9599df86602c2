"""``parley bench cluster`` runs end to end with its smallest settings (2 replicas, 2
conversations for 20 s, one kill -9 and one drain) and writes its JSON and PNG. Only the
shape of the results is checked, never a number: how many turns are answered in time
depends on the machine's load."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from parley.testing.haproxy import haproxy_available
from parley.testing.postgres import postgres_available, services_required
from parley.testing.redis_server import redis_available

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(1200),
    pytest.mark.skipif(
        not (haproxy_available() and postgres_available() and redis_available())
        and not services_required(),
        reason="needs HAProxy, Postgres and Redis (Debian/Ubuntu: apt-get install haproxy "
        "postgresql redis-server)",
    ),
]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_cluster_bench(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "parley.cli", "bench", "cluster", "--out", str(tmp_path)]
    command += ["--conversations", "2", "--duration-s", "20", "--resume-trials", "1"]
    command += ["--resume-conversations", "2", "--settle-s", "4", "--after-s", "10"]
    command += ["--lease-s", "2", "--resume-window-s", "20", "--drain-timeout-s", "10"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1100)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    [result] = sorted(tmp_path.glob("cluster-*.json"))
    assert result.with_suffix(".png").read_bytes()[:8] == PNG_MAGIC
    assert "written to" in done.stdout
    report = json.loads(result.read_text())
    assert report["benchmark"] == "cluster"
    load = report["load"]
    assert load["turns_sent"] >= 2
    assert load["turns_answered"] + load["turns_lost"] == load["turns_sent"]
    assert sum(load["outcomes"].values()) == load["turns_sent"]
    assert set(load["memory"]) == {"r1", "r2"}
    for memory in load["memory"].values():
        assert all(isinstance(memory[k], int) for k in ("rss_start_kib", "rss_end_kib"))
    kinds = [t["kind"] for t in report["resume"]["trials"]]
    assert kinds == ["kill", "drain"]
    for kind in ("kill", "drain"):
        summary = report["resume"][kind]
        assert summary["dropped"] >= 1, report["resume"]["trials"]
        assert summary["resumed"] == summary["dropped"], report["resume"]["trials"]
    assert isinstance(report["resume"]["drain"]["drain_s"]["max"], float)
