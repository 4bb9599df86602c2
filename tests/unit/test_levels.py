"""Speech bounds from signal levels, independent of the VAD."""

from __future__ import annotations

import numpy as np

from parley.audio.levels import speech_bounds_ms


def _clip(noise_s: float, tone_s: float, tail_s: float, noise_level: float = 200.0) -> bytes:
    rng = np.random.default_rng(1)
    n = int(16000 * (noise_s + tone_s + tail_s))
    signal = rng.normal(0, noise_level, n)
    start, stop = int(16000 * noise_s), int(16000 * (noise_s + tone_s))
    t = np.arange(stop - start) / 16000
    signal[start:stop] += np.sin(2 * np.pi * 300 * t) * 8000
    return np.clip(signal, -32768, 32767).astype("<i2").tobytes()


def test_bounds_of_speech_in_background_noise() -> None:
    bounds = speech_bounds_ms(_clip(0.5, 1.0, 0.8))
    assert bounds is not None
    onset, end = bounds
    assert 480 - 32 <= onset <= 500 + 32
    assert 1500 - 32 <= end <= 1500 + 64


def test_no_speech_gives_none() -> None:
    assert speech_bounds_ms(_clip(1.0, 0.0, 0.0)) is None
    assert speech_bounds_ms(b"") is None
