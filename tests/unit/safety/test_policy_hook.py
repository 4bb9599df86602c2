"""A content policy inside a session (scripted models on a manual clock; the judge is a
scripted LLM answering yes/no): what breaks the policy is never handed to TTS, a slow
verdict is covered by a filler line, judge errors follow ``on_judge_error``, loops are
acted on as the agent's settings say."""

from __future__ import annotations

import asyncio
from typing import Any

from parley.core.agent import AgentLayer
from parley.core.events import SafetyOut, SessionEnded, TextIn
from parley.core.hooks import Allow, Answer, TurnHook, TurnInfo
from parley.safety.judge import CriteriaJudge
from parley.safety.loop_hook import LoopHook
from parley.safety.loops import STEER_NOTE, LoopSettings
from parley.safety.policy import NEUTRAL_FALLBACK, PolicyBody
from parley.safety.policy_hook import PolicyHook, SessionPolicy
from parley.safety.terms import BlockedTerms
from parley.testing.fakes import ScriptedLLM, ScriptedSTT
from tests.unit.test_session import Harness

MEDICAL = {
    "name": "no_medical_advice",
    "rule": "The agent must not give medical advice.",
    "fallback": "I can't give medical advice.",
}


def policy(judge_llm: ScriptedLLM | None = None, **body: Any) -> PolicyHook:
    settings = PolicyBody.model_validate({"name": "Test", **body})
    judge = None
    if settings.criteria and judge_llm is not None:
        judge = CriteriaJudge(judge_llm, settings.criteria, settings.judge_timeout_ms / 1000)
    terms = BlockedTerms(settings.blocked_terms)
    user_terms = BlockedTerms(settings.user_blocked_terms)
    return PolicyHook(SessionPolicy("pol_test", settings, terms, user_terms, None, judge))


async def talk(reply: str, *hooks: TurnHook, said: str = "hello there") -> Harness:
    h = Harness(ScriptedSTT(said), ScriptedLLM(reply), layer=AgentLayer(hooks=hooks))
    await h.session.start()
    await h.session.handle(TextIn(said))
    await h.wait(4.0)
    return h


def marks(h: Harness) -> list[tuple[str, str, str, str]]:
    return [(m.role, m.kind, m.action, m.detail) for m in h.of(SafetyOut)]


async def test_a_blocked_term_split_over_two_clauses_ends_the_reply_with_the_fallback() -> None:
    hook = policy(blocked_terms=["refund guaranteed"], blocked_fallback="Let me check.")
    h = await talk("We always refund. Guaranteed! Anything else?", hook)
    assert h.tts.spoken == ["We always refund.", "Let me check."]
    assert marks(h) == [("agent", "blocked_term", "replaced", "term #1")]
    assert h.finals("agent") == ["We always refund. Let me check."]
    stored = next(r for r in h.recorder.turns if r.role == "agent")
    assert [m.detail for m in stored.safety] == ["term #1"]
    await h.session.close("client")


async def test_a_reply_the_judge_rejects_is_never_spoken() -> None:
    judge = ScriptedLLM("Yes")
    hook = policy(judge, criteria=[MEDICAL])
    h = await talk("Take two aspirin every four hours.", hook, said="my head hurts")
    assert "aspirin" not in " ".join(h.tts.spoken)
    assert h.tts.spoken[-1] == "I can't give medical advice."
    assert marks(h) == [("agent", "criterion", "blocked", "no_medical_advice")]
    question = judge.requests[0][-1]["content"]
    assert 'Caller: "my head hurts"' in question and "aspirin" in question
    await h.session.close("client")


async def test_a_slow_verdict_is_covered_by_a_filler_then_the_reply_goes_on() -> None:
    judge = ScriptedLLM("No")
    judge.gate, judge.pause_after = asyncio.Event(), 0
    hook = policy(judge, criteria=[MEDICAL], filler_phrases=["Just a second."])
    h = Harness(
        ScriptedSTT("hi"), ScriptedLLM("Your order ships today."), layer=AgentLayer(hooks=(hook,))
    )
    await h.session.start()
    await h.session.handle(TextIn("where is my order"))
    await h.wait(0.2)
    assert h.tts.spoken == [], "no filler before filler_after_ms"
    await h.wait(0.3)
    assert h.tts.spoken == ["Just a second."]
    judge.gate.set()
    await h.wait(3.0)
    assert h.tts.spoken == ["Just a second.", "Your order ships today."]
    assert marks(h) == []
    await h.session.close("client")


async def test_judge_errors_follow_on_judge_error() -> None:
    for on_error, expected in (("block", NEUTRAL_FALLBACK), ("allow", "Your order ships today.")):
        unreadable = ScriptedLLM("Perhaps")  # neither yes nor no
        hook = policy(unreadable, criteria=[MEDICAL], on_judge_error=on_error)
        h = await talk("Your order ships today.", hook)
        assert h.tts.spoken[-1] == expected, on_error
        action = "blocked" if on_error == "block" else "flagged"
        assert marks(h) == [("agent", "criterion", action, "judge error: unreadable verdict")]
        await h.session.close("client")


async def test_a_user_turn_breaking_a_user_criterion_is_answered_with_the_fallback() -> None:
    judge = ScriptedLLM("Yes")
    rule = {**MEDICAL, "applies_to": "user", "name": "no_diagnosis_requests"}
    hook = policy(judge, criteria=[rule])
    h = await talk("Sure, here is a diagnosis.", hook, said="diagnose my rash")
    assert h.llm.requests == [], "the agent's LLM is never asked"
    assert h.tts.spoken == ["I can't give medical advice."]
    assert marks(h) == [("user", "criterion", "blocked", "no_diagnosis_requests")]
    await h.session.close("client")


async def test_a_flagged_criterion_is_recorded_and_the_reply_stands() -> None:
    hook = policy(ScriptedLLM("Yes"), criteria=[{**MEDICAL, "action": "flag"}])
    h = await talk("Rest and drink water.", hook)
    assert h.tts.spoken == ["Rest and drink water."]
    assert marks(h) == [("agent", "criterion", "flagged", "no_medical_advice")]
    await h.session.close("client")


async def test_the_agent_repeating_itself_steers_the_next_llm_call() -> None:
    hook = LoopHook(LoopSettings(agent_repeats=2))
    h = Harness(
        ScriptedSTT("x"),
        ScriptedLLM("Please give me your order number."),
        layer=AgentLayer(hooks=(hook,)),
    )
    await h.session.start()
    for text in ("where is my parcel", "I told you already", "can you just check"):
        await h.session.handle(TextIn(text))
        await h.wait(4.0)
    assert marks(h) == [("agent", "loop", "steered", "agent_repeats x2")]
    notes = [m for m in h.llm.requests[2] if m["role"] == "system" and m["content"] == STEER_NOTE]
    assert len(notes) == 1, "the third LLM call is told to change approach"
    assert not any(m["content"] == STEER_NOTE for m in h.llm.requests[1])
    await h.session.close("client")


async def test_the_agent_repeating_itself_with_action_end_says_goodbye_and_ends() -> None:
    hook = LoopHook(LoopSettings(agent_repeats=2, action="end", line="Let's stop here."))
    h = Harness(
        ScriptedSTT("x"), ScriptedLLM("Please give me your order number."),
        layer=AgentLayer(hooks=(hook,)),
    )  # fmt: skip
    await h.session.start()
    for text in ("where is my parcel", "I told you already"):
        await h.session.handle(TextIn(text))
        await h.wait(4.0)
    assert h.finals("agent")[-1] == "Let's stop here."
    assert [e.reason for e in h.of(SessionEnded)] == ["loop_detected"]
    assert marks(h) == [("agent", "loop", "ended", "agent_repeats x2")]


async def test_a_speculative_user_turn_the_user_went_on_with_is_not_counted() -> None:
    hook = LoopHook(LoopSettings(user_repeats=2, action="say", line="We said that."))

    def turn(n: int) -> TurnInfo:
        return TurnInfo("ses_x", "agt_x", f"turn_{n}")

    said = "I want to cancel my order"
    assert isinstance(await hook.on_user_turn(turn(1), said), Allow)  # speculative...
    assert isinstance(await hook.on_user_turn(turn(2), said + " number five"), Allow)
    await hook.on_store(turn(2), "user", said + " number five")  # ...only this one counts
    again = await hook.on_user_turn(turn(3), said + " number five")
    assert again == Answer("We said that.")
