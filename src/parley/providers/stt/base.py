"""Speech-to-text interface."""

from __future__ import annotations

from abc import ABC, abstractmethod


class SpeechToText(ABC):
    """Transcribes one utterance of PCM16 16 kHz mono audio."""

    name: str = "stt"

    @abstractmethod
    async def transcribe(self, pcm: bytes, *, language: str = "en") -> str:
        """Return the text spoken in ``pcm`` ("" when nothing was said)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""
