"""Listener: audio → frames → VAD → turn signals, on the injected clock (sans-I/O)."""

from __future__ import annotations

import numpy as np

from parley.core.listener import Listener
from parley.core.turns import EndOfTurn, Speculate, SpeechResumed, SpeechStart, TurnConfig
from parley.testing.fakes import LoudnessVAD, ManualClock

FRAME_S = 0.032
LOUD = (np.sin(np.arange(512) / 3.0) * 6000).astype("<i2").tobytes()
QUIET = bytes(1024)


class Ears:
    """A listener fed 32 ms frames in real time on a manual clock."""

    def __init__(self, **kw: object) -> None:
        self.clock = ManualClock()
        self.listener = Listener(LoudnessVAD(), TurnConfig(), self.clock, **kw)  # type: ignore[arg-type]
        self.audible = False

    def feed(self, frame: bytes, count: int = 1) -> list[object]:
        signals: list[object] = []
        for _ in range(count):
            self.clock.advance(FRAME_S)
            signals += self.listener.hear(frame, agent_audible=lambda: self.audible)
        return signals


def test_speech_start_opens_an_utterance_with_its_preroll() -> None:
    ears = Ears(preroll_ms=320.0)
    assert ears.feed(QUIET, 20) == []
    signals = ears.feed(LOUD, 3)  # 96 ms of speech = min_speech_ms
    assert [type(s) for s in signals] == [SpeechStart]
    assert ears.listener.speaking and ears.listener.in_speech
    # the pre-roll: the last 10 frames (320 ms), including the speech that opened the turn
    assert len(ears.listener.utterance()) == 10 * 1024
    ears.feed(LOUD, 5)
    assert len(ears.listener.utterance()) == 15 * 1024


def test_pause_speculates_then_ends_the_turn_and_hands_over_the_audio() -> None:
    ears = Ears()
    ears.feed(LOUD, 10)
    signals = ears.feed(QUIET, 20)
    kinds = [type(s) for s in signals]
    assert kinds == [Speculate, EndOfTurn]
    end = signals[-1]
    assert isinstance(end, EndOfTurn) and end.decided_at - end.speech_end_at >= 0.5
    audio = ears.listener.take_utterance()
    assert len(audio) >= 10 * 1024
    assert not ears.listener.speaking and ears.listener.utterance() == b""


def test_speech_after_the_speculation_resumes_the_same_utterance() -> None:
    ears = Ears()
    ears.feed(LOUD, 10)
    assert [type(s) for s in ears.feed(QUIET, 5)] == [Speculate]
    assert [type(s) for s in ears.feed(LOUD, 1)] == [SpeechResumed]
    assert ears.listener.in_speech
    assert len(ears.listener.utterance()) >= 16 * 1024


def test_prepended_audio_goes_before_the_utterance() -> None:
    ears = Ears()
    ears.feed(LOUD, 3)
    ears.listener.prepend(b"\x01\x00" * 100)
    assert ears.listener.utterance().startswith(b"\x01\x00" * 100)


def test_barge_in_needs_more_speech_while_the_agent_is_audible() -> None:
    ears = Ears()
    ears.audible = True
    assert ears.feed(LOUD, 4) == []  # 128 ms < interrupt_min_speech_ms (160 ms)
    assert [type(s) for s in ears.feed(LOUD, 1)] == [SpeechStart]


def test_wall_clock_ends_the_turn_when_audio_stops() -> None:
    ears = Ears()
    ears.feed(LOUD, 10)
    ears.feed(QUIET, 1)
    ears.clock.advance(0.6)
    assert [type(s) for s in ears.listener.poll()] == [Speculate, EndOfTurn]


def test_a_transcript_rule_shortens_the_wait() -> None:
    ears = Ears()
    ears.feed(LOUD, 10)
    ears.listener.end_turn_after(200.0)
    signals = ears.feed(QUIET, 7)
    assert [type(s) for s in signals] == [Speculate, EndOfTurn]


def test_overlong_utterance_ends_at_the_limit() -> None:
    ears = Ears(max_utterance_ms=1000.0)
    ears.feed(LOUD, 3)
    taken: list[int] = []
    for _ in range(80):
        for signal in ears.feed(LOUD):
            if isinstance(signal, EndOfTurn):
                taken.append(len(ears.listener.take_utterance()))
    assert len(taken) >= 2, "the speaker goes on: the next utterance starts"
    assert all(32_000 < n <= 32_000 + 1024 for n in taken), "each cut at the limit"


def test_commit_ends_the_utterance_now_or_says_there_is_none() -> None:
    ears = Ears()
    assert ears.listener.commit() is None
    ears.feed(LOUD, 5)
    end = ears.listener.commit()
    assert isinstance(end, EndOfTurn) and end.decided_at == ears.clock.now()
    assert not ears.listener.in_speech


def test_without_turn_detection_audio_waits_in_a_bounded_buffer() -> None:
    ears = Ears(detect_turns=False, max_utterance_ms=500.0)
    assert ears.feed(LOUD, 30) == []
    assert ears.listener.input_ms == 30 * 32
    pending = ears.listener.take_pending()
    assert len(pending) == 8000 * 2, "only the last 500 ms are kept"
    assert ears.listener.take_pending() == b""


def test_clear_drops_pending_audio_and_the_utterance() -> None:
    ears = Ears()
    ears.feed(LOUD, 5)
    ears.listener.clear()
    assert not ears.listener.speaking and not ears.listener.in_speech


def test_reconfigure_keeps_a_turn_in_progress_unless_detection_changes() -> None:
    ears = Ears()
    ears.feed(LOUD, 5)
    assert ears.listener.reconfigure(TurnConfig(vad_threshold=0.7), detect_turns=True) is False
    assert ears.listener.speaking
    assert ears.listener.reconfigure(TurnConfig(), detect_turns=False) is True
    assert not ears.listener.speaking and not ears.listener.detect_turns
