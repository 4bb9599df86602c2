"""VoiceSession turn-taking with scripted models on a manual clock."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from parley.core.events import (
    AgentTurnEnd,
    AudioIn,
    AudioOut,
    Connected,
    ControlAck,
    ControlIn,
    EndIn,
    ErrorOut,
    Interruption,
    MetricsOut,
    PingIn,
    Pong,
    SessionEnded,
    SpeechStarted,
    SpeechStopped,
    TextIn,
    ToolResultIn,
    TranscriptOut,
)
from parley.core.records import TurnRecord
from parley.core.session import AgentConfig, SessionModels, VoiceSession
from parley.testing.fakes import LoudnessVAD, ManualClock, ScriptedLLM, ScriptedSTT, ToneTTS

FRAME = 0.032
LOUD = (np.sin(np.arange(512) / 3.0) * 6000).astype("<i2").tobytes()
QUIET = bytes(1024)


class Recorder:
    def __init__(self) -> None:
        self.turns: list[TurnRecord] = []
        self.ended: list[str] = []

    async def on_turn(self, record: TurnRecord) -> None:
        self.turns.append(record)

    async def on_end(self, reason: str) -> None:
        self.ended.append(reason)


class Harness:
    def __init__(self, stt: ScriptedSTT, llm: ScriptedLLM, first_message: str | None) -> None:
        self.events: list[object] = []
        self.clock = ManualClock()
        self.stt, self.llm, self.tts, self.vad = stt, llm, ToneTTS(), LoudnessVAD()
        self.recorder = Recorder()

        async def emit(event: object) -> None:
            self.events.append(event)

        self.session = VoiceSession(
            conversation_id="ses_test",
            agent=AgentConfig("agt_test", "Be brief.", "tone", first_message),
            models=SessionModels(self.stt, self.llm, self.tts, self.vad),
            emit=emit,  # type: ignore[arg-type]
            clock=self.clock,
            observer=self.recorder,
        )

    async def settle(self) -> None:
        for _ in range(100):
            await asyncio.sleep(0)

    async def frames(self, frame: bytes, count: int) -> None:
        for _ in range(count):
            self.clock.advance(FRAME)
            await self.session.handle(AudioIn(frame))
            await self.settle()

    def of(self, kind: type) -> list:  # type: ignore[type-arg]
        return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture
async def h() -> Harness:
    harness = Harness(ScriptedSTT("what time is it"), ScriptedLLM("It is noon. Enjoy lunch."), None)
    await harness.session.start()
    yield harness  # type: ignore[misc]
    await harness.session.close("client")


async def test_first_message_is_spoken_on_connect() -> None:
    h = Harness(ScriptedSTT(), ScriptedLLM(), "Hello there.")
    await h.session.start()
    await h.settle()
    assert isinstance(h.events[0], Connected)
    assert h.events[0].conversation_id == "ses_test"
    audio = h.of(AudioOut)
    assert audio and {a.turn_id for a in audio} == {"turn_1"}
    assert [a.seq for a in audio] == list(range(len(audio)))
    seconds = sum(len(a.pcm) for a in audio) / 2 / 16000
    assert seconds == pytest.approx(0.06 * len("Hello there."), rel=0.05)
    finals = [t for t in h.of(TranscriptOut) if t.final]
    assert [(t.role, t.text) for t in finals] == [("agent", "Hello there.")]
    assert h.of(AgentTurnEnd) == [AgentTurnEnd("turn_1")]
    assert h.of(MetricsOut) == []
    assert h.llm.requests == []
    (prefill,) = h.llm.prefills
    assert prefill[-1] == {"role": "assistant", "content": "Hello there."}
    await h.session.handle(TextIn("hi"))
    await h.settle()
    assert h.llm.requests[0][: len(prefill)] == prefill, "the first reply extends the prefill"
    await h.session.close("client")


async def test_spoken_turn_runs_stt_llm_tts_and_reports_metrics(h: Harness) -> None:
    await h.frames(LOUD, 2)
    assert h.of(SpeechStarted) == []  # 64 ms is below min_speech_ms
    await h.frames(LOUD, 8)
    assert len(h.of(SpeechStarted)) == 1
    await h.frames(QUIET, 4)
    assert len(h.stt.calls) == 1, "STT starts speculatively before end of turn"
    assert h.of(SpeechStopped) == []
    await h.frames(QUIET, 12)
    assert len(h.of(SpeechStopped)) == 1
    await h.settle()
    user = [t for t in h.of(TranscriptOut) if t.role == "user"]
    assert [(t.text, t.final) for t in user] == [("what time is it", True)]
    agent_final = [t for t in h.of(TranscriptOut) if t.role == "agent" and t.final]
    assert [t.text for t in agent_final] == ["It is noon. Enjoy lunch."]
    assert h.tts.spoken == ["It is noon.", "Enjoy lunch."]
    assert len(h.stt.calls[0]) >= 10 * 1024, "the utterance includes all speech frames"
    (metrics,) = h.of(MetricsOut)
    assert metrics.turn_id == user[0].turn_id
    assert metrics.latency_ms["endpointing"] == pytest.approx(512, abs=33)
    assert metrics.latency_ms["voice_to_voice"] is not None
    assert metrics.latency_ms["voice_to_voice"] >= metrics.latency_ms["endpointing"]
    request = h.llm.requests[0]
    assert request[0]["role"] == "system" and "Be brief." in request[0]["content"]
    assert request[-1] == {"role": "user", "content": "what time is it"}
    assert [(r.role, r.text, r.interrupted) for r in h.recorder.turns] == [
        ("user", "what time is it", False),
        ("agent", "It is noon. Enjoy lunch.", False),
    ]


async def test_speculative_transcript_is_discarded_when_speech_resumes() -> None:
    h = Harness(ScriptedSTT("what time", "what time is it in Paris"), ScriptedLLM("Noon."), None)
    await h.session.start()
    await h.frames(LOUD, 10)
    await h.frames(QUIET, 5)
    assert len(h.stt.calls) == 1
    await h.frames(LOUD, 10)
    await h.frames(QUIET, 20)
    assert len(h.stt.calls) == 2
    assert len(h.stt.calls[1]) > len(h.stt.calls[0])
    user = [t.text for t in h.of(TranscriptOut) if t.role == "user"]
    assert user == ["what time is it in Paris"]
    assert len(h.of(SpeechStarted)) == 1 and len(h.of(SpeechStopped)) == 1
    await h.session.close("client")


async def test_end_of_turn_by_wall_clock_when_audio_stops(h: Harness) -> None:
    await h.frames(LOUD, 10)
    await h.frames(QUIET, 1)
    for _ in range(30):
        h.clock.advance(0.02)
        await h.settle()
    assert len(h.of(SpeechStopped)) == 1
    assert [t.text for t in h.of(TranscriptOut) if t.role == "user"] == ["what time is it"]


async def test_utterance_without_words_is_ignored() -> None:
    h = Harness(ScriptedSTT("[BLANK_AUDIO]"), ScriptedLLM("Should not be said."), None)
    await h.session.start()
    await h.frames(LOUD, 10)
    await h.frames(QUIET, 20)
    assert len(h.of(SpeechStopped)) == 1
    assert h.of(TranscriptOut) == [] and h.llm.requests == [] and h.of(AudioOut) == []
    await h.session.close("client")


async def test_typed_text_gets_an_answer_without_voice_metrics(h: Harness) -> None:
    await h.session.handle(TextIn("hello"))
    await h.settle()
    texts = [(t.role, t.text) for t in h.of(TranscriptOut) if t.final]
    assert texts == [("user", "hello"), ("agent", "It is noon. Enjoy lunch.")]
    (metrics,) = h.of(MetricsOut)
    assert metrics.latency_ms["voice_to_voice"] is None
    assert metrics.latency_ms["llm_first_token"] is not None


async def test_barge_in_cancels_the_agent_and_keeps_only_what_was_said() -> None:
    llm = ScriptedLLM("One. Two. Three.")
    llm.gate, llm.pause_after = asyncio.Event(), 2  # the reply stalls after "One. Two."
    h = Harness(ScriptedSTT("stop"), llm, None)
    await h.session.start()
    await h.session.handle(TextIn("count to three"))
    await h.settle()
    assert h.tts.spoken == ["One."]
    turn_id = h.of(AudioOut)[0].turn_id
    await h.frames(LOUD, 4)
    assert h.of(Interruption) == [Interruption(turn_id)]
    assert h.session.context.history[-1] == {
        "role": "assistant",
        "content": "One. [interrupted by the user]",
    }
    agent_records = [r for r in h.recorder.turns if r.role == "agent"]
    assert [(r.text, r.interrupted) for r in agent_records] == [("One.", True)]
    assert not [e for e in h.of(AgentTurnEnd) if e.turn_id == turn_id]
    await h.session.close("client")


async def test_ping_controls_and_unknown_tool_result(h: Harness) -> None:
    await h.session.handle(PingIn(ts=5))
    assert h.of(Pong) == [Pong(5)]
    for action in ("interrupt", "stop_listening", "start_listening", "pause", "resume"):
        await h.session.handle(ControlIn(action))  # type: ignore[arg-type]
    assert [a.action for a in h.of(ControlAck)] == [
        "interrupt",
        "stop_listening",
        "start_listening",
        "pause",
        "resume",
    ]
    await h.session.handle(ControlIn("stop_listening"))
    await h.frames(LOUD, 10)
    assert h.vad.frames == 0 and h.of(SpeechStarted) == []
    await h.session.handle(ToolResultIn("call_1", {"ok": True}))
    (error,) = h.of(ErrorOut)
    assert error.code == "validation_error" and "call_1" in error.message


async def test_close_cancels_the_running_turn_and_ignores_later_input() -> None:
    llm = ScriptedLLM("One. Two. Three.")
    llm.gate, llm.pause_after = asyncio.Event(), 2
    h = Harness(ScriptedSTT(), llm, None)
    await h.session.start()
    await h.session.handle(TextIn("count"))
    await h.settle()
    await h.session.handle(EndIn())
    assert h.of(SessionEnded) == [SessionEnded("client")]
    assert h.recorder.ended == ["client"], "the end is stored once"
    assert [(r.text, r.interrupted) for r in h.recorder.turns if r.role == "agent"] == [
        ("One.", True)
    ]
    assert h.session.ended == "client"
    pending = [t for t in asyncio.all_tasks() if t.get_name().startswith("parley-")]
    assert pending == []
    before = len(h.events)
    await h.session.handle(TextIn("anyone there?"))
    await h.session.close("error")
    assert len(h.events) == before
    assert h.recorder.ended == ["client"]


async def test_a_finished_turn_is_not_cancelled_by_close(h: Harness) -> None:
    await h.session.handle(TextIn("hello"))
    await h.settle()
    await h.session.close("client")
    agent = [r for r in h.recorder.turns if r.role == "agent"]
    assert [(r.text, r.interrupted) for r in agent] == [("It is noon. Enjoy lunch.", False)]
    assert agent[0].latency_ms["llm_first_token"] is not None
