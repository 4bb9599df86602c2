"""Each benchmark runs end to end with its smallest settings against the shared server
(``parley bench NAME --url --api-key``) and writes its JSON and PNG. Only the shape of the
results is checked, never the numbers: timing depends on the machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from parley.client import ParleyClient
from tests.integration.conftest import Server

pytestmark = pytest.mark.integration
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _bench(server: Server, out: Path, name: str, *options: str) -> dict[str, Any]:
    """Run ``parley bench NAME`` against the server; its JSON result, checked for a PNG."""
    command = [sys.executable, "-m", "parley.cli", "bench", name, "--out", str(out)]
    command += ["--url", server.url, "--api-key", server.admin_key, *options]
    done = subprocess.run(command, capture_output=True, text=True, timeout=150)
    assert done.returncode == 0, done.stdout + done.stderr
    results = sorted(out.glob(f"{name}-*.json"))
    assert len(results) == 1, list(out.iterdir())
    png = results[0].with_suffix(".png")
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert "written to" in done.stdout
    report: dict[str, Any] = json.loads(results[0].read_text())
    assert report["benchmark"] == name
    assert isinstance(report["machine"]["cpus"], int)
    return report


def _is_summary(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(value[k], int | float) for k in ("p50", "p95", "max", "mean")
    )


def test_latency(server: Server, tmp_path: Path) -> None:
    report = _bench(
        server, tmp_path, "latency", "--conversations", "1", "--utterances", "cards-001"
    )
    assert len(report["conversations"]) == 1
    [turn] = report["turns"]
    assert turn["utterance"] == "cards-001"
    assert isinstance(turn["client_voice_to_voice_ms"], float)
    assert isinstance(turn["server_ms"]["voice_to_voice"], float)
    summary = report["summary"]
    assert _is_summary(summary["voice_to_voice_client_ms"])
    assert _is_summary(summary["voice_to_voice_server_ms"])
    assert set(summary["stages_p50_ms"]) >= {"endpointing", "stt", "llm_first_token"}
    assert isinstance(report["load"]["server_cpu_percent"], float)  # found by its port


def test_concurrency(server: Server, tmp_path: Path) -> None:
    report = _bench(
        server,
        tmp_path,
        "concurrency",
        "--sessions",
        "1",
        "2",
        "--utterances",
        "cards-001",
        "--no-warmup",
    )
    levels = report["levels"]
    assert [r["sessions"] for r in levels] == [1, 2]
    for r in levels:
        assert r["turns"] == r["sessions"]
        assert _is_summary(r["voice_to_voice_client_ms"])
        assert isinstance(r["server_cpu_percent"], float)
        assert isinstance(r["server_peak_rss_kib"], int)
        assert isinstance(r["system_cpu_percent"], float)
        assert len(r["conversations"]) == r["sessions"]
    assert report["max_sessions_within_budget"] in (None, 1, 2)


def test_accuracy(server: Server, tmp_path: Path) -> None:
    report = _bench(server, tmp_path, "accuracy", "--clips", "cards-001", "librivox-0880")
    assert [c["clip"] for c in report["clips"]] == ["cards-001", "librivox-0880"]
    for clip in report["clips"]:
        assert isinstance(clip["heard"], str) and isinstance(clip["wer"], float)
        assert clip["reference"]
    summary = report["summary"]
    assert isinstance(summary["wer"], float)
    assert isinstance(summary["wer_numbers"], float)
    assert summary["clips"] == 2 and summary["clips_numbers"] == 1


def test_interruption(server: Server, tmp_path: Path) -> None:
    report = _bench(server, tmp_path, "interruption", "--runs", "1")
    [run] = report["runs"]
    assert set(run) == {"clip", "delay_s", "interruption_ms", "last_audio_ms"}
    assert isinstance(report["missed"], int)
    reacted = report["onset_to_interruption_ms"]
    assert reacted is None or _is_summary(reacted)


def test_protocols(server: Server, tmp_path: Path) -> None:
    report = _bench(server, tmp_path, "protocols", "--rounds", "1", "--utterances", "cards-001")
    protocols = ["native", "socketio", "realtime", "twilio"]
    assert [c["protocol"] for c in report["conversations"]] == protocols
    for turn in report["turns"]:
        assert turn["utterance"] == "cards-001" and turn["session_id"].startswith("ses_")
        assert isinstance(turn["client_voice_to_voice_ms"], float), turn
        assert isinstance(turn["server_voice_to_voice_ms"], float), turn
    for protocol in protocols:
        summary = report["summary"][protocol]
        assert summary["turns"] == 1 and summary["turns_without_reply"] == 0
        assert _is_summary(summary["client_voice_to_voice_ms"])
        assert _is_summary(summary["server_voice_to_voice_ms"])


def test_soak(server: Server, tmp_path: Path) -> None:
    agent = ParleyClient(server.url, server.admin_key).create_agent(
        name="Soak",
        system_prompt="Answer in a few words.",
        first_message="Hi.",
        provider_overrides={"llm_max_tokens": 12},
    )
    options = ["--sessions", "2", "--waves", "2", "--pause-s", "2", "--no-warmup"]
    options += ["--utterances", "cards-001", "--agent", agent["id"]]
    report = _bench(server, tmp_path, "soak", *options)
    assert [w["wave"] for w in report["waves"]] == [1, 2]
    for w in report["waves"]:
        assert w["turns"] == 2 and w["failed_sessions"] == []
        assert isinstance(w["rss_settled_kib"], int) and isinstance(w["threads_settled"], int)
        assert isinstance(w["fds_settled"], int)
    assert len(report["samples"]) >= 2
    summary = report["summary"]
    assert isinstance(summary["rss_growth_kib"], int)
    assert summary["rss_growth_kib"] == (
        report["waves"][1]["rss_settled_kib"] - report["waves"][0]["rss_settled_kib"]
    )


def test_llm(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "parley.cli", "bench", "llm", "--out", str(tmp_path)]
    done = subprocess.run([*command, "--rounds", "1", "--max-tokens", "8"], capture_output=True,
                          text=True, timeout=150)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (result,) = tmp_path.glob("llm-*.json")
    assert result.with_suffix(".png").read_bytes()[:8] == PNG_MAGIC
    report = json.loads(result.read_text())
    data = report["providers"]["llm:llama-local"]
    assert len(data["results"]) == 8 and all(r["answer"] for r in data["results"])
    assert _is_summary(data["summary"]["first_piece_ms"])


def test_turns(server: Server, tmp_path: Path) -> None:
    report = _bench(server, tmp_path, "turns", "--clips", "1", "--no-warmup")
    modes = ["silence", "model"]
    assert report["settings"]["modes"] == modes
    rows = report["clips"]
    assert sorted((r["turn_detection"], r["kind"]) for r in rows) == sorted(
        (m, k) for m in modes for k in ("paused", "complete")
    )
    for r in rows:
        assert r["conversation_id"].startswith("ses_") and r["stops"], r
        if r["kind"] == "paused":
            assert isinstance(r["cut_off"], bool) and r["pause_ms"] in (500, 700, 900, 1100)
            assert isinstance(r["cut_off_answered"], bool)
        else:
            assert isinstance(r["client_voice_to_voice_ms"], float), r
            assert isinstance(r["end_of_turn_ms"], float), r
    for mode in modes:
        summary = report["summary"][mode]
        assert summary["paused_clips"] == 1 and summary["complete_clips"] == 1
        assert summary["false_cutoffs"] in (0, 1) and isinstance(summary["mean_pause_ms"], float)
        assert _is_summary(summary["voice_to_voice_client_ms"])
        assert _is_summary(summary["end_of_turn_ms"])
    # the temporary agents are gone
    agents = ParleyClient(server.url, server.admin_key).list_agents(limit=100)["data"]
    assert not set(report["agents"].values()) & {a["id"] for a in agents}


def test_latency_by_turn_detection(server: Server, tmp_path: Path) -> None:
    options = ["--conversations", "1", "--utterances", "cards-001", "--turn-detection", "both"]
    report = _bench(server, tmp_path, "latency", *options)
    assert [t["turn_detection"] for t in report["turns"]] == ["silence", "model"]
    by_mode = report["summary_by_turn_detection"]
    assert list(by_mode) == ["silence", "model"]
    for summary in by_mode.values():
        assert summary["turns"] == 1
        assert _is_summary(summary["voice_to_voice_client_ms"])
