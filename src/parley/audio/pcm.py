"""PCM16 little-endian mono frames and conversions."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from parley.errors import AudioError

SAMPLE_RATE = 16_000
"""Sample rate of all audio inside the engine, in Hz (protocols resample at the edge)."""
BYTES_PER_SAMPLE = 2
VAD_FRAME_SAMPLES = 512
"""Samples per VAD frame: 32 ms at 16 kHz."""
VAD_FRAME_BYTES = VAD_FRAME_SAMPLES * BYTES_PER_SAMPLE
FRAME_MS = VAD_FRAME_SAMPLES / SAMPLE_RATE * 1000.0
"""Duration of one VAD frame (32 ms): the unit of turn-taking thresholds."""


def check_pcm16(data: bytes) -> None:
    """Raise :class:`AudioError` unless ``data`` is whole PCM16 samples."""
    if len(data) % BYTES_PER_SAMPLE:
        raise AudioError(
            f"PCM16 audio must have an even number of bytes, got {len(data)}", param="audio"
        )


def duration_ms(pcm: bytes | bytearray, sample_rate: int) -> float:
    """Duration of PCM16 mono audio in milliseconds."""
    return len(pcm) / BYTES_PER_SAMPLE / sample_rate * 1000.0


def pcm16_to_float32(pcm: bytes) -> npt.NDArray[np.float32]:
    """PCM16 bytes to float32 samples in [-1, 1)."""
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


def float32_to_pcm16(samples: npt.NDArray[np.floating]) -> bytes:
    """Float samples in [-1, 1] to PCM16 bytes (clipped)."""
    clipped = np.clip(samples, -1.0, 32767.0 / 32768.0)
    return bytes((clipped * 32768.0).astype("<i2").tobytes())


def silence(ms: float, sample_rate: int) -> bytes:
    """PCM16 silence of the given duration."""
    return bytes(int(sample_rate * ms / 1000.0) * BYTES_PER_SAMPLE)


class FrameSplitter:
    """Cuts a stream of PCM16 byte chunks of any size into fixed-size frames."""

    def __init__(self, frame_bytes: int = VAD_FRAME_BYTES) -> None:
        self._frame_bytes = frame_bytes
        self._pending = bytearray()

    def push(self, data: bytes) -> list[bytes]:
        """Add ``data``; return every complete frame now available, in order."""
        self._pending += data
        n = len(self._pending) // self._frame_bytes
        frames = [
            bytes(self._pending[i * self._frame_bytes : (i + 1) * self._frame_bytes])
            for i in range(n)
        ]
        del self._pending[: n * self._frame_bytes]
        return frames

    def reset(self) -> None:
        """Drop any partial frame."""
        self._pending.clear()
