"""The retrieval benchmark, run for real on tiny sizes: it writes the JSON and the plot."""

from __future__ import annotations

import json
from pathlib import Path

from parley.bench import BENCHMARKS
from parley.bench.retrieval import main, renumber


def test_renumber_shifts_numbers_and_marks_the_copy() -> None:
    assert renumber("Call 0321 within 45 days.", 2) == "Call 323 within 47 days. (copy 2)"


def test_a_tiny_run_writes_the_expected_report(tmp_path: Path) -> None:
    assert "retrieval" in BENCHMARKS
    argv = ["--out", str(tmp_path), "--documents", "brightwave", "--sizes", "200"]
    assert main([*argv, "--searches", "10", "--embed-passes", "1"]) == 0
    [json_path] = tmp_path.glob("retrieval-*.json")
    assert json_path.with_suffix(".png").stat().st_size > 0
    report = json.loads(json_path.read_text())
    assert {"machine", "settings", "quality", "ingestion", "latency", "requirement"} <= set(report)
    assert "copies" in report["synthetic_fill"]

    quality = report["quality"]
    assert quality["questions"] == len(quality["per_question"]) >= 30  # no Macbeth questions
    for method in ("full_text", "dense", "hybrid"):
        scores = quality["methods"][method]
        assert 0.0 <= scores["hit@1"] <= scores["hit@3"] <= scores["hit@5"] <= 1.0
        assert isinstance(scores["misses_at_5"], list)
    assert quality["methods"]["hybrid"]["hit@5"] >= 0.5  # retrieval works at all
    assert set(quality["per_question"][0]["rank"]) == {"full_text", "dense", "hybrid"}

    documents = report["ingestion"]["documents"]
    assert len(documents) == 4 and documents[0]["document"] == "brightwave-faq.md"
    assert all(d["chunks"] > 0 and d["seconds"] > 0 for d in documents)
    assert report["ingestion"]["embedding"]["chunks_per_s"] > 0
    assert report["query_embedding_alone_ms"]["p50"] > 0

    [latency] = report["latency"]
    assert latency["chunks"] == 200 and latency["warm_searches"] == 10
    assert len(latency["warm_total_ms_all"]) == 10
    assert latency["cold_ms"]["load_embeddings"] > 0  # the first search loaded the index
    assert latency["fts_matches_per_question"]["max"] > 0
    assert latency["cpu_during_searches"]["this_process"] > 0
    for part in ("total", "embed", "total_minus_embed", "full_text", "fetch"):
        assert set(latency["warm_ms"][part]) == {"p50", "p95", "p99", "max", "mean"}
    assert report["requirement"]["met"] is None  # 10,000 chunks were not measured
