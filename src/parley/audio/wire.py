"""Audio as protocols carry it (PCM16, G.711 μ-law or A-law, at any rate) ⇄ the engine's
PCM16 at 16 kHz, each direction one continuous stream."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from parley.audio.g711 import alaw_to_pcm16, mulaw_to_pcm16, pcm16_to_alaw, pcm16_to_mulaw
from parley.audio.pcm import SAMPLE_RATE, check_pcm16
from parley.audio.resample import StreamResampler

Encoding = Literal["pcm16", "mulaw", "alaw"]

_TO_PCM16: dict[Encoding, Callable[[bytes], bytes]] = {
    "mulaw": mulaw_to_pcm16,
    "alaw": alaw_to_pcm16,
}
_FROM_PCM16: dict[Encoding, Callable[[bytes], bytes]] = {
    "mulaw": pcm16_to_mulaw,
    "alaw": pcm16_to_alaw,
}


class WireDecoder:
    """Received audio in ``encoding`` at ``rate`` → engine PCM16 16 kHz."""

    def __init__(self, encoding: Encoding, rate: int) -> None:
        self.encoding, self.rate = encoding, rate
        self._resampler = StreamResampler(rate, SAMPLE_RATE)

    def decode(self, data: bytes) -> bytes:
        """Convert the next chunk (raises AudioError for half a PCM16 sample)."""
        if self.encoding == "pcm16":
            check_pcm16(data)
            return self._resampler.push(data)
        return self._resampler.push(_TO_PCM16[self.encoding](data))

    def flush(self) -> bytes:
        """What the resampler holds back; the stream starts afresh afterwards."""
        return self._resampler.push(b"", last=True)


class WireEncoder:
    """Engine PCM16 16 kHz → audio to send in ``encoding`` at ``rate``."""

    def __init__(self, encoding: Encoding, rate: int) -> None:
        self.encoding, self.rate = encoding, rate
        self._resampler = StreamResampler(SAMPLE_RATE, rate)

    def encode(self, pcm: bytes) -> bytes:
        """Convert the next chunk of engine audio."""
        return self._wire(self._resampler.push(pcm))

    def flush(self) -> bytes:
        """What the resampler holds back; the stream starts afresh afterwards."""
        return self._wire(self._resampler.push(b"", last=True))

    def _wire(self, pcm: bytes) -> bytes:
        return pcm if self.encoding == "pcm16" else _FROM_PCM16[self.encoding](pcm)
