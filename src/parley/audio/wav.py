"""Reading and writing WAV files as engine audio (PCM16 mono 16 kHz)."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from parley.audio.pcm import SAMPLE_RATE
from parley.audio.resample import resample_pcm16
from parley.errors import AudioError

_DTYPES = {1: "u1", 2: "<i2", 4: "<i4"}


def read_wav(path: str | Path, target_rate: int = SAMPLE_RATE) -> bytes:
    """Read an integer-PCM WAV of any rate and channel count as PCM16 mono ``target_rate``."""
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            raw = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise AudioError(f"{path}: not a readable PCM WAV file ({exc})") from exc
    if width == 3:  # 24-bit: widen to 32-bit little endian
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3)
        raw = np.pad(b, ((0, 0), (1, 0))).tobytes()
        width = 4
    if width not in _DTYPES:
        raise AudioError(f"{path}: unsupported sample width {width} bytes")
    data = np.frombuffer(raw, dtype=_DTYPES[width]).astype(np.float64)
    if width == 1:
        data = (data - 128.0) * 256.0
    elif width == 4:
        data /= 65536.0
    if channels > 1:
        data = data.reshape(-1, channels).mean(axis=1)
    pcm = np.clip(np.round(data), -32768, 32767).astype("<i2").tobytes()
    return resample_pcm16(pcm, rate, target_rate)


def write_wav(path: str | Path, pcm: bytes, sample_rate: int = SAMPLE_RATE) -> None:
    """Write PCM16 mono audio to a WAV file."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm)
