"""End-of-turn model interface."""

from __future__ import annotations

from abc import ABC, abstractmethod


class TurnModel(ABC):
    """Judges, from the audio alone, whether an utterance sounds finished. Shared by all
    sessions; calls run in the model's own worker, never on the event loop."""

    name: str = "turn"

    @abstractmethod
    async def finished_probability(self, pcm: bytes) -> float:
        """Probability in [0, 1] that the speaker of ``pcm`` (PCM16 16 kHz mono, the
        utterance up to the pause) has finished their turn."""

    def close(self) -> None:  # noqa: B027 - most models hold nothing to release
        """Release the model's threads."""
