"""Speech-to-text interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Word:
    """One recognised word and where it lies in the utterance's audio."""

    text: str
    start_ms: float
    end_ms: float


@dataclass(frozen=True, slots=True)
class Transcript:
    """What was said in one utterance."""

    text: str
    """The words ("" when nothing was said)."""
    language: str | None = None
    """Language code of the speech (ISO 639-1), when the provider knows it."""
    language_probability: float | None = None
    """How sure the provider is of ``language`` (1.0 for a single-language model)."""
    words: tuple[Word, ...] = ()
    """Word timings, when the provider gives them."""


class SpeechToText(ABC):
    """Transcribes one utterance of PCM16 16 kHz mono audio."""

    name: str = "stt"

    @abstractmethod
    async def transcribe(self, pcm: bytes, *, language: str = "en") -> Transcript:
        """What was spoken in ``pcm`` (``language`` is a hint; ``"auto"`` detects it)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""
