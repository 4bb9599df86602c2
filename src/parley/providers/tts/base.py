"""Text-to-speech interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Voice:
    """An installed voice."""

    id: str
    name: str
    language: str
    sample_rate: int


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
