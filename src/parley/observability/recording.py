"""Session recordings: the user's and the agent's audio in one stereo WAV
(left: user, right: agent), aligned on the session's clock."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from parley.audio.pcm import SAMPLE_RATE
from parley.storage.permissions import open_private, private_dir


class SessionRecorder:
    """Collects both sides of a conversation; :meth:`save` writes the WAV.

    User audio is placed where it arrived; each agent chunk where it was sent, but never
    before the end of the previous agent chunk (audio is sent ahead of playback, so a
    turn's chunks are laid end to end from its first chunk).
    """

    def __init__(self, started_at: float) -> None:
        self._start = started_at
        self._user: list[tuple[int, bytes]] = []
        self._agent: list[tuple[int, bytes]] = []
        self._user_cursor = 0
        self._agent_cursor = 0
        self._agent_turn: str | None = None

    def _offset(self, at: float) -> int:
        return max(0, round((at - self._start) * SAMPLE_RATE))

    def user_audio(self, pcm: bytes, at: float) -> None:
        """User audio received at clock time ``at`` (its last sample)."""
        samples = len(pcm) // 2
        start = max(self._user_cursor, self._offset(at) - samples)
        self._user.append((start, pcm))
        self._user_cursor = start + samples

    def agent_audio(self, pcm: bytes, turn_id: str, at: float) -> None:
        """An agent audio chunk of ``turn_id`` sent at clock time ``at``."""
        if turn_id != self._agent_turn:
            self._agent_turn = turn_id
            start = max(self._agent_cursor, self._offset(at))
        else:
            start = self._agent_cursor
        self._agent.append((start, pcm))
        self._agent_cursor = start + len(pcm) // 2

    def save(self, path: Path) -> Path:
        """Write the stereo WAV (16 kHz, PCM16), mode 0600 in a 0700 folder, and return
        its path."""
        length = max(self._user_cursor, self._agent_cursor)
        stereo = np.zeros((length, 2), dtype="<i2")
        for channel, pieces in ((0, self._user), (1, self._agent)):
            for start, pcm in pieces:
                samples = np.frombuffer(pcm, dtype="<i2")
                stereo[start : start + len(samples), channel] = samples
        private_dir(path.parent)
        with open_private(path) as f, wave.open(f, "wb") as w:
            w.setnchannels(2)
            w.setsampwidth(2)
            w.setframerate(SAMPLE_RATE)
            w.writeframes(stereo.tobytes())
        return path
