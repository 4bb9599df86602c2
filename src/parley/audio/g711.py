"""G.711 μ-law and A-law ⇄ PCM16 LE (telephony audio: Twilio, OpenAI ``audio/pcmu`` and
``audio/pcma``). Vectorized with NumPy; decoding uses 256-entry tables."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

G711_RATE = 8000
"""Sample rate of G.711 telephony audio (Twilio streams, ``audio/pcmu``), in Hz."""
_MU_BIAS = 0x84


def _mulaw_table() -> npt.NDArray[np.int16]:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + _MU_BIAS) << exponent) - _MU_BIAS
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def _alaw_table() -> npt.NDArray[np.int16]:
    codes = np.arange(256, dtype=np.int32) ^ 0x55
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = np.where(
        exponent == 0,
        (mantissa << 4) + 8,
        ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0),
    )
    return np.where(sign != 0, magnitude, -magnitude).astype(np.int16)


_MULAW_TO_PCM = _mulaw_table()
_ALAW_TO_PCM = _alaw_table()


def mulaw_to_pcm16(data: bytes) -> bytes:
    """μ-law bytes → PCM16 LE (one sample per byte, same rate)."""
    return _MULAW_TO_PCM[np.frombuffer(data, dtype=np.uint8)].astype("<i2").tobytes()


def alaw_to_pcm16(data: bytes) -> bytes:
    """A-law bytes → PCM16 LE (one sample per byte, same rate)."""
    return _ALAW_TO_PCM[np.frombuffer(data, dtype=np.uint8)].astype("<i2").tobytes()


_MU_SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_A_SEGMENT_ENDS = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


def pcm16_to_mulaw(pcm: bytes) -> bytes:
    """PCM16 LE → μ-law bytes (one byte per sample), on the 14-bit G.711 scale."""
    v = np.frombuffer(pcm, dtype="<i2").astype(np.int32) >> 2
    negative = v < 0
    magnitude = np.minimum(np.where(negative, -v, v), 8159) + 33
    segment = np.searchsorted(_MU_SEGMENT_ENDS, magnitude, side="left")
    codes = np.where(
        segment >= 8, 0x7F, (np.minimum(segment, 7) << 4) | ((magnitude >> (segment + 1)) & 0x0F)
    )
    codes ^= np.where(negative, 0x7F, 0xFF)
    return bytes(codes.astype(np.uint8).tobytes())


def pcm16_to_alaw(pcm: bytes) -> bytes:
    """PCM16 LE → A-law bytes (one byte per sample), on the 13-bit G.711 scale."""
    v = np.frombuffer(pcm, dtype="<i2").astype(np.int32) >> 3
    negative = v < 0
    magnitude = np.where(negative, -v - 1, v)
    segment = np.searchsorted(_A_SEGMENT_ENDS, magnitude, side="left")
    shift = np.where(segment < 2, 1, segment)
    codes = np.where(
        segment >= 8, 0x7F, (np.minimum(segment, 7) << 4) | ((magnitude >> shift) & 0x0F)
    )
    codes ^= np.where(negative, 0x55, 0xD5)
    return bytes(codes.astype(np.uint8).tobytes())
