"""Client-driven turns on the engine: agent turn boundaries, manual commit, explicit
responses, tool calls, truncation, forgetting and reconfiguration (manual clock)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from parley.core.events import (
    AgentTurnEnd,
    AgentTurnStart,
    AudioOut,
    ClearIn,
    CommitIn,
    ErrorOut,
    ForgetIn,
    Interruption,
    PlaybackIn,
    ReconfigureIn,
    RespondIn,
    SpeechStarted,
    SpeechStopped,
    TextIn,
    ToolCallOut,
    ToolResultIn,
    TranscriptOut,
    TruncateIn,
    UserTurnDropped,
)
from parley.core.records import ToolCallRecord
from parley.providers.llm.base import ToolCall, ToolSpec
from parley.testing.fakes import ScriptedLLM, ScriptedSTT

from .test_session import LONG_REPLY, LOUD, QUIET, Harness, _talking

WEATHER = ToolSpec(
    "get_weather",
    "Current weather in a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    harness = Harness(ScriptedSTT("what time is it"), ScriptedLLM("It is noon. Enjoy lunch."))
    await harness.session.start()
    yield harness
    await harness.session.close("client")


async def _manual(stt: ScriptedSTT, llm: ScriptedLLM, **agent: object) -> Harness:
    h = Harness(stt, llm, turn_detection=False, auto_respond=False, **agent)
    await h.session.start()
    return h


async def test_agent_turns_are_bracketed_by_start_and_end(h: Harness) -> None:
    await h.session.handle(TextIn("hi"))
    await h.wait(3.0)
    kinds = [type(e) for e in h.events if isinstance(e, AgentTurnStart | AgentTurnEnd | AudioOut)]
    assert kinds[0] is AgentTurnStart and kinds[-1] is AgentTurnEnd
    assert h.of(AgentTurnStart) == [AgentTurnStart("turn_1")]
    assert h.of(AgentTurnEnd) == [AgentTurnEnd("turn_1", "completed")]


async def test_barge_in_ends_the_agent_turn_as_interrupted() -> None:
    h = await _talking(ScriptedSTT("wait, stop please"))
    turn_id = h.of(AudioOut)[0].turn_id
    await h.frames(LOUD, 5)
    assert h.of(Interruption) == [Interruption(turn_id)]
    assert h.of(AgentTurnEnd) == [AgentTurnEnd(turn_id, "interrupted")]
    await h.frames(QUIET, 20)
    await h.wait(2.0)
    (stopped,) = h.of(SpeechStopped)
    assert stopped.turn_id == h.of(TranscriptOut)[-1].turn_id != turn_id
    assert h.of(SpeechStarted)[0].audio_ms > 0 and stopped.audio_ms > 0
    await h.session.close("client")


async def test_interrupt_control_ends_the_agent_turn_as_cancelled() -> None:
    h = await _talking(ScriptedSTT())
    turn_id = h.of(AudioOut)[0].turn_id
    await h.session.handle(RespondIn())  # a new response replaces the one in progress
    assert h.of(AgentTurnEnd)[0] == AgentTurnEnd(turn_id, "cancelled")
    await h.session.close("client")


async def test_manual_mode_ignores_voice_activity_until_commit() -> None:
    h = await _manual(ScriptedSTT("what time is it"), ScriptedLLM("Noon."))
    await h.frames(LOUD, 20)
    await h.frames(QUIET, 30)
    assert h.of(SpeechStarted) == [] and h.of(SpeechStopped) == [] and h.stt.calls == []
    await h.session.handle(CommitIn())
    await h.wait(0.2)
    (stopped,) = h.of(SpeechStopped)
    assert stopped.audio_ms == 50 * 32
    assert len(h.stt.calls[0]) == 50 * 1024, "the whole buffer is transcribed"
    assert h.finals("user") == ["what time is it"]
    assert h.of(AgentTurnStart) == [] and h.llm.requests == [], "no reply until asked"
    await h.session.handle(RespondIn())
    await h.wait(2.0)
    assert h.finals("agent") == ["Noon."]
    assert h.llm.requests[0][-1] == {"role": "user", "content": "what time is it"}
    await h.session.close("client")


async def test_respond_right_after_commit_answers_the_committed_turn() -> None:
    h = await _manual(ScriptedSTT("hello there"), ScriptedLLM("Hi."))
    await h.frames(LOUD, 10)
    await h.session.handle(CommitIn())
    await h.session.handle(RespondIn(instructions="Answer like a pirate."))
    await h.wait(2.0)
    assert h.finals("user") == ["hello there"] and h.finals("agent") == ["Hi."]
    (request,) = h.llm.requests
    assert "pirate" in request[0]["content"] and "Be brief." not in request[0]["content"]
    assert request[-1] == {"role": "user", "content": "hello there"}
    user_turn = h.of(SpeechStopped)[0].turn_id
    assert h.of(AgentTurnStart) == [AgentTurnStart(user_turn)], "the reply shares its turn id"
    await h.session.close("client")


async def test_commit_needs_audio_and_clear_drops_it() -> None:
    h = await _manual(ScriptedSTT("x"), ScriptedLLM())
    await h.frames(LOUD, 2)  # 64 ms
    await h.session.handle(CommitIn())
    (error,) = h.of(ErrorOut)
    assert error.code == "audio_error" and "100 ms" in error.message
    await h.frames(LOUD, 10)
    await h.session.handle(ClearIn())
    await h.session.handle(CommitIn())
    assert len(h.of(ErrorOut)) == 2 and h.stt.calls == []
    await h.session.close("client")


async def test_commit_in_voice_mode_ends_the_users_turn_now(h: Harness) -> None:
    await h.session.handle(CommitIn())
    assert h.of(ErrorOut)[0].code == "validation_error", "nothing to commit while silent"
    await h.frames(LOUD, 10)
    await h.session.handle(CommitIn())
    await h.wait(2.0)
    assert len(h.of(SpeechStopped)) == 1
    assert h.finals("user") == ["what time is it"]
    assert h.finals("agent") == ["It is noon. Enjoy lunch."]


async def test_committed_audio_without_words_is_dropped() -> None:
    h = await _manual(ScriptedSTT(""), ScriptedLLM())
    await h.frames(QUIET, 10)
    await h.session.handle(CommitIn())
    await h.wait(0.2)
    turn_id = h.of(SpeechStopped)[0].turn_id
    assert h.of(UserTurnDropped) == [UserTurnDropped(turn_id)]
    assert h.finals("user") == []
    await h.session.close("client")


async def test_text_without_respond_only_joins_the_conversation(h: Harness) -> None:
    await h.session.handle(TextIn("my name is Ada", respond=False))
    await h.wait(0.5)
    assert h.finals("user") == ["my name is Ada"]
    assert h.of(AgentTurnStart) == [] and h.llm.requests == []
    assert h.session.context.history == [{"role": "user", "content": "my name is Ada"}]


async def test_tool_call_waits_for_the_result_then_answers() -> None:
    call = ToolCall("call_1", "get_weather", {"city": "Paris"})
    h = Harness(ScriptedSTT(), ScriptedLLM(call, "It is sunny in Paris."), tools=(WEATHER,))
    await h.session.start()
    await h.session.handle(TextIn("weather in Paris?"))
    await h.wait(0.5)
    assert h.of(ToolCallOut) == [ToolCallOut("call_1", "get_weather", {"city": "Paris"}, "turn_1")]
    assert h.of(AgentTurnEnd) == [AgentTurnEnd("turn_1", "tool_call")]
    assert h.of(AudioOut) == [] and h.finals("agent") == []
    assert h.llm.tool_requests[0] == ((WEATHER,), "auto")
    await h.wait(30.0)
    assert len(h.llm.requests) == 1, "no idle prompt while a tool result is awaited"
    (stored,) = [r for r in h.recorder.turns if r.role == "agent"]
    assert stored.text == "" and stored.tool_calls == (
        ToolCallRecord("call_1", "get_weather", {"city": "Paris"}),
    )
    await h.session.handle(ToolResultIn("call_1", {"sky": "sunny"}))
    await h.wait(3.0)
    assert h.finals("agent") == ["It is sunny in Paris."]
    answered = ToolCallRecord("call_1", "get_weather", {"city": "Paris"}, {"sky": "sunny"})
    assert [(r.turn_id, r.text, r.tool_calls) for r in h.recorder.turns if r.role == "agent"] == [
        ("turn_1", "", (answered,)),
        ("turn_2", "It is sunny in Paris.", ()),
    ]
    second = h.llm.requests[1]
    assert second[-2]["role"] == "assistant" and second[-2]["tool_calls"][0]["id"] == "call_1"
    assert second[-1] == {"role": "tool", "content": '{"sky": "sunny"}', "tool_call_id": "call_1"}
    await h.session.handle(ToolResultIn("call_1", "again"))
    assert h.of(ErrorOut)[-1].code == "validation_error", "a call is answered once"
    await h.session.close("client")


async def test_a_result_that_comes_while_the_calling_turn_plays_is_stored_with_it() -> None:
    """Words, then a call: the client may answer the call before the words have played
    (and the turn is stored); the result is kept and stored with the turn."""
    call = ToolCall("call_2", "get_weather", {"city": "Rome"})
    h = Harness(ScriptedSTT(), ScriptedLLM(("Let me check that for you.", call), "Warm."))
    await h.session.start()
    await h.session.handle(TextIn("weather in Rome?"))
    for _ in range(100):  # the call goes out once the words are sent, ahead of playback
        if h.of(ToolCallOut):
            break
        await h.wait(0.05)
    assert h.of(ToolCallOut) and not h.recorder.turns[1:], "still playing, not stored yet"
    await h.session.handle(ToolResultIn("call_2", "25 C", respond=False))
    await h.wait(5.0)
    (stored,) = [r for r in h.recorder.turns if r.role == "agent"]
    assert stored.text == "Let me check that for you."
    assert stored.tool_calls == (ToolCallRecord("call_2", "get_weather", {"city": "Rome"}, "25 C"),)
    await h.session.close("client")


async def test_tool_result_without_respond_waits_for_respond() -> None:
    call = ToolCall("call_9", "get_weather", {"city": "Oslo"})
    h = Harness(ScriptedSTT(), ScriptedLLM(call, "Cold."), tools=(WEATHER,))
    await h.session.start()
    await h.session.handle(RespondIn(tool_choice="get_weather"))
    await h.wait(0.5)
    assert h.llm.tool_requests[0] == ((WEATHER,), "get_weather")
    await h.session.handle(ToolResultIn("call_9", "-5 C", respond=False))
    await h.wait(0.5)
    assert len(h.llm.requests) == 1
    await h.session.handle(RespondIn())
    await h.wait(2.0)
    assert h.finals("agent") == ["Cold."]
    await h.session.close("client")


async def test_truncate_keeps_only_what_was_heard_of_a_finished_turn() -> None:
    h = Harness(ScriptedSTT(), ScriptedLLM(LONG_REPLY))
    await h.session.start()
    await h.session.handle(TextIn("count"))
    await h.wait(6.0)
    assert h.of(AgentTurnEnd) == [AgentTurnEnd("turn_1", "completed")]
    await h.session.handle(TruncateIn("turn_1", 1000))
    agent = h.session.context.history[-1]
    assert agent["role"] == "assistant" and agent["content"].endswith("[interrupted by the user]")
    heard = agent["content"].removesuffix(" [interrupted by the user]")
    assert 3 <= len(heard.split()) <= 6 and LONG_REPLY.startswith(heard)
    assert h.recorder.agent() == [(heard, True)], "the stored turn is cut the same way"
    await h.session.handle(TruncateIn("turn_7", 10))
    assert h.of(ErrorOut)[-1].code == "validation_error"
    await h.session.close("client")


async def test_truncate_of_the_playing_turn_stops_it_where_the_client_stopped() -> None:
    h = await _talking(ScriptedSTT())
    turn_id = h.of(AudioOut)[0].turn_id
    await h.session.handle(TruncateIn(turn_id, 0))
    assert h.of(AgentTurnEnd) == [AgentTurnEnd(turn_id, "interrupted")]
    (cut,) = [r for r in h.recorder.turns if r.role == "agent"]
    assert cut.interrupted and cut.text == ""
    await h.session.close("client")


async def test_forget_removes_a_turn_from_the_conversation(h: Harness) -> None:
    await h.session.handle(TextIn("first", respond=False))
    await h.session.handle(TextIn("second", respond=False))
    first = h.of(TranscriptOut)[0].turn_id
    await h.session.handle(ForgetIn(first))
    assert h.session.context.history == [{"role": "user", "content": "second"}]
    await h.session.handle(ForgetIn(first))
    assert h.of(ErrorOut)[-1].code == "validation_error"


async def test_reconfigure_changes_prompt_and_turn_detection(h: Harness) -> None:
    new = replace(h.session.agent, system_prompt="Talk like a robot.", turn_detection=False)
    await h.session.handle(ReconfigureIn(new))
    await h.frames(LOUD, 20)
    await h.frames(QUIET, 20)
    assert h.of(SpeechStarted) == [], "turn detection is off now"
    await h.session.handle(TextIn("hi"))
    await h.wait(0.5)
    assert "robot" in h.llm.requests[0][0]["content"]
    await h.session.handle(ReconfigureIn(replace(new, voice_id="no-such-voice")))
    assert h.of(ErrorOut)[-1].code == "validation_error"
    assert h.session.agent.voice_id == "tone"


async def test_playback_reports_in_whole_ms_finish_the_turn() -> None:
    """Clients report whole milliseconds; a turn's audio lasts a fraction more."""
    h = Harness(ScriptedSTT(), ScriptedLLM("Hi there, friend."))
    await h.session.start()
    await h.session.handle(TextIn("hello"))
    while not h.of(AgentTurnEnd):  # all audio sent; the client is still playing
        await h.wait(0.02)
    sent = h.audio_ms("turn_1")
    await h.session.handle(PlaybackIn(math.ceil(sent) - 1))  # its last report
    await h.wait(0.3)
    (record,) = h.recorder.agent()
    assert record == ("Hi there, friend.", False)
    assert h.session.context.history[-1]["content"] == "Hi there, friend."
    await h.session.close("client")


async def test_an_interrupted_turn_keeps_the_time_it_started() -> None:
    h = await _talking(ScriptedSTT("stop now please"), speak_s=2.0)
    await h.frames(LOUD, 5)
    await h.frames(QUIET, 20)
    await h.wait(1.0)
    (cut,) = [r for r in h.recorder.turns if r.role == "agent" and r.interrupted]
    assert (cut.ended_at - cut.started_at).total_seconds() >= 1.5
    await h.session.close("client")


async def test_a_requested_answer_comes_even_when_the_committed_turn_has_no_words() -> None:
    h = await _manual(ScriptedSTT(""), ScriptedLLM("Sorry, I did not catch that."))
    await h.frames(LOUD, 10)
    await h.session.handle(CommitIn())
    await h.session.handle(RespondIn())
    await h.wait(2.0)
    assert len(h.of(UserTurnDropped)) == 1
    assert h.finals("agent") == ["Sorry, I did not catch that."]
    await h.session.close("client")


async def test_a_reply_asked_for_while_the_user_speaks_gives_way_to_the_users_turn() -> None:
    h = Harness(ScriptedSTT("what time is it"), ScriptedLLM(LONG_REPLY))
    await h.session.start()
    await h.frames(LOUD, 10)
    await h.session.handle(RespondIn())
    await h.frames(LOUD, 2)
    await h.frames(QUIET, 25)
    await h.wait(1.0)
    ended = {e.turn_id for e in h.of(AgentTurnEnd)}
    running = [e.turn_id for e in h.of(AgentTurnStart) if e.turn_id not in ended]
    assert running == [h.of(SpeechStopped)[0].turn_id], "one agent turn at a time"
    await h.session.close("client")


async def test_a_second_commit_waits_for_the_first_turn() -> None:
    stt = ScriptedSTT("first part", "second part")
    h = await _manual(stt, ScriptedLLM("OK."))
    stt.gate = asyncio.Event()
    await h.frames(LOUD, 10)
    await h.session.handle(CommitIn())
    await h.frames(LOUD, 10)
    await h.session.handle(CommitIn())
    await h.session.handle(RespondIn())
    stt.gate.set()
    await h.wait(2.0)
    assert h.finals("user") == ["first part", "second part"]
    assert h.finals("agent") == ["OK."] and len(h.llm.requests) == 1
    assert h.llm.requests[0][-2:] == [
        {"role": "user", "content": "first part"},
        {"role": "user", "content": "second part"},
    ]
    await h.session.close("client")
