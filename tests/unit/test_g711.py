"""G.711 codecs agree with CPython's reference implementation (audioop, C)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from parley.audio.g711 import alaw_to_pcm16, mulaw_to_pcm16, pcm16_to_alaw, pcm16_to_mulaw

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    audioop = pytest.importorskip("audioop")  # removed in Python 3.13

ALL_SAMPLES = np.arange(-32768, 32768, dtype="<i2").tobytes()
ALL_CODES = bytes(range(256))


def test_mulaw_matches_reference_for_every_value() -> None:
    assert pcm16_to_mulaw(ALL_SAMPLES) == audioop.lin2ulaw(ALL_SAMPLES, 2)
    assert mulaw_to_pcm16(ALL_CODES) == audioop.ulaw2lin(ALL_CODES, 2)


def test_alaw_matches_reference_for_every_value() -> None:
    assert pcm16_to_alaw(ALL_SAMPLES) == audioop.lin2alaw(ALL_SAMPLES, 2)
    assert alaw_to_pcm16(ALL_CODES) == audioop.alaw2lin(ALL_CODES, 2)


def test_round_trip_keeps_speech_level_signal_close() -> None:
    t = np.arange(8000) / 8000
    tone = (np.sin(2 * np.pi * 440 * t) * 12000).astype("<i2")
    for encode, decode in ((pcm16_to_mulaw, mulaw_to_pcm16), (pcm16_to_alaw, alaw_to_pcm16)):
        back = np.frombuffer(decode(encode(tone.tobytes())), dtype="<i2").astype(float)
        assert np.max(np.abs(back - tone)) < 12000 * 0.04  # under 4 % of the peak


def test_empty_input() -> None:
    assert pcm16_to_mulaw(b"") == b"" and mulaw_to_pcm16(b"") == b""
