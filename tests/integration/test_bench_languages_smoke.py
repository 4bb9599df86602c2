"""``parley bench languages`` end to end with its smallest settings: one real Spanish clip,
one synthetic German clip, two English recordings, then through a real server one English
recording for each of the ``en`` and ``auto`` agents and one Spanish clip for the ``auto``
and ``es`` agents (short replies). Only the shape of the results is checked, never the
numbers: timing depends on the machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_bench_languages(tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = [sys.executable, "-m", "parley.bench.languages", "--out", str(out)]
    command += ["--languages", "es", "de", "--per-language", "1", "--english", "2"]
    command += ["--rounds", "1", "--models-dir", str(tmp_path / "models")]
    command += ["--calls-english", "1", "--calls-languages", "es", "--calls-per-language", "1"]
    command += ["--calls-max-tokens", "16"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=480)
    assert done.returncode == 0, done.stdout + done.stderr
    [result] = sorted(out.glob("languages-*.json"))
    assert result.with_suffix(".png").read_bytes()[:8] == PNG_MAGIC
    assert "written to" in done.stdout
    report = json.loads(result.read_text())
    assert report["benchmark"] == "languages"

    languages = report["languages"]["summary"]
    assert list(languages) == ["es", "de"]
    assert languages["es"]["synthetic"] is False, "Spanish is real speech"
    assert languages["de"]["synthetic"] is True, "German is labelled synthetic"
    for summary in languages.values():
        assert summary["clips"] == 1 and summary["whisper_knows_language"]
        assert 0 <= summary["language_id_accuracy"] <= 1
        assert isinstance(summary["wer_auto"], float) and isinstance(summary["wer_given"], float)
    [es_clip] = [c for c in report["languages"]["clips"] if c["language"] == "es"]
    assert es_clip["reference"] and es_clip["source"].startswith("Debian asterisk-core-sounds")

    english = report["english"]
    assert english["clips"] == 2
    assert set(english["summary"]) == {"tiny.en", "base en", "base auto"}
    for summary in english["summary"].values():
        assert all(isinstance(summary["stt_ms"][k], float) for k in ("p50", "p95"))
        assert isinstance(summary["wer"], float)
    assert len(english["results"]) == 2 * 3

    calls = report["calls"]
    assert calls["llm_max_tokens"] == 16
    v2v = calls["voice_to_voice"]
    assert v2v["clips"] == 1 and set(v2v["summary"]) == {"en", "auto"}
    assert set(v2v["warmup"]) == {"en", "auto"}
    assert [r["agent"] for r in v2v["results"]] == ["en", "auto"]
    for summary in v2v["summary"].values():
        assert summary["turns"] == 1
        if summary["turns_without_reply"] == 0:
            assert isinstance(summary["voice_to_voice_client_ms"]["p50"], float)
        assert isinstance(summary["wer"], float)
    assert v2v["summary"]["en"]["stt_model"] == "Whisper tiny.en"

    replies = calls["replies"]
    assert [(r["language"], r["agent"], r["agent_language"]) for r in replies["results"]] == [
        ("es", "auto", "auto"),
        ("es", "given", "es"),
    ]
    for row in replies["results"]:
        assert "_audio" not in row and row["reply_audio_s"] >= 0
        assert row["reply_audio_language"] is None or isinstance(row["reply_audio_text"], str)
    es = replies["summary"]["es"]
    assert es["synthetic"] is False and set(es) == {"synthetic", "auto", "given"}
    for agent in ("auto", "given"):
        assert es[agent]["calls"] == 1 and len(es[agent]["sample_replies"]) == 1
        assert 0 <= es[agent]["reply_audio_in_language"] <= 1
    assert "replies" in done.stdout and "v2v cli p50" in done.stdout
