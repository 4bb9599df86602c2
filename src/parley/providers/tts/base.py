"""Text-to-speech interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

VoiceQuality = Literal["natural", "basic"]
"""``natural``: a neural voice; ``basic``: intelligible but robotic (formant synthesis)."""


@dataclass(frozen=True, slots=True)
class Voice:
    """An installed voice."""

    id: str
    name: str
    language: str
    """The voice's main language or locale ("en-us", "es")."""
    sample_rate: int
    languages: tuple[str, ...] = ()
    """Every language code (ISO 639-1, :mod:`parley.languages`) it speaks well; empty:
    the base code of ``language``."""
    quality: VoiceQuality = "natural"

    def speaks(self) -> tuple[str, ...]:
        """The language codes this voice speaks."""
        return self.languages or (self.language.replace("_", "-").split("-", 1)[0].lower(),)


class TextToSpeech(ABC):
    """Synthesizes text to PCM16 mono audio at the voice's own sample rate."""

    name: str = "tts"

    @abstractmethod
    def voices(self) -> list[Voice]:
        """The voices this provider can speak with."""

    @abstractmethod
    def synthesize(self, text: str, *, voice_id: str) -> AsyncIterator[bytes]:
        """Yield PCM16 chunks at ``voice(voice_id).sample_rate`` as soon as they exist."""

    def voice(self, voice_id: str) -> Voice:
        """The voice with this id, or the first voice when the id is unknown."""
        voices = self.voices()
        return next((v for v in voices if v.id == voice_id), voices[0])

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""
