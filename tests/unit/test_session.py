"""VoiceSession turn-taking with scripted models on a manual clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from parley.core.agent import AgentConfig, AgentLayer, EngineConfig, SessionModels
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
    PlaybackIn,
    Pong,
    SessionEnded,
    SpeechStarted,
    SpeechStopped,
    TextIn,
    ToolResultIn,
    TranscriptOut,
)
from parley.core.records import TurnRecord
from parley.core.session import VoiceSession
from parley.core.upkeep import IDLE_GOODBYE, IDLE_PROMPT, MAX_TURNS_GOODBYE
from parley.providers.turn.base import TurnModel
from parley.testing.fakes import LoudnessVAD, ManualClock, ScriptedLLM, ScriptedSTT, ToneTTS

FRAME = 0.032
LOUD = (np.sin(np.arange(512) / 3.0) * 6000).astype("<i2").tobytes()
QUIET = bytes(1024)
LONG_REPLY = "One two three four five six seven eight. Nine ten eleven twelve."


class Recorder:
    def __init__(self) -> None:
        self.turns: list[TurnRecord] = []
        self.ended: list[str] = []

    async def on_turn(self, record: TurnRecord) -> None:
        self.turns.append(record)

    async def on_turn_truncated(self, turn_id: str, text: str) -> None:
        self.turns = [
            replace(r, text=text, interrupted=True) if r.turn_id == turn_id else r
            for r in self.turns
        ]

    async def on_tool_output(self, turn_id: str, call_id: str, output: object) -> None:
        self.turns = [
            replace(
                r,
                tool_calls=tuple(
                    replace(c, output=output) if c.call_id == call_id else c for c in r.tool_calls
                ),
            )
            if r.turn_id == turn_id and r.role == "agent"
            else r
            for r in self.turns
        ]

    async def on_end(self, reason: str) -> None:
        self.ended.append(reason)

    def agent(self) -> list[tuple[str, bool]]:
        return [(r.text, r.interrupted) for r in self.turns if r.role == "agent"]


class Harness:
    def __init__(
        self,
        stt: ScriptedSTT,
        llm: ScriptedLLM,
        first_message: str | None = None,
        *,
        layer: AgentLayer | None = None,
        turn: TurnModel | None = None,
        tts: ToneTTS | None = None,
        **agent: object,
    ) -> None:
        self.events: list[object] = []
        self.clock = ManualClock()
        self.stt, self.llm, self.tts, self.vad = stt, llm, tts or ToneTTS(), LoudnessVAD()
        self.turn_model = turn
        self.recorder = Recorder()

        async def emit(event: object) -> None:
            self.events.append(event)

        self.session = VoiceSession(
            conversation_id="ses_test",
            agent=AgentConfig("agt_test", "Be brief.", "tone", first_message, **agent),  # type: ignore[arg-type]
            models=SessionModels(self.stt, self.llm, self.tts, self.vad, turn),
            emit=emit,  # type: ignore[arg-type]
            clock=self.clock,
            engine=EngineConfig(output_lead_ms=300.0),
            observer=self.recorder,
            layer=layer,
            wallclock=lambda: datetime.fromtimestamp(1.8e9 + self.clock.now(), UTC),
        )

    async def settle(self) -> None:
        for _ in range(60):
            await asyncio.sleep(0)

    async def frames(self, frame: bytes, count: int) -> None:
        """Stream ``count`` frames in real time (the clock moves 32 ms per frame)."""
        for _ in range(count):
            self.clock.advance(FRAME)
            await self.session.handle(AudioIn(frame))
            await self.settle()

    async def wait(self, seconds: float) -> None:
        """Let time pass without audio (the agent keeps talking and playing)."""
        for _ in range(round(seconds / 0.02)):
            self.clock.advance(0.02)
            await self.settle()

    def of(self, kind: type) -> list:  # type: ignore[type-arg]
        return [e for e in self.events if isinstance(e, kind)]

    def finals(self, role: str) -> list[str]:
        return [t.text for t in self.of(TranscriptOut) if t.final and t.role == role]

    def audio_ms(self, turn_id: str | None = None) -> float:
        pcm = sum(len(a.pcm) for a in self.of(AudioOut) if turn_id in (None, a.turn_id))
        return pcm / 2 / 16000 * 1000


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    harness = Harness(ScriptedSTT("what time is it"), ScriptedLLM("It is noon. Enjoy lunch."))
    await harness.session.start()
    yield harness
    await harness.session.close("client")


async def test_first_message_is_spoken_on_connect() -> None:
    h = Harness(ScriptedSTT(), ScriptedLLM(), "Hello there.")
    await h.session.start()
    await h.wait(1.5)
    assert isinstance(h.events[0], Connected)
    assert h.events[0].conversation_id == "ses_test"
    audio = h.of(AudioOut)
    assert audio and {a.turn_id for a in audio} == {"turn_1"}
    assert [a.seq for a in audio] == list(range(len(audio)))
    assert h.audio_ms() == pytest.approx(60 * len("Hello there."), rel=0.05)
    assert h.finals("agent") == ["Hello there."]
    assert h.of(AgentTurnEnd) == [AgentTurnEnd("turn_1")]
    assert h.of(MetricsOut) == []
    assert h.llm.requests == []
    assert h.recorder.agent() == [("Hello there.", False)]
    (prefill,) = h.llm.prefills
    assert prefill[-1] == {"role": "assistant", "content": "Hello there."}
    await h.session.handle(TextIn("hi"))
    await h.wait(0.1)
    assert h.llm.requests[0][: len(prefill)] == prefill, "the first reply extends the prefill"
    await h.session.close("client")


async def test_audio_is_paced_to_real_time_plus_lead() -> None:
    h = Harness(ScriptedSTT(), ScriptedLLM(), "A rather long greeting to pace.")  # ~1.9 s
    await h.session.start()
    await h.settle()
    sent_at_start = h.audio_ms()
    assert 250 <= sent_at_start <= 300 + 250, "one chunk plus at most the lead ahead"
    await h.wait(0.5)
    assert h.audio_ms() <= 500 + 300 + 250
    assert h.of(AgentTurnEnd) == []
    await h.wait(2.0)
    assert h.of(AgentTurnEnd) == [AgentTurnEnd("turn_1")]
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
    await h.wait(3.0)
    user = [t for t in h.of(TranscriptOut) if t.role == "user"]
    assert [(t.text, t.final) for t in user] == [("what time is it", True)]
    assert h.finals("agent") == ["It is noon. Enjoy lunch."]
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
    h = Harness(ScriptedSTT("what time", "what time is it in Paris"), ScriptedLLM("Noon."))
    await h.session.start()
    await h.frames(LOUD, 10)
    await h.frames(QUIET, 5)
    assert len(h.stt.calls) == 1
    await h.frames(LOUD, 10)
    await h.frames(QUIET, 20)
    assert len(h.stt.calls) == 2
    assert len(h.stt.calls[1]) > len(h.stt.calls[0])
    assert h.finals("user") == ["what time is it in Paris"]
    assert len(h.of(SpeechStarted)) == 1 and len(h.of(SpeechStopped)) == 1
    await h.session.close("client")


async def test_reply_is_prepared_during_the_pause_and_released_at_end_of_turn(
    h: Harness,
) -> None:
    await h.frames(LOUD, 10)
    await h.frames(QUIET, 6)  # the speculative transcript is ready: the LLM starts
    assert len(h.llm.requests) == 1
    assert h.llm.requests[0][-1] == {"role": "user", "content": "what time is it"}
    assert h.of(AudioOut) == [] and h.of(TranscriptOut) == [], "nothing is released yet"
    assert h.session.context.history == []
    await h.frames(QUIET, 10)
    assert len(h.of(SpeechStopped)) == 1
    kinds = [type(e).__name__ for e in h.events]
    assert kinds.index("TranscriptOut") < kinds.index("AudioOut"), "user transcript first"
    assert h.finals("user") == ["what time is it"]
    await h.wait(3.0)
    assert h.finals("agent") == ["It is noon. Enjoy lunch."]
    assert len(h.llm.requests) == 1, "the prepared reply was used"


async def test_prepared_reply_is_dropped_when_the_user_goes_on() -> None:
    h = Harness(ScriptedSTT("what time", "what time is it in Paris"), ScriptedLLM("Noon."))
    await h.session.start()
    await h.frames(LOUD, 10)
    await h.frames(QUIET, 6)
    assert len(h.llm.requests) == 1
    await h.frames(LOUD, 10)  # not finished after all
    await h.frames(QUIET, 20)
    await h.wait(1.0)
    assert h.finals("user") == ["what time is it in Paris"]
    assert [r[-1]["content"] for r in h.llm.requests] == ["what time", "what time is it in Paris"]
    assert {a.turn_id for a in h.of(AudioOut)} == {h.of(TranscriptOut)[0].turn_id}
    assert h.session.context.history[0] == {"role": "user", "content": "what time is it in Paris"}
    await h.session.close("client")


async def test_end_of_turn_by_wall_clock_when_audio_stops(h: Harness) -> None:
    await h.frames(LOUD, 10)
    await h.frames(QUIET, 1)
    await h.wait(0.6)
    assert len(h.of(SpeechStopped)) == 1
    assert h.finals("user") == ["what time is it"]


async def test_utterance_without_words_is_ignored() -> None:
    h = Harness(ScriptedSTT("[BLANK_AUDIO]"), ScriptedLLM("Should not be said."))
    await h.session.start()
    await h.frames(LOUD, 10)
    await h.frames(QUIET, 20)
    assert len(h.of(SpeechStopped)) == 1
    assert h.of(TranscriptOut) == [] and h.llm.requests == [] and h.of(AudioOut) == []
    await h.session.close("client")


async def test_typed_text_gets_an_answer_without_voice_metrics(h: Harness) -> None:
    await h.session.handle(TextIn("hello"))
    await h.wait(2.0)
    assert h.finals("user") == ["hello"]
    assert h.finals("agent") == ["It is noon. Enjoy lunch."]
    (metrics,) = h.of(MetricsOut)
    assert metrics.latency_ms["voice_to_voice"] is None
    assert metrics.latency_ms["llm_first_token"] is not None


# ---------------------------------------------------------------- barge-in


async def _talking(stt: ScriptedSTT, *, speak_s: float = 1.0) -> Harness:
    """A harness whose agent is in the middle of LONG_REPLY (about 3.8 s of audio)."""
    h = Harness(stt, ScriptedLLM(LONG_REPLY))
    await h.session.start()
    await h.session.handle(TextIn("count"))
    await h.wait(speak_s)
    assert h.of(AudioOut) and h.of(AgentTurnEnd) == []
    return h


async def test_speech_below_the_interrupt_threshold_does_not_interrupt() -> None:
    h = await _talking(ScriptedSTT("stop"))
    await h.frames(LOUD, 4)  # 128 ms < interrupt threshold (160 ms)
    await h.frames(QUIET, 20)
    assert h.of(Interruption) == [] and h.of(SpeechStarted) == []
    await h.wait(4.0)
    assert h.finals("agent") == [LONG_REPLY]
    await h.session.close("client")


async def test_barge_in_with_words_truncates_to_what_was_heard() -> None:
    h = await _talking(ScriptedSTT("wait, stop please"))
    turn_id = h.of(AudioOut)[0].turn_id
    await h.frames(LOUD, 5)
    assert h.of(Interruption) == [Interruption(turn_id)]
    sent = len(h.of(AudioOut))
    await h.wait(0.5)
    assert len([a for a in h.of(AudioOut) if a.turn_id == turn_id]) == sent, "audio stopped"
    await h.frames(QUIET, 20)
    await h.wait(2.0)
    assert h.finals("user")[-1] == "wait, stop please"
    (cut,) = [r for r in h.recorder.turns if r.role == "agent" and r.interrupted]
    played = 1000 + 5 * 32 - 100  # elapsed since the first chunk, minus the playout delay
    words = len(cut.text.split())
    assert 3 <= words <= 6, cut.text  # ~1 s of "One two three four five six seven eight."
    assert LONG_REPLY.startswith(cut.text) and played > 0
    history = h.session.context.history
    i = history.index({"role": "assistant", "content": f"{cut.text} [interrupted by the user]"})
    assert history[i + 1] == {"role": "user", "content": "wait, stop please"}
    assert len(h.llm.requests) == 2, "the agent answered the new utterance"
    await h.session.close("client")


async def test_playback_reports_decide_what_was_heard() -> None:
    h = await _talking(ScriptedSTT("stop"))
    await h.session.handle(PlaybackIn(played_ms=0))
    await h.frames(LOUD, 5)
    await h.frames(QUIET, 20)
    await h.wait(0.5)
    (cut,) = [r for r in h.recorder.turns if r.role == "agent" and r.interrupted]
    assert cut.text == ""
    await h.session.close("client")


async def test_backchannel_resumes_the_agent_where_it_stopped() -> None:
    h = await _talking(ScriptedSTT("Mhm."))
    turn_id = h.of(AudioOut)[0].turn_id
    await h.frames(LOUD, 6)
    assert h.of(Interruption) == [Interruption(turn_id)]
    await h.frames(QUIET, 20)
    await h.wait(5.0)
    assert h.finals("user") == ["count"], "a backchannel is not a user turn"
    resumed = [a for a in h.of(AudioOut) if a.turn_id != turn_id]
    assert resumed, "the agent went on speaking"
    agent_records = h.recorder.agent()
    assert agent_records[-1][0] == " ".join(LONG_REPLY.split()) and not agent_records[-1][1]
    assert h.session.context.history[-1]["content"] == LONG_REPLY
    assert len(h.llm.requests) == 1, "resuming needs no new LLM call"
    await h.session.close("client")


async def test_interrupt_control_stops_the_agent_now() -> None:
    h = await _talking(ScriptedSTT())
    turn_id = h.of(AudioOut)[0].turn_id
    await h.session.handle(ControlIn("interrupt"))
    assert h.of(Interruption) == [Interruption(turn_id)]
    assert h.of(ControlAck) == [ControlAck("interrupt")]
    (cut,) = [r for r in h.recorder.turns if r.role == "agent"]
    assert cut.interrupted and LONG_REPLY.startswith(cut.text)
    await h.session.close("client")


# ---------------------------------------------------------------- end of turn rules


async def test_trailing_number_holds_the_turn_and_merges_the_rest() -> None:
    h = Harness(ScriptedSTT("my number is 555 12.", "my number is 555 1234."), ScriptedLLM("Ok."))
    await h.session.start()
    await h.frames(LOUD, 10)
    await h.frames(QUIET, 20)  # 640 ms: past the 500 ms default
    assert len(h.of(SpeechStopped)) == 1
    assert h.finals("user") == [], "held: the digits look unfinished"
    await h.frames(LOUD, 10)  # the user goes on within the 1.2 s hold
    await h.frames(QUIET, 20)
    await h.wait(1.0)
    assert h.finals("user") == ["my number is 555 1234."]
    assert len(h.stt.calls[-1]) > 20 * 1024, "the held audio is part of the final utterance"
    await h.session.close("client")


async def test_held_turn_is_answered_when_the_user_stays_silent() -> None:
    h = Harness(ScriptedSTT("I want to go and"), ScriptedLLM("Where to?"))
    await h.session.start()
    await h.frames(LOUD, 10)
    await h.frames(QUIET, 25)  # 800 ms
    assert h.finals("user") == []
    await h.wait(1.0)  # past 1.5 s of silence
    assert h.finals("user") == ["I want to go and"]
    await h.session.close("client")


async def test_clear_question_ends_the_turn_sooner() -> None:
    h = Harness(ScriptedSTT("What time is it?"), ScriptedLLM("Noon."))
    await h.session.start()
    await h.frames(LOUD, 10)
    await h.frames(QUIET, 10)  # 320 ms of silence; speculative STT done at 96 ms
    assert len(h.of(SpeechStopped)) == 1, "a question needs only 300 ms"
    await h.session.close("client")


# ---------------------------------------------------------------- controls, idle, limits


async def test_pause_freezes_output_and_input_until_resume() -> None:
    h = await _talking(ScriptedSTT("hello"), speak_s=0.5)
    await h.session.handle(ControlIn("pause"))
    sent = h.audio_ms()
    await h.wait(2.0)
    await h.frames(LOUD, 10)
    assert h.audio_ms() == sent, "no audio while paused"
    assert h.of(SpeechStarted) == [] and h.vad.frames == 0, "no input while paused"
    await h.session.handle(ControlIn("resume"))
    await h.wait(5.0)
    assert h.finals("agent") == [LONG_REPLY]
    assert [a.action for a in h.of(ControlAck)] == ["pause", "resume"]
    await h.session.close("client")


async def test_ping_listening_controls_and_unknown_tool_result(h: Harness) -> None:
    await h.session.handle(PingIn(ts=5))
    assert h.of(Pong) == [Pong(5)]
    await h.session.handle(ControlIn("stop_listening"))
    await h.frames(LOUD, 10)
    assert h.vad.frames == 0 and h.of(SpeechStarted) == []
    await h.session.handle(ControlIn("start_listening"))
    await h.frames(LOUD, 10)
    assert len(h.of(SpeechStarted)) == 1
    await h.session.handle(ToolResultIn("call_1", {"ok": True}))
    (error,) = h.of(ErrorOut)
    assert error.code == "validation_error" and "call_1" in error.message


async def test_idle_user_is_prompted_then_the_session_ends() -> None:
    h = Harness(ScriptedSTT(), ScriptedLLM(), "Hi.", idle_timeout_ms=5000, idle_prompts=2)
    await h.session.start()
    await h.wait(4.0)
    assert h.finals("agent") == ["Hi."]
    await h.wait(3.0)
    assert h.finals("agent") == ["Hi.", IDLE_PROMPT]
    await h.wait(7.0)
    assert h.finals("agent") == ["Hi.", IDLE_PROMPT, IDLE_PROMPT]
    await h.wait(15.0)
    assert h.finals("agent")[-1] == IDLE_GOODBYE
    assert h.of(SessionEnded) == [SessionEnded("idle")]
    assert h.recorder.ended == ["idle"] and h.session.ended_event.is_set()


async def test_user_activity_resets_the_idle_timer() -> None:
    h = Harness(ScriptedSTT("yes"), ScriptedLLM("Good."), idle_timeout_ms=3000)
    await h.session.start()
    await h.wait(2.5)
    await h.frames(LOUD, 10)
    await h.frames(QUIET, 20)
    await h.wait(2.0)
    assert IDLE_PROMPT not in h.finals("agent")
    await h.session.close("client")


async def test_max_turns_says_goodbye_and_ends() -> None:
    h = Harness(ScriptedSTT(), ScriptedLLM("Sure."), max_turns=1)
    await h.session.start()
    await h.session.handle(TextIn("one"))
    await h.wait(6.0)
    assert h.finals("agent") == ["Sure.", MAX_TURNS_GOODBYE]
    assert h.of(SessionEnded) == [SessionEnded("max_turns")]
    assert h.recorder.ended == ["max_turns"]


async def test_close_cancels_the_running_turn_and_ignores_later_input() -> None:
    llm = ScriptedLLM(LONG_REPLY)
    h = Harness(ScriptedSTT(), llm)
    await h.session.start()
    await h.session.handle(TextIn("count"))
    await h.wait(1.0)
    await h.session.handle(EndIn())
    assert h.of(SessionEnded) == [SessionEnded("client")]
    assert h.recorder.ended == ["client"], "the end is stored once"
    (cut,) = [r for r in h.recorder.turns if r.role == "agent"]
    assert cut.interrupted and cut.text and LONG_REPLY.startswith(cut.text)
    assert h.session.ended == "client"
    await h.settle()
    assert not h.session._tasks, "no task is left running (turn poller, prefill)"
    assert h.session.exchanges.current is None and h.session._stt_task is None
    before = len(h.events)
    await h.session.handle(TextIn("anyone there?"))
    await h.session.close("error")
    assert len(h.events) == before
    assert h.recorder.ended == ["client"]


async def test_close_mid_reply_returns_while_clauses_wait_to_be_sent() -> None:
    # four clauses: one being sent (paced to playback), one waiting, one synthesized and
    # blocked on the full queue when the session closes
    reply = "One two three four. Five six seven eight. Nine ten eleven. Twelve thirteen."
    h = Harness(ScriptedSTT(), ScriptedLLM(reply))
    await h.session.start()
    await h.session.handle(TextIn("count"))
    await h.wait(0.3)
    assert h.of(AudioOut), "the reply is being sent"
    assert len(h.tts.spoken) == 3, h.tts.spoken
    await asyncio.wait_for(h.session.handle(EndIn()), 2.0)
    assert h.session.ended == "client"
    await h.settle()
    reply_tasks = [t for t in asyncio.all_tasks() if "_synthesize" in repr(t.get_coro())]
    assert [t for t in reply_tasks if not t.done()] == [], "nothing of the reply is left waiting"


async def test_interrupt_mid_reply_leaves_no_synthesis_waiting() -> None:
    reply = "One two three four. Five six seven eight. Nine ten eleven. Twelve. Thirteen."
    h = Harness(ScriptedSTT(), ScriptedLLM(reply))
    await h.session.start()
    await h.session.handle(TextIn("count"))
    await h.wait(0.5)
    assert len(h.tts.spoken) == 3, "one clause sent, one waiting, one blocked on the queue"
    await h.session.handle(ControlIn("interrupt"))  # would wait forever on a stuck synthesis
    await h.settle()
    stuck = [t for t in asyncio.all_tasks() if "_synthesize" in repr(t.get_coro())]
    assert [t for t in stuck if not t.done()] == []
    await h.session.close("client")


async def test_closing_while_a_finished_turn_is_being_stored_stores_it_once() -> None:
    h = Harness(ScriptedSTT(), ScriptedLLM("It is noon."))
    release = asyncio.Event()
    store = h.recorder.on_turn

    async def slow_store(record: TurnRecord) -> None:
        if record.role == "agent":
            await release.wait()  # a database write in flight
        await store(record)

    h.recorder.on_turn = slow_store  # type: ignore[method-assign]
    await h.session.start()
    await h.session.handle(TextIn("what time is it"))
    await h.wait(3.0)  # the reply is spoken and played; its record is being written
    closing = asyncio.create_task(h.session.close("client"))
    await h.settle()
    release.set()
    await closing
    await h.settle()
    assert h.recorder.agent() == [("It is noon.", False)], "one record of the finished turn"
