"""The Realtime audio formats on the wire ⇄ the engine's PCM16 at 16 kHz.

``audio/pcm`` is PCM16 LE mono at 24 kHz; ``audio/pcmu`` and ``audio/pcma`` are G.711
μ-law and A-law at 8 kHz (the beta protocol calls them ``pcm16``, ``g711_ulaw`` and
``g711_alaw``).
"""

from __future__ import annotations

from typing import Literal

from parley.audio.g711 import G711_RATE
from parley.audio.wire import Encoding, WireDecoder, WireEncoder

AudioFormat = Literal["audio/pcm", "audio/pcmu", "audio/pcma"]
"""A wire format by its GA name."""

AUDIO_FORMATS: tuple[AudioFormat, ...] = ("audio/pcm", "audio/pcmu", "audio/pcma")
PCM_RATE = 24_000
BETA_NAMES: dict[AudioFormat, str] = {
    "audio/pcm": "pcm16",
    "audio/pcmu": "g711_ulaw",
    "audio/pcma": "g711_alaw",
}
FROM_BETA: dict[str, AudioFormat] = {beta: ga for ga, beta in BETA_NAMES.items()}
_ENCODINGS: dict[AudioFormat, Encoding] = {
    "audio/pcm": "pcm16",
    "audio/pcmu": "mulaw",
    "audio/pcma": "alaw",
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


class InputAudio(WireDecoder):
    """Client audio in one wire format → engine PCM16 16 kHz, as one continuous stream
    (:meth:`flush` at a commit)."""

    def __init__(self, fmt: AudioFormat) -> None:
        super().__init__(_ENCODINGS[fmt], wire_rate(fmt))
        self.format = fmt


class OutputAudio(WireEncoder):
    """Engine PCM16 16 kHz → one response's audio in a wire format (:meth:`flush` at
    the end of the response's audio)."""

    def __init__(self, fmt: AudioFormat) -> None:
        super().__init__(_ENCODINGS[fmt], wire_rate(fmt))
        self.format = fmt
