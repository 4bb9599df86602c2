"""Sample-rate conversion with soxr."""

from __future__ import annotations

import numpy as np
import soxr


def resample_pcm16(pcm: bytes, from_rate: int, to_rate: int) -> bytes:
    """Resample a whole PCM16 mono buffer."""
    if from_rate == to_rate or not pcm:
        return pcm
    samples = np.frombuffer(pcm, dtype="<i2")
    out = soxr.resample(samples, from_rate, to_rate, quality="HQ")
    return np.asarray(out, dtype="<i2").tobytes()


class StreamResampler:
    """Resamples consecutive PCM16 chunks of one stream without edge artefacts."""

    def __init__(self, from_rate: int, to_rate: int) -> None:
        self._passthrough = from_rate == to_rate
        self._stream = (
            None
            if self._passthrough
            else soxr.ResampleStream(from_rate, to_rate, 1, dtype="int16", quality="HQ")
        )

    def push(self, pcm: bytes, *, last: bool = False) -> bytes:
        """Resample the next chunk; ``last=True`` flushes the filter's tail."""
        if self._stream is None:
            return pcm
        samples = np.frombuffer(pcm, dtype="<i2")
        out = self._stream.resample_chunk(samples, last=last)
        return np.asarray(out, dtype="<i2").tobytes()
