"""``parley call`` refuses bad input with one line on stderr, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from parley.audio.wav import wav_bytes
from parley.cli import main
from parley.testing.server import free_port


def _call(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["call", "agt_demo", *args, "--api-key", "sk_live_x"])
    return code, capsys.readouterr().err


def test_a_missing_file_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, err = _call(capsys, str(tmp_path / "nothing.wav"))
    assert code == 2
    assert err == f"error: cannot read {tmp_path / 'nothing.wav'}: No such file or directory\n"


def test_a_file_that_is_not_wav_is_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = tmp_path / "notes.wav"
    text.write_text("not audio")
    code, err = _call(capsys, str(text))
    assert code == 2
    assert err.startswith(f"error: {text}: ") and "Traceback" not in err


def test_a_server_that_is_not_there_is_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    wav = tmp_path / "silence.wav"
    wav.write_bytes(wav_bytes(bytes(32_000)))
    url = f"http://127.0.0.1:{free_port()}"
    code, err = _call(capsys, str(wav), "--url", url)
    assert code == 1
    assert err.startswith(f"error: cannot connect to {url}")
