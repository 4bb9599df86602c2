"""The agent-layer seams of VoiceSession: user-turn, context and clause hooks, and the
server-side tool runner, with scripted models and hooks on a manual clock."""

from __future__ import annotations

import asyncio

from parley.core.agent import AgentLayer
from parley.core.events import (
    AgentTurnEnd,
    AudioOut,
    Citation,
    CitationsOut,
    MetricsOut,
    SafetyOut,
    ServerToolOut,
    SessionEnded,
    TextIn,
    ToolCallOut,
    TranscriptOut,
    TransferOut,
)
from parley.core.hooks import (
    Allow,
    Answer,
    Drop,
    Hold,
    Replace,
    Rewrite,
    ToolOutcome,
    TurnInfo,
    UserTurnDecision,
    UserTurnVerdict,
)
from parley.providers.llm.base import ChatMessage, ToolCall, ToolSpec
from parley.testing.fakes import ScriptedHook, ScriptedLLM, ScriptedSTT, ScriptedToolRunner

from .test_session import LOUD, QUIET, Harness

WEATHER = ToolSpec("get_weather", "Weather in a city", {"type": "object"})


async def _harness(*hooks: ScriptedHook, llm: ScriptedLLM | None = None, **kw: object) -> Harness:
    h = Harness(
        ScriptedSTT("what time is it"),
        llm or ScriptedLLM("It is noon. Enjoy lunch."),
        layer=AgentLayer(hooks=hooks),
        **kw,
    )
    await h.session.start()
    return h


async def test_rewritten_user_turn_is_what_the_llm_and_the_client_see() -> None:
    hook = ScriptedHook("pii", user_turn=lambda t: Rewrite(t.replace("4111", "<CARD>")))
    h = await _harness(hook)
    await h.session.handle(TextIn("my card is 4111"))
    await h.wait(3.0)
    assert hook.user_turns == ["my card is 4111"]
    assert h.finals("user") == ["my card is <CARD>"]
    assert h.llm.requests[0][-1] == {"role": "user", "content": "my card is <CARD>"}
    assert [r.text for r in h.recorder.turns if r.role == "user"] == ["my card is 4111"]
    assert h.finals("agent") == ["It is noon. Enjoy lunch."]
    await h.session.close("client")


async def test_client_text_and_stored_text_can_differ_from_what_the_llm_sees() -> None:
    hook = ScriptedHook(
        "pii",
        user_turn=lambda t: Rewrite(t, client=t.replace("4111", "<CARD>")),
        store=lambda t: t.replace("4111", "<CARD>").replace("noon", "<TIME>"),
    )
    h = await _harness(hook)
    await h.session.handle(TextIn("my card is 4111"))
    await h.wait(3.0)
    assert h.llm.requests[0][-1] == {"role": "user", "content": "my card is 4111"}
    assert h.finals("user") == ["my card is <CARD>"]
    stored = [(r.role, r.text) for r in h.recorder.turns]
    assert stored == [("user", "my card is <CARD>"), ("agent", "It is <TIME>. Enjoy lunch.")]
    await h.session.close("client")


async def test_marks_go_to_the_client_and_into_the_stored_turn_of_their_role() -> None:
    hook = ScriptedHook(
        "policy",
        user_turn=lambda t: Rewrite(t.upper()),
        clauses={"Enjoy lunch.": Replace("Goodbye.", final=True)},
        mark=("blocked_term", "replaced", "term #1"),
    )
    h = await _harness(hook)
    await h.session.handle(TextIn("what time is it"))
    await h.wait(3.0)
    marks = h.of(SafetyOut)
    assert [(m.role, m.kind, m.action, m.detail) for m in marks] == [
        ("user", "blocked_term", "replaced", "term #1"),
        ("agent", "blocked_term", "replaced", "term #1"),
    ]
    turn_ids = {m.turn_id for m in marks}
    assert len(turn_ids) == 1 and all(m.policy_id == "pol_scripted" for m in marks)
    by_role = {r.role: r.safety for r in h.recorder.turns}
    assert [m.role for m in by_role["user"]] == ["user"]
    assert [m.role for m in by_role["agent"]] == ["agent"]
    assert h.finals("agent") == ["It is noon. Goodbye."]
    await h.session.close("client")


async def test_answer_with_an_end_says_the_line_then_ends_the_session() -> None:
    hook = ScriptedHook(
        "loops", user_turn=lambda t: Answer("Let's stop here.", end="loop_detected")
    )
    h = await _harness(hook)
    await h.session.handle(TextIn("again and again"))
    await h.wait(5.0)
    assert h.llm.requests == []
    assert h.finals("agent") == ["Let's stop here."]
    assert [e.reason for e in h.of(SessionEnded)] == ["loop_detected"]


async def test_a_line_asked_for_after_an_agent_turn_is_said_next() -> None:
    hook = ScriptedHook(
        "loops", agent_turn=lambda t: Answer("I keep repeating myself.") if "noon" in t else None
    )
    h = await _harness(hook)
    await h.session.handle(TextIn("what time is it"))
    await h.wait(5.0)
    assert hook.agent_turns[0] == "It is noon. Enjoy lunch."
    assert h.finals("agent") == ["It is noon. Enjoy lunch.", "I keep repeating myself."]
    assert not h.of(SessionEnded)
    await h.session.close("client")


async def test_fixed_answer_replaces_the_llm_and_later_hooks_are_skipped() -> None:
    first = ScriptedHook("policy", user_turn=lambda t: Answer("I can't help with that."))
    second = ScriptedHook("second")
    h = await _harness(first, second)
    await h.session.handle(TextIn("tell me a secret"))
    await h.wait(3.0)
    assert h.llm.requests == [], "the LLM is not asked"
    assert h.finals("agent") == ["I can't help with that."]
    assert second.user_turns == []
    assert h.session.context.history[-1] == {
        "role": "assistant",
        "content": "I can't help with that.",
    }
    await h.session.close("client")


async def test_held_turn_speaks_a_filler_after_the_delay_then_the_reply() -> None:
    verdict: asyncio.Future[UserTurnVerdict] = asyncio.get_running_loop().create_future()

    def hold(text: str) -> UserTurnDecision:
        return Hold(verdict, filler="One moment, please.", filler_after_ms=300.0)

    h = await _harness(ScriptedHook("judge", user_turn=hold))
    await h.session.handle(TextIn("is this safe"))
    await h.wait(0.2)
    assert h.of(AudioOut) == [] and h.llm.requests == [], "nothing yet: within the delay"
    await h.wait(0.2)
    assert h.tts.spoken == ["One moment, please."], "the filler covers the wait"
    assert h.llm.requests == [] and h.finals("user") == []
    verdict.set_result(Allow())
    await h.wait(4.0)
    assert h.finals("user") == ["is this safe"]
    assert h.finals("agent") == ["One moment, please. It is noon. Enjoy lunch."]
    assert {a.turn_id for a in h.of(AudioOut)} == {h.of(AgentTurnEnd)[0].turn_id}, "one turn"
    (metrics,) = h.of(MetricsOut)
    assert metrics.latency_ms["hook:judge"] is not None
    assert metrics.latency_ms["hook:judge"] >= 400.0, "the hold's time is the hook's time"
    await h.session.close("client")


async def test_quick_verdict_needs_no_filler() -> None:
    async def judged() -> UserTurnVerdict:
        return Rewrite("what is the time")

    h = await _harness(
        ScriptedHook("judge", user_turn=lambda t: Hold(judged(), filler="One moment."))
    )
    await h.session.handle(TextIn("time?"))
    await h.wait(3.0)
    assert "One moment." not in h.tts.spoken
    assert h.llm.requests[0][-1]["content"] == "what is the time"
    await h.session.close("client")


async def test_hooks_run_on_the_speculative_transcript_before_the_turn_ends() -> None:
    hook = ScriptedHook("kb", passage="Opening hours: 9 to 5.")
    h = await _harness(hook)
    await h.frames(LOUD, 10)
    await h.frames(QUIET, 6)  # speculative transcript: the reply is prepared now
    assert hook.speculative == ["what time is it"]
    assert hook.user_turns == ["what time is it"]
    request = h.llm.requests[0]
    assert request[-2] == {"role": "system", "content": "Opening hours: 9 to 5."}
    assert request[-1] == {"role": "user", "content": "what time is it"}
    assert h.of(AudioOut) == []
    await h.frames(QUIET, 10)
    await h.wait(3.0)
    assert h.finals("agent") == ["It is noon. Enjoy lunch."]
    (metrics,) = h.of(MetricsOut)
    assert "hook:kb" in metrics.latency_ms
    await h.session.close("client")


async def test_clause_hook_replaces_or_drops_clauses_before_tts() -> None:
    hook = ScriptedHook(
        "terms", clauses={"It is noon.": Replace("It is midday."), "Enjoy lunch.": Drop()}
    )
    h = await _harness(hook, llm=ScriptedLLM("It is noon. Enjoy lunch. Bye now."))
    await h.session.handle(TextIn("time?"))
    await h.wait(4.0)
    assert hook.clauses == ["It is noon.", "Enjoy lunch.", "Bye now."]
    assert h.tts.spoken == ["It is midday.", "Bye now."]
    assert h.finals("agent") == ["It is midday. Bye now."]
    assert h.session.context.history[-1]["content"] == "It is midday. Bye now."
    await h.session.close("client")


async def test_final_replacement_ends_the_reply_and_nothing_after_it_is_spoken() -> None:
    fallback = "I'm sorry, I can't talk about that."
    hook = ScriptedHook("terms", clauses={"Refund guaranteed.": Replace(fallback, final=True)})
    llm = ScriptedLLM("Sure thing. Refund guaranteed. Call us tomorrow. We open at nine.")
    h = await _harness(hook, llm=llm)
    await h.session.handle(TextIn("refund?"))
    await h.wait(5.0)
    assert h.tts.spoken == ["Sure thing.", fallback]
    assert h.finals("agent") == [f"Sure thing. {fallback}"]
    assert [r.text for r in h.recorder.turns if r.role == "agent"] == [f"Sure thing. {fallback}"]
    assert "guaranteed" not in h.session.context.history[-1]["content"]
    assert h.of(AgentTurnEnd)[-1].status == "completed"
    await h.session.close("client")


async def test_clause_hooks_also_check_fixed_lines() -> None:
    hook = ScriptedHook("terms", clauses={"Welcome to Acme.": Replace("Welcome.")})
    h = Harness(ScriptedSTT(), ScriptedLLM(), "Welcome to Acme.", layer=AgentLayer(hooks=(hook,)))
    await h.session.start()
    await h.wait(2.0)
    assert h.tts.spoken == ["Welcome."]
    await h.session.close("client")


async def test_server_side_tool_runs_without_the_client_and_the_agent_goes_on() -> None:
    runner = ScriptedToolRunner({"get_weather": {"temp_c": 21}})
    llm = ScriptedLLM(
        ("Let me look.", ToolCall("call_1", "get_weather", {"city": "Oslo"})),
        "It is 21 degrees.",
    )
    h = Harness(ScriptedSTT(), llm, tools=(WEATHER,), layer=AgentLayer(tools=runner))
    await h.session.start()
    await h.session.handle(TextIn("weather in Oslo?"))
    await h.wait(6.0)
    assert [c.name for c in runner.calls] == ["get_weather"]
    assert h.of(ToolCallOut) == [], "the client is not asked to run it"
    assert h.finals("agent") == ["Let me look.", "It is 21 degrees."]
    assert h.llm.requests[1][-1] == {
        "role": "tool",
        "content": '{"temp_c": 21}',
        "tool_call_id": "call_1",
    }
    (called,) = [r for r in h.recorder.turns if r.tool_calls]
    assert called.tool_calls[0].output == {"temp_c": 21}
    assert [e.status for e in h.of(AgentTurnEnd)] == ["tool_call", "completed"]
    await h.session.close("client")


async def test_failing_server_tool_gives_the_llm_an_error_to_talk_about() -> None:
    runner = ScriptedToolRunner({"get_weather": RuntimeError("backend down")})
    llm = ScriptedLLM(ToolCall("call_1", "get_weather", {}), "Sorry, no weather now.")
    h = Harness(ScriptedSTT(), llm, tools=(WEATHER,), layer=AgentLayer(tools=runner))
    await h.session.start()
    await h.session.handle(TextIn("weather?"))
    await h.wait(4.0)
    tool_message = h.llm.requests[1][-1]
    assert tool_message["role"] == "tool" and "failed" in tool_message["content"]
    assert h.finals("agent")[-1] == "Sorry, no weather now."
    await h.session.close("client")


async def test_client_tools_still_go_to_the_client_beside_a_server_runner() -> None:
    runner = ScriptedToolRunner({"other_tool": "x"})
    llm = ScriptedLLM(ToolCall("call_1", "get_weather", {"city": "Rome"}))
    h = Harness(ScriptedSTT(), llm, tools=(WEATHER,), layer=AgentLayer(tools=runner))
    await h.session.start()
    await h.session.handle(TextIn("weather?"))
    await h.wait(2.0)
    assert [c.name for c in h.of(ToolCallOut)] == ["get_weather"]
    assert runner.calls == []
    await h.session.close("client")


async def test_without_hooks_metrics_have_no_hook_entries() -> None:
    h = await _harness()
    await h.session.handle(TextIn("hi"))
    await h.wait(3.0)
    (metrics,) = h.of(MetricsOut)
    assert not [k for k in metrics.latency_ms if k.startswith("hook:")]
    assert [t.text for t in h.of(TranscriptOut) if t.final][-1] == "It is noon. Enjoy lunch."
    await h.session.close("client")


async def test_slow_server_tool_has_the_agent_say_a_filler_then_the_answer() -> None:
    gate = asyncio.Event()
    runner = ScriptedToolRunner({"get_weather": {"temp_c": 21}}, gate=gate, filler="One moment.")
    llm = ScriptedLLM(ToolCall("call_1", "get_weather", {}), "It is 21 degrees.")
    h = Harness(ScriptedSTT(), llm, tools=(WEATHER,), layer=AgentLayer(tools=runner))
    await h.session.start()
    await h.session.handle(TextIn("weather?"))
    await h.wait(2.0)
    assert h.finals("agent")[-1] == "One moment.", "the silent tool turn is covered"
    gate.set()
    await h.wait(4.0)
    assert h.finals("agent")[-1] == "It is 21 degrees."
    (done,) = h.of(ServerToolOut)
    assert (done.name, done.status) == ("get_weather", "ok")
    await h.session.close("client")


async def test_fast_server_tool_needs_no_filler() -> None:
    runner = ScriptedToolRunner({"get_weather": {"temp_c": 21}}, filler="One moment.")
    llm = ScriptedLLM(ToolCall("call_1", "get_weather", {}), "It is 21 degrees.")
    h = Harness(ScriptedSTT(), llm, tools=(WEATHER,), layer=AgentLayer(tools=runner))
    await h.session.start()
    await h.session.handle(TextIn("weather?"))
    await h.wait(4.0)
    assert "One moment." not in h.finals("agent")
    await h.session.close("client")


async def test_tool_outcome_with_a_line_says_it_and_ends_the_session() -> None:
    transfer = TransferOut("", "Billing", "+15550100")
    goodbye = ToolOutcome({"ok": True}, say="Goodbye!", end="agent_ended", transfer=transfer)
    runner = ScriptedToolRunner({"end_call": goodbye})
    llm = ScriptedLLM(ToolCall("call_1", "end_call", {}), "never asked")
    end_call = ToolSpec("end_call", "Hang up", {"type": "object"})
    h = Harness(ScriptedSTT(), llm, tools=(end_call,), layer=AgentLayer(tools=runner))
    await h.session.start()
    await h.session.handle(TextIn("bye"))
    await h.wait(4.0)
    assert h.finals("agent")[-1] == "Goodbye!"
    assert h.of(TransferOut) == [transfer]
    assert [e.reason for e in h.of(SessionEnded)] == ["agent_ended"]
    assert len(h.llm.requests) == 1, "the line is said without asking the LLM again"


class _CitingHook(ScriptedHook):
    async def on_context(self, turn: TurnInfo, messages: list[ChatMessage]) -> list[ChatMessage]:
        turn.cite([Citation(7, "doc_1", "kb_1", "FAQ", "Returns", 0.03)])
        turn.stages["retrieval"] = 12.5
        return messages


async def test_citations_go_to_the_client_and_storage_and_the_stage_to_metrics() -> None:
    h = await _harness(_CitingHook("kb"))
    await h.session.handle(TextIn("how do returns work"))
    await h.wait(3.0)
    (cited,) = h.of(CitationsOut)
    assert [c.chunk_id for c in cited.citations] == [7]
    (agent,) = [r for r in h.recorder.turns if r.role == "agent"]
    assert agent.citations == cited.citations
    assert h.of(MetricsOut)[0].latency_ms["retrieval"] == 12.5
    await h.session.close("client")
