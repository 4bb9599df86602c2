"""The Realtime audio formats on the wire ⇄ the engine's PCM16 at 16 kHz.

``audio/pcm`` is PCM16 LE mono at 24 kHz; ``audio/pcmu`` and ``audio/pcma`` are G.711
μ-law and A-law at 8 kHz (the beta protocol calls them ``pcm16``, ``g711_ulaw`` and
``g711_alaw``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from parley.audio.g711 import alaw_to_pcm16, mulaw_to_pcm16, pcm16_to_alaw, pcm16_to_mulaw
from parley.audio.pcm import SAMPLE_RATE, check_pcm16
from parley.audio.resample import StreamResampler

AudioFormat = Literal["audio/pcm", "audio/pcmu", "audio/pcma"]
"""A wire format by its GA name."""

AUDIO_FORMATS: tuple[AudioFormat, ...] = ("audio/pcm", "audio/pcmu", "audio/pcma")
PCM_RATE = 24_000
G711_RATE = 8_000
BETA_NAMES: dict[AudioFormat, str] = {
    "audio/pcm": "pcm16",
    "audio/pcmu": "g711_ulaw",
    "audio/pcma": "g711_alaw",
}
FROM_BETA: dict[str, AudioFormat] = {beta: ga for ga, beta in BETA_NAMES.items()}

_DECODE: dict[AudioFormat, Callable[[bytes], bytes]] = {
    "audio/pcmu": mulaw_to_pcm16,
    "audio/pcma": alaw_to_pcm16,
}
_ENCODE: dict[AudioFormat, Callable[[bytes], bytes]] = {
    "audio/pcmu": pcm16_to_mulaw,
    "audio/pcma": pcm16_to_alaw,
}


def wire_rate(fmt: AudioFormat) -> int:
    """Sample rate of a wire format."""
    return PCM_RATE if fmt == "audio/pcm" else G711_RATE


def wire_ms(fmt: AudioFormat, nbytes: int) -> float:
    """Duration of ``nbytes`` of wire audio in milliseconds."""
    per_sample = 2 if fmt == "audio/pcm" else 1
    return nbytes / per_sample / wire_rate(fmt) * 1000.0


def format_object(fmt: AudioFormat) -> dict[str, object]:
    """The GA ``format`` object, e.g. ``{"type": "audio/pcm", "rate": 24000}``."""
    return {"type": fmt, "rate": PCM_RATE} if fmt == "audio/pcm" else {"type": fmt}


class InputAudio:
    """Client audio in one wire format → engine PCM16 16 kHz, as one continuous stream."""

    def __init__(self, fmt: AudioFormat) -> None:
        self.format = fmt
        self._resampler = StreamResampler(wire_rate(fmt), SAMPLE_RATE)

    def decode(self, data: bytes) -> bytes:
        """Convert the next chunk (raises AudioError for half a PCM16 sample)."""
        if self.format == "audio/pcm":
            check_pcm16(data)
            pcm = data
        else:
            pcm = _DECODE[self.format](data)
        return self._resampler.push(pcm)

    def flush(self) -> bytes:
        """The resampler's tail (at a commit); the stream starts afresh afterwards."""
        tail = self._resampler.push(b"", last=True)
        self._resampler = StreamResampler(wire_rate(self.format), SAMPLE_RATE)
        return tail


class OutputAudio:
    """Engine PCM16 16 kHz → one response's audio in a wire format."""

    def __init__(self, fmt: AudioFormat) -> None:
        self.format = fmt
        self._resampler = StreamResampler(SAMPLE_RATE, wire_rate(fmt))

    def encode(self, pcm: bytes) -> bytes:
        """Convert the next chunk of agent audio."""
        return self._wire(self._resampler.push(pcm))

    def flush(self) -> bytes:
        """The resampler's tail, at the end of the response's audio."""
        return self._wire(self._resampler.push(b"", last=True))

    def _wire(self, pcm: bytes) -> bytes:
        return pcm if self.format == "audio/pcm" else _ENCODE[self.format](pcm)
