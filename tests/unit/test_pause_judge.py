"""Model-based end of turn (turn detection ``model``): a scripted end-of-turn model on a
manual clock decides how much silence ends each turn."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from parley.core.events import MetricsOut, ReconfigureIn, SpeechStopped, TurnPrediction
from parley.core.turns import TurnConfig
from parley.testing.fakes import ScriptedLLM, ScriptedSTT, ScriptedTurnModel
from tests.unit.test_session import LOUD, QUIET, Harness

MODEL = TurnConfig(detection="model")


class TurnHarness(Harness):
    turn_model: ScriptedTurnModel


def harness(turn: ScriptedTurnModel, *texts: str, turns: TurnConfig = MODEL) -> TurnHarness:
    return TurnHarness(ScriptedSTT(*texts), ScriptedLLM("Noon."), turn=turn, turns=turns)


async def test_a_finished_sounding_pause_ends_the_turn_after_the_short_silence() -> None:
    h = harness(ScriptedTurnModel(0.93), "what time is it")
    await h.session.start()
    await h.frames(LOUD, 10)
    await h.frames(QUIET, 5)  # 160 ms: the model has judged the pause, the turn goes on
    assert len(h.turn_model.calls) == 1
    assert len(h.turn_model.calls[0]) >= 10 * 1024, "the model hears the whole utterance"
    (verdict,) = h.of(TurnPrediction)
    assert verdict.finished and verdict.probability == pytest.approx(0.93)
    assert verdict.wait_ms == 300
    assert h.of(SpeechStopped) == []
    await h.frames(QUIET, 5)  # 320 ms of silence: past 300 ms
    assert len(h.of(SpeechStopped)) == 1
    await h.wait(2.0)
    assert h.finals("user") == ["what time is it"]
    (metrics,) = h.of(MetricsOut)
    assert metrics.latency_ms["endpointing"] is not None
    assert metrics.latency_ms["endpointing"] < 400, "well below the 500 ms silence rule"
    assert metrics.latency_ms["turn_model"] is not None
    await h.session.close("client")


async def test_an_unfinished_sounding_pause_waits_for_the_rest() -> None:
    h = harness(ScriptedTurnModel(0.08, 0.95), "I would like to", "I would like to book a table")
    await h.session.start()
    await h.frames(LOUD, 10)
    await h.frames(QUIET, 25)  # 800 ms: the silence rule would have ended the turn
    assert h.of(SpeechStopped) == [], "the speaker sounded mid-thought"
    assert h.llm.requests == [], "no reply is prepared for a pause judged unfinished"
    assert not h.of(TurnPrediction)[0].finished
    await h.frames(LOUD, 10)  # the rest of the sentence
    await h.frames(QUIET, 10)
    assert len(h.turn_model.calls) == 2
    assert len(h.turn_model.calls[1]) > len(h.turn_model.calls[0])
    await h.wait(2.0)
    assert h.finals("user") == ["I would like to book a table"]
    assert len(h.of(SpeechStopped)) == 1
    await h.session.close("client")


async def test_an_unfinished_pause_ends_the_turn_after_the_long_silence() -> None:
    h = harness(ScriptedTurnModel(0.2), "so")
    await h.session.start()
    await h.frames(LOUD, 10)
    await h.frames(QUIET, 45)  # 1.44 s
    assert h.of(SpeechStopped) == []
    await h.frames(QUIET, 8)  # past 1.6 s
    assert len(h.of(SpeechStopped)) == 1
    await h.session.close("client")


async def test_silence_mode_never_asks_the_model() -> None:
    h = harness(ScriptedTurnModel(0.99), "what time is it", turns=TurnConfig())
    await h.session.start()
    await h.frames(LOUD, 10)
    await h.frames(QUIET, 12)  # 384 ms
    assert h.of(SpeechStopped) == []
    await h.frames(QUIET, 5)  # past 500 ms
    assert len(h.of(SpeechStopped)) == 1
    assert h.turn_model.calls == [] and h.of(TurnPrediction) == []
    await h.session.close("client")


async def test_a_failing_model_leaves_the_silence_rule_in_charge() -> None:
    model = ScriptedTurnModel(0.99)
    model.fail = True
    h = harness(model, "what time is it")
    await h.session.start()
    await h.frames(LOUD, 10)
    await h.frames(QUIET, 12)
    assert h.of(SpeechStopped) == [] and h.of(TurnPrediction) == []
    await h.frames(QUIET, 5)
    assert len(h.of(SpeechStopped)) == 1
    await h.session.close("client")


async def test_a_slow_verdict_never_delays_the_turn_beyond_the_silence_rule() -> None:
    model = ScriptedTurnModel(0.05)
    model.gate = asyncio.Event()  # the verdict never comes in time
    h = harness(model, "what time is it")
    await h.session.start()
    await h.frames(LOUD, 10)
    await h.frames(QUIET, 17)  # 544 ms
    assert len(h.of(SpeechStopped)) == 1
    model.gate.set()  # the late verdict is for a pause that is over
    await h.wait(1.0)
    assert h.of(TurnPrediction) == []
    assert h.finals("user") == ["what time is it"]
    await h.session.close("client")


async def test_words_that_say_more_is_coming_still_hold_a_finished_sounding_turn() -> None:
    h = harness(ScriptedTurnModel(0.9), "I want to go and")
    await h.session.start()
    await h.frames(LOUD, 10)
    await h.frames(QUIET, 10)  # 320 ms: the model ended the turn
    assert len(h.of(SpeechStopped)) == 1
    assert h.finals("user") == [], "held: a trailing 'and'"
    await h.wait(1.5)
    assert h.finals("user") == ["I want to go and"]
    await h.session.close("client")


async def test_the_mode_can_change_mid_session() -> None:
    model = ScriptedTurnModel(0.9)
    h = harness(model, "hello there", turns=TurnConfig())
    await h.session.start()
    await h.session.handle(ReconfigureIn(replace(h.session.agent, turns=MODEL)))
    await h.frames(LOUD, 10)
    await h.frames(QUIET, 11)  # 352 ms: past the model's 300 ms, short of 500
    assert len(model.calls) == 1 and len(h.of(SpeechStopped)) == 1
    await h.session.close("client")


async def test_stt_time_is_the_transcription_not_the_wait_for_the_turn_to_end() -> None:
    h = harness(ScriptedTurnModel(0.2), "so I was thinking")
    await h.session.start()
    await h.frames(LOUD, 10)
    await h.frames(QUIET, 60)  # the turn ends after 1.6 s of silence
    await h.wait(2.0)
    (metrics,) = h.of(MetricsOut)
    assert metrics.latency_ms["endpointing"] is not None
    assert metrics.latency_ms["endpointing"] > 1500
    stt = metrics.latency_ms["stt"]
    assert stt is not None and stt < 100, "the scripted STT answers at once"
    assert metrics.latency_ms["stt_wait_after_end_of_turn"] == 0.0
    await h.session.close("client")
