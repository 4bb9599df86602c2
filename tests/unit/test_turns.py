"""TurnDetector: speech start, speculation, end of turn, hysteresis, wall-time polling."""

from __future__ import annotations

import pytest

from parley.core.turns import (
    EndOfTurn,
    Speculate,
    SpeechResumed,
    SpeechStart,
    TurnConfig,
    TurnDetector,
    TurnSignal,
)

FRAME = 0.032
SPEECH = 0.9
SILENCE = 0.05
BAND = 0.42  # between threshold - 0.15 and threshold (0.5)


class Feed:
    """Drives a detector with frames 32 ms apart; ``now`` of frame i is start + i * 32 ms."""

    def __init__(self, config: TurnConfig | None = None, start: float = 100.0) -> None:
        self.detector = TurnDetector(config or TurnConfig())
        self.start = start
        self.frames = 0

    @property
    def now(self) -> float:
        return self.start + self.frames * FRAME

    def frame(self, prob: float) -> list[TurnSignal]:
        self.frames += 1
        return self.detector.on_frame(prob, self.now)

    def run(self, prob: float, n: int) -> list[list[TurnSignal]]:
        """Feed ``n`` frames; the signals of each frame."""
        return [self.frame(prob) for _ in range(n)]

    def start_turn(self, speech_frames: int = 5) -> None:
        out = self.run(SPEECH, speech_frames)
        assert any(isinstance(s, SpeechStart) for sigs in out for s in sigs)
        assert self.detector.in_speech


def _approx(signal: TurnSignal, expected: TurnSignal) -> None:
    assert type(signal) is type(expected)
    assert _fields(signal) == pytest.approx(_fields(expected), abs=1e-9)


def _fields(signal: TurnSignal) -> dict[str, float]:
    return {name: getattr(signal, name) for name in signal.__slots__}


def _nonempty(out: list[list[TurnSignal]]) -> dict[int, list[TurnSignal]]:
    """Frame index (1-based within the run) -> its signals, for frames that emitted any."""
    return {i + 1: sigs for i, sigs in enumerate(out) if sigs}


# ---------------------------------------------------------------- speech start


def test_speech_starts_after_min_speech_ms() -> None:
    f = Feed()
    out = f.run(SPEECH, 4)
    assert out[0] == out[1] == out[3] == []
    assert len(out[2]) == 1
    _approx(out[2][0], SpeechStart(at=f.start + 3 * FRAME - 0.096, preroll_ms=96.0))
    assert f.detector.in_speech


@pytest.mark.parametrize(("min_speech_ms", "frames"), [(32, 1), (64, 2), (100, 4), (200, 7)])
def test_preroll_equals_the_speech_run(min_speech_ms: float, frames: int) -> None:
    f = Feed(TurnConfig(min_speech_ms=min_speech_ms))
    out = _nonempty(f.run(SPEECH, frames + 2))
    assert list(out) == [frames]
    (start,) = out[frames]
    assert isinstance(start, SpeechStart)
    assert start.preroll_ms == pytest.approx(frames * 32.0)
    assert start.at == pytest.approx(f.start + frames * FRAME - frames * 0.032)


@pytest.mark.parametrize("blip", [1, 2])
def test_short_blips_do_not_start_a_turn(blip: int) -> None:
    f = Feed()
    for _ in range(5):
        assert f.run(SPEECH, blip) + f.run(SILENCE, 3) == [[]] * (blip + 3)
    assert not f.detector.in_speech


def test_silence_resets_the_speech_run() -> None:
    f = Feed()
    assert f.run(SPEECH, 2) == [[], []]
    assert f.frame(SILENCE) == []
    assert f.run(SPEECH, 2) == [[], []]
    assert isinstance(f.frame(SPEECH)[0], SpeechStart)


def test_threshold_itself_counts_as_speech() -> None:
    f = Feed(TurnConfig(vad_threshold=0.6))
    out = _nonempty(f.run(0.6, 3))
    assert list(out) == [3]


# ---------------------------------------------------------------- speculate and end of turn


def test_speculate_then_end_of_turn() -> None:
    f = Feed()
    f.start_turn()
    first_silent_at = f.now + FRAME
    out = _nonempty(f.run(SILENCE, 20))
    # 96 ms of silence = 3 frames, 500 ms -> 16 frames (512 ms)
    assert list(out) == [3, 16]
    (spec,) = out[3]
    _approx(spec, Speculate(speech_end_at=first_silent_at - 0.032))
    (eot,) = out[16]
    _approx(
        eot,
        EndOfTurn(speech_end_at=first_silent_at - 0.032, decided_at=first_silent_at + 15 * FRAME),
    )
    assert not f.detector.in_speech


def test_speculate_once_per_silence() -> None:
    f = Feed(TurnConfig(end_of_turn_silence_ms=2000))
    f.start_turn()
    signals = [s for sigs in f.run(SILENCE, 40) for s in sigs]
    assert len(signals) == 1
    assert isinstance(signals[0], Speculate)
    assert f.detector.in_speech


def test_speculate_and_end_in_the_same_frame_when_thresholds_are_equal() -> None:
    f = Feed(TurnConfig(speculative_stt_after_ms=500))
    f.start_turn()
    out = _nonempty(f.run(SILENCE, 20))
    assert list(out) == [16]
    assert [type(s) for s in out[16]] == [Speculate, EndOfTurn]


def test_no_speculation_when_it_would_come_after_end_of_turn() -> None:
    f = Feed(TurnConfig(speculative_stt_after_ms=1000))
    f.start_turn()
    out = _nonempty(f.run(SILENCE, 40))
    assert list(out) == [16]
    assert [type(s) for s in out[16]] == [EndOfTurn]


def test_nothing_after_end_of_turn_until_speech_starts_again() -> None:
    f = Feed()
    f.start_turn()
    f.run(SILENCE, 16)
    assert not f.detector.in_speech
    assert f.run(SILENCE, 30) == [[]] * 30
    assert f.detector.poll(f.now + 5.0) == []
    out = _nonempty(f.run(SPEECH, 3))
    assert list(out) == [3]
    assert isinstance(out[3][0], SpeechStart)


# ---------------------------------------------------------------- speech resuming


def test_speech_resumed_after_speculate_continues_the_turn() -> None:
    f = Feed()
    f.start_turn()
    out = _nonempty(f.run(SILENCE, 5))
    assert list(out) == [3]
    assert f.frame(SPEECH) == [SpeechResumed()]
    assert f.detector.in_speech
    assert f.run(SPEECH, 10) == [[]] * 10
    second_silent_at = f.now + FRAME
    out = _nonempty(f.run(SILENCE, 20))
    assert list(out) == [3, 16]
    _approx(out[3][0], Speculate(second_silent_at - 0.032))
    (eot,) = out[16]
    assert isinstance(eot, EndOfTurn)
    assert eot.speech_end_at == pytest.approx(second_silent_at - 0.032)


def test_speech_resumed_before_speculate_yields_nothing() -> None:
    f = Feed()
    f.start_turn()
    assert f.run(SILENCE, 2) == [[], []]
    assert f.frame(SPEECH) == []
    assert f.detector.in_speech
    second_silent_at = f.now + FRAME
    out = _nonempty(f.run(SILENCE, 20))
    assert list(out) == [3, 16]
    assert out[16][0] == EndOfTurn(
        speech_end_at=pytest.approx(second_silent_at - 0.032),  # type: ignore[arg-type]
        decided_at=pytest.approx(second_silent_at + 15 * FRAME),  # type: ignore[arg-type]
    )


def test_silence_count_restarts_after_resumed_speech() -> None:
    f = Feed()
    f.start_turn()
    f.run(SILENCE, 10)
    f.frame(SPEECH)
    out = _nonempty(f.run(SILENCE, 15))
    assert [type(s) for sigs in out.values() for s in sigs] == [Speculate]


# ---------------------------------------------------------------- hysteresis


def test_hysteresis_band_does_not_start_speech() -> None:
    f = Feed()
    assert f.run(BAND, 30) == [[]] * 30
    assert not f.detector.in_speech


def test_hysteresis_band_does_not_end_speech() -> None:
    f = Feed()
    f.start_turn()
    assert f.run(BAND, 40) == [[]] * 40
    assert f.detector.in_speech
    assert f.detector.poll(f.now + 0.1) == []


def test_hysteresis_band_counts_as_silence_once_trailing() -> None:
    f = Feed()
    f.start_turn()
    first_silent_at = f.now + FRAME
    assert f.frame(SILENCE) == []
    out = _nonempty(f.run(BAND, 20))
    # silent frames 2.. are band frames: speculate at frame 3 overall, end at 16
    assert list(out) == [2, 15]
    assert isinstance(out[2][0], Speculate)
    (eot,) = out[15]
    assert isinstance(eot, EndOfTurn)
    assert eot.speech_end_at == pytest.approx(first_silent_at - 0.032)


def test_hysteresis_follows_the_configured_threshold() -> None:
    f = Feed(TurnConfig(vad_threshold=0.8))
    assert f.run(0.7, 10) == [[]] * 10  # band [0.65, 0.8)
    f.start_turn()
    assert f.run(0.7, 30) == [[]] * 30
    assert f.detector.in_speech
    out = _nonempty(f.run(0.6, 20))  # below 0.65: silence
    assert list(out) == [3, 16]


# ---------------------------------------------------------------- wall time and bursts


def test_poll_reaches_end_of_turn_by_wall_time() -> None:
    f = Feed()
    f.start_turn()
    assert f.frame(SILENCE) == []
    silent_at = f.now
    det = f.detector
    assert det.poll(silent_at + 0.05) == []  # 50 + 32 ms
    _approx(det.poll(silent_at + 0.2)[0], Speculate(silent_at - 0.032))
    assert det.poll(silent_at + 0.3) == []
    assert det.poll(silent_at + 0.45) == []  # 450 + 32 < 500
    assert det.in_speech
    assert det.poll(silent_at + 0.47) == [
        EndOfTurn(
            speech_end_at=pytest.approx(silent_at - 0.032),  # type: ignore[arg-type]
            decided_at=silent_at + 0.47,
        )
    ]
    assert not det.in_speech
    assert det.poll(silent_at + 1.0) == []


def test_poll_does_nothing_while_speaking_or_idle() -> None:
    f = Feed()
    assert f.detector.poll(f.now + 10) == []
    f.start_turn()
    assert f.detector.poll(f.now + 10) == []
    assert f.detector.in_speech


def test_late_frame_after_a_gap_ends_the_turn_by_wall_time() -> None:
    f = Feed()
    f.start_turn()
    f.frame(SILENCE)
    silent_at = f.now
    signals = f.detector.on_frame(SILENCE, silent_at + 0.6)
    assert [type(s) for s in signals] == [Speculate, EndOfTurn]


def test_burst_reaches_end_of_turn_by_audio_time() -> None:
    det = TurnDetector(TurnConfig())
    now = 50.0
    speech = [det.on_frame(SPEECH, now) for _ in range(6)]
    assert _nonempty(speech) == {3: [SpeechStart(at=pytest.approx(now - 0.096), preroll_ms=96.0)]}  # type: ignore[arg-type]
    out = _nonempty([det.on_frame(SILENCE, now) for _ in range(20)])
    assert list(out) == [3, 16]
    assert out[16] == [EndOfTurn(speech_end_at=pytest.approx(now - 0.032), decided_at=now)]  # type: ignore[arg-type]


# ---------------------------------------------------------------- configuration and reset


def test_configurable_end_of_turn_silence() -> None:
    f = Feed(TurnConfig(end_of_turn_silence_ms=800))
    f.start_turn()
    out = _nonempty(f.run(SILENCE, 16))  # 512 ms
    assert [type(s) for sigs in out.values() for s in sigs] == [Speculate]
    assert f.detector.in_speech
    assert f.detector.poll(f.now + 0.2) == []  # 712 ms of wall silence
    out = _nonempty(f.run(SILENCE, 10))
    assert list(out) == [9]  # frame 25 = 800 ms
    assert isinstance(out[9][0], EndOfTurn)


def test_configurable_speculation_delay() -> None:
    f = Feed(TurnConfig(speculative_stt_after_ms=200))
    f.start_turn()
    out = _nonempty(f.run(SILENCE, 20))
    assert list(out) == [7, 16]  # 224 ms >= 200


def test_reset_forgets_the_turn_in_progress() -> None:
    f = Feed()
    f.start_turn()
    f.run(SILENCE, 5)
    f.detector.reset()
    assert not f.detector.in_speech
    assert f.run(SILENCE, 30) == [[]] * 30
    assert f.detector.poll(f.now + 5) == []
    assert f.frame(SPEECH) == []  # resuming after reset is a new turn, not SpeechResumed


def test_reset_forgets_a_partial_speech_run() -> None:
    f = Feed()
    f.run(SPEECH, 2)
    f.detector.reset()
    out = _nonempty(f.run(SPEECH, 3))
    assert list(out) == [3]


def test_a_new_turn_after_reset_works() -> None:
    f = Feed()
    f.start_turn()
    f.detector.reset()
    f.start_turn()
    out = _nonempty(f.run(SILENCE, 16))
    assert list(out) == [3, 16]
    assert isinstance(out[16][0], EndOfTurn)
