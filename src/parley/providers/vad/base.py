"""Voice activity detection interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable


class VoiceActivityDetector(ABC):
    """Per-session, stateful: speech probability of consecutive 32 ms frames."""

    @abstractmethod
    def speech_probability(self, frame: bytes) -> float:
        """Probability in [0, 1] that the 512-sample PCM16 16 kHz ``frame`` holds speech."""

    @abstractmethod
    def reset(self) -> None:
        """Forget the state carried between frames."""


VADFactory = Callable[[], VoiceActivityDetector]
"""Makes one detector per session (the model weights are shared)."""
