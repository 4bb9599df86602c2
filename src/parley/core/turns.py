"""Turn-taking state machine: VAD probabilities in, turn signals out. Sans-I/O.

Every input carries ``now`` (seconds, from the session's injected clock), so the
detector is deterministic under test. Silence is measured both in audio time (frames
seen) and in wall time since silence began: a client that streams faster than real
time reaches end of turn as soon as enough silent audio has arrived, and a client
that stops sending audio still reaches it through :meth:`TurnDetector.poll`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Literal

TurnDetectionMode = Literal["model", "silence"]
"""How a pause ends a user turn: the end-of-turn model's verdict, or silence alone."""
FRAME_MS = 32.0
HYSTERESIS = 0.15
"""Probability must fall this far below the threshold to count as silence."""


@dataclass(frozen=True, slots=True)
class TurnConfig:
    """Thresholds of one session."""

    vad_threshold: float = 0.5
    end_of_turn_silence_ms: float = 500.0
    min_speech_ms: float = 96.0
    speculative_stt_after_ms: float = 96.0
    interrupt_min_speech_ms: float = 160.0
    """Speech needed to open a turn while the agent is speaking (a barge-in)."""
    detection: TurnDetectionMode = "silence"
    """``model``: at each pause the end-of-turn model judges the speech so far (needs a
    turn model; without one, the session falls back to ``silence``)."""
    complete_silence_ms: float = 300.0
    """Silence that ends a turn the model heard as finished."""
    incomplete_silence_ms: float = 1600.0
    """Silence that ends a turn the model heard as unfinished."""
    model_threshold: float = 0.5
    """The model's probability of "finished" at or above which the turn is finished."""


@dataclass(frozen=True, slots=True)
class SpeechStart:
    """The user started speaking; ``preroll_ms`` of audio before ``now`` belongs to it."""

    at: float
    preroll_ms: float


@dataclass(frozen=True, slots=True)
class Speculate:
    """Silence began long enough ago to start transcribing speculatively."""

    speech_end_at: float


@dataclass(frozen=True, slots=True)
class SpeechResumed:
    """The user spoke again before end of turn: speculative work is stale."""


@dataclass(frozen=True, slots=True)
class EndOfTurn:
    """The user's turn is over; speech ended at ``speech_end_at``."""

    speech_end_at: float
    decided_at: float


TurnSignal = SpeechStart | Speculate | SpeechResumed | EndOfTurn


class _State(Enum):
    IDLE = "idle"
    SPEECH = "speech"
    TRAILING = "trailing_silence"


class TurnDetector:
    """Decides speech start and end of turn from per-frame speech probabilities."""

    def __init__(self, config: TurnConfig) -> None:
        self.config = config
        self._state = _State.IDLE
        self._speech_run_ms = 0.0
        self._silent_frames = 0
        self._silence_since = 0.0
        self._speech_end_at = 0.0
        self._speculated = False
        self.agent_speaking = False
        """While the agent is audible, opening a turn takes ``interrupt_min_speech_ms``."""
        self.silence_target_ms: float | None = None
        """Silence that ends the current turn, when a transcript rule changed it."""

    @property
    def in_speech(self) -> bool:
        """True between speech start and end of turn."""
        return self._state is not _State.IDLE

    def reset(self) -> None:
        """Forget any turn in progress."""
        self._state = _State.IDLE
        self._speech_run_ms = 0.0
        self._speculated = False
        self.silence_target_ms = None

    def on_frame(self, probability: float, now: float) -> list[TurnSignal]:
        """Feed one 32 ms frame's speech probability, received at ``now``."""
        threshold = self.config.vad_threshold
        is_speech = probability >= threshold
        is_silence = probability < threshold - HYSTERESIS
        if self._state is _State.IDLE:
            if is_speech:
                self._speech_run_ms += FRAME_MS
                needed = (
                    self.config.interrupt_min_speech_ms
                    if self.agent_speaking
                    else self.config.min_speech_ms
                )
                if self._speech_run_ms >= needed:
                    self._state = _State.SPEECH
                    self.silence_target_ms = None
                    run, self._speech_run_ms = self._speech_run_ms, 0.0
                    return [SpeechStart(at=now - run / 1000.0, preroll_ms=run)]
            elif is_silence:
                self._speech_run_ms = 0.0
            return []
        if self._state is _State.SPEECH:
            if is_silence:
                self._state = _State.TRAILING
                self._silent_frames = 1
                self._silence_since = now
                self._speech_end_at = now - FRAME_MS / 1000.0
                self._speculated = False
                return self._check_silence(now)
            return []
        # trailing silence
        if is_speech:
            self._state = _State.SPEECH
            self.silence_target_ms = None
            if self._speculated:
                self._speculated = False
                return [SpeechResumed()]
            return []
        self._silent_frames += 1
        return self._check_silence(now)

    def poll(self, now: float) -> list[TurnSignal]:
        """Advance wall time without audio (the client may have stopped sending)."""
        if self._state is not _State.TRAILING:
            return []
        return self._check_silence(now)

    def _silence_ms(self, now: float) -> float:
        by_audio = self._silent_frames * FRAME_MS
        by_wall = (now - self._silence_since) * 1000.0 + FRAME_MS
        return max(by_audio, by_wall)

    def _check_silence(self, now: float) -> list[TurnSignal]:
        silence = self._silence_ms(now)
        signals: list[TurnSignal] = []
        if not self._speculated and silence >= self.config.speculative_stt_after_ms:
            self._speculated = True
            signals.append(Speculate(self._speech_end_at))
        target = self.silence_target_ms or self.config.end_of_turn_silence_ms
        if silence >= target:
            self._state = _State.IDLE
            self.silence_target_ms = None
            self._speculated = False
            signals.append(EndOfTurn(self._speech_end_at, now))
        return signals
