"""The session's ears: audio chunks → 32 ms frames → VAD → turn signals. Sans-I/O.

The listener owns everything between the microphone and a turn decision: frame
splitting, the speech probability of each frame, the :class:`TurnDetector`, the
pre-roll (audio just before speech was detected belongs to the utterance), the
utterance being spoken, and, when the server does not detect turns, the audio waiting
for a manual commit. Time comes from the injected clock, so tests are deterministic.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator

from parley.audio.pcm import FRAME_MS, SAMPLE_RATE, FrameSplitter, duration_ms
from parley.core.clock import Clock
from parley.core.turns import EndOfTurn, SpeechStart, TurnConfig, TurnDetector, TurnSignal
from parley.providers.vad.base import VoiceActivityDetector


class Listener:
    """Turns the user's audio into turn signals and keeps the utterance's audio."""

    def __init__(
        self,
        vad: VoiceActivityDetector,
        turns: TurnConfig,
        clock: Clock,
        *,
        detect_turns: bool = True,
        preroll_ms: float = 320.0,
        max_utterance_ms: float = 28_000.0,
    ) -> None:
        self._vad, self._clock = vad, clock
        self._detector = TurnDetector(turns)
        self._splitter = FrameSplitter()
        self._recent: deque[bytes] = deque(maxlen=max(1, int(preroll_ms / FRAME_MS)))
        self._max_utterance_bytes = int(max_utterance_ms * SAMPLE_RATE / 1000) * 2
        self._utterance: bytearray | None = None
        self._pending = bytearray()
        self.detect_turns = detect_turns
        """False: only :meth:`commit` ends a user turn; audio waits in a bounded buffer."""
        self.input_ms = 0.0
        """Duration of all the user audio heard so far (the session's audio clock)."""

    # ------------------------------------------------------------ state

    @property
    def in_speech(self) -> bool:
        """True between speech start and end of turn."""
        return self._detector.in_speech

    @property
    def speaking(self) -> bool:
        """True while an utterance is being collected (from speech start to its end)."""
        return self._utterance is not None

    @property
    def min_speech_ms(self) -> float:
        """Speech that opens a turn (its onset lies this far before the start signal)."""
        return self._detector.config.min_speech_ms

    def utterance(self) -> bytes:
        """The audio of the utterance so far (speech start, with its pre-roll, to now)."""
        return bytes(self._utterance or b"")

    # ------------------------------------------------------------ audio in

    def hear(self, pcm: bytes, *, agent_audible: Callable[[], bool]) -> Iterator[TurnSignal]:
        """Take a chunk of user audio; yield turn signals frame by frame.

        The caller handles each signal before the next frame is processed (it may
        :meth:`prepend` audio, or :meth:`take_utterance`). ``agent_audible`` tells, per
        frame, whether the user may be hearing the agent (a barge-in needs more speech).
        """
        self.input_ms += duration_ms(pcm, SAMPLE_RATE)
        if not self.detect_turns:
            self._pending += pcm
            if len(self._pending) > self._max_utterance_bytes:
                del self._pending[: len(self._pending) - self._max_utterance_bytes]
            return
        for frame in self._splitter.push(pcm):
            probability = self._vad.speech_probability(frame)
            self._recent.append(frame)
            if self._utterance is not None:
                self._utterance += frame
            self._detector.agent_speaking = agent_audible()
            signals = self._detector.on_frame(probability, self._clock.now())
            for signal in signals:
                if isinstance(signal, SpeechStart):
                    self._utterance = bytearray(b"".join(self._recent))
            if (
                self._utterance is not None
                and len(self._utterance) > self._max_utterance_bytes
                and not any(isinstance(s, EndOfTurn) for s in signals)
            ):
                now = self._clock.now()
                self._detector.reset()
                signals.append(EndOfTurn(now, now))
            yield from signals

    def poll(self) -> list[TurnSignal]:
        """Advance wall time without audio (the client may have stopped sending)."""
        if not self.detect_turns:
            return []
        return self._detector.poll(self._clock.now())

    # ------------------------------------------------------------ the utterance

    def prepend(self, audio: bytes) -> None:
        """Audio that belongs before the utterance in progress (a user turn that was
        being transcribed when the user went on speaking)."""
        if audio and self._utterance is not None:
            self._utterance[:0] = audio

    def take_utterance(self) -> bytes:
        """The finished utterance's audio; the next one starts at the next speech."""
        audio = self.utterance()
        self._utterance = None
        return audio

    def end_turn_after(self, silence_ms: float) -> None:
        """End the current turn after this much silence (a transcript rule decided)."""
        self._detector.silence_target_ms = silence_ms

    def commit(self) -> EndOfTurn | None:
        """End the utterance in progress now (manual commit while turns are detected);
        None when the user is not speaking."""
        if self._utterance is None:
            return None
        now = self._clock.now()
        self._detector.reset()
        return EndOfTurn(now, now)

    def take_pending(self) -> bytes:
        """The audio received since the last commit (turn detection off)."""
        audio, self._pending = bytes(self._pending), bytearray()
        return audio

    def clear(self) -> None:
        """Drop the audio waiting for a commit, and any utterance in progress."""
        self._pending.clear()
        if self.detect_turns:
            self.reset()

    def reset(self) -> None:
        """Forget the turn in progress (listening stopped, paused, or reconfigured)."""
        self._detector.reset()
        self._splitter.reset()
        self._utterance = None

    def reconfigure(self, turns: TurnConfig, *, detect_turns: bool) -> bool:
        """New thresholds; a turn in progress keeps the old ones unless detection changed.
        True if the listener started afresh (any utterance in progress was dropped)."""
        changed = detect_turns != self.detect_turns
        self.detect_turns = detect_turns
        if not changed and self._detector.in_speech:
            return False
        self._detector = TurnDetector(turns)
        self.reset()
        self._pending.clear()
        return True
