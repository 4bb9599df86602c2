"""The criteria judge: which criteria are asked, how answers are read, the prompt, and
what a timeout, a failure or an unreadable answer makes of the verdict."""

from __future__ import annotations

import asyncio
import time

import pytest

from parley.providers.llm.base import ChatMessage, ToolCall
from parley.providers.llm.openai_remote import OpenAICompatibleLLM
from parley.providers.remote import Endpoint
from parley.safety.judge import CriteriaJudge, Verdict, judge_messages, read_answer, rule_question
from parley.safety.policy import Criterion
from parley.testing.fakes import ScriptedLLM
from parley.testing.server import free_port

MEDICAL = Criterion(name="no_medical_advice", rule="The agent must not give medical advice.")
REFUND = Criterion(name="no_refunds", rule="The agent must not promise a refund.")
HARM = Criterion(
    name="no_self_harm", rule="The caller must not ask how to hurt themselves.", applies_to="user"
)
RUDE = Criterion(name="no_insults", rule="Nobody insults anybody.", applies_to="both")
ASKED: list[ChatMessage] = [
    {"role": "user", "content": "My back hurts."},
    {"role": "assistant", "content": "I'm sorry to hear that."},
    {"role": "user", "content": "What should I take?"},
]


@pytest.mark.parametrize(
    ("reply", "answer"),
    [
        ("Yes", True),
        ("yes.", True),
        (" No, it does not.", False),
        ("no", False),
        ("TRUE", True),
        ("Answer: no. Yes would be wrong.", False),
        ("Not sure", None),
        ("nothing here", None),
        ("", None),
    ],
)
def test_the_first_yes_or_no_is_the_answer(reply: str, answer: bool | None) -> None:
    assert read_answer(reply) is answer


def test_a_rule_becomes_a_direct_question() -> None:
    assert rule_question(MEDICAL.rule, "agent") == "Does the agent give medical advice?"
    assert rule_question("Never mention CompetitorCo!", "agent") == (
        "Does the agent mention CompetitorCo?"
    )
    assert rule_question("The agent shouldn't swear.", "caller") == "Does the caller swear?"
    assert rule_question("No medical advice.", "agent") == (
        "Does the agent's message contain medical advice?"
    )
    assert rule_question("Be polite.", "agent") == (
        "Does the agent's message break this rule: Be polite."
    )


def test_the_prompt_shows_the_callers_last_words_then_the_question() -> None:
    system, question = judge_messages("agent", "Take two aspirin.", MEDICAL.rule, ASKED)
    assert system["role"] == "system" and question["role"] == "user"
    body = question["content"]
    assert body.index('Caller: "What should I take?"') < body.index('Agent: "Take two aspirin."')
    assert body.index("Agent:") < body.index("Does the agent give medical advice?")
    assert "My back hurts" not in body
    caller = judge_messages("user", "How do I hurt myself?", HARM.rule, ASKED)[1]["content"]
    assert caller.startswith('Caller: "How do I hurt myself?"') and "Agent" not in caller


def test_requests_of_one_judgement_share_their_start() -> None:
    first = judge_messages("agent", "Take two aspirin.", MEDICAL.rule, ASKED)
    second = judge_messages("agent", "Take two aspirin.", REFUND.rule, ASKED)
    assert first[0] == second[0]
    head = first[1]["content"].split("Question:")[0]
    assert second[1]["content"].startswith(head)


def test_long_text_is_clipped_in_the_middle() -> None:
    body = judge_messages("agent", "start " + "word " * 2000 + "end", MEDICAL.rule)[1]["content"]
    assert len(body) < 2300 and "start" in body and "end" in body and "…" in body


async def test_only_the_sides_criteria_are_asked() -> None:
    llm = ScriptedLLM("No.", "Yes, it does.")
    judge = CriteriaJudge(llm, [MEDICAL, HARM, RUDE], timeout_s=5)
    verdict = await judge.judge("agent", "Take two aspirin.", ASKED)
    assert verdict.violated == ("no_insults",) and verdict.error is None
    assert len(llm.requests) == 2
    assert "medical advice" in llm.requests[0][1]["content"]
    assert "Nobody insults anybody" in llm.requests[1][1]["content"]
    assert verdict.elapsed_ms >= 0
    assert [c.name for c in judge.applicable("user")] == ["no_self_harm", "no_insults"]


async def test_no_criterion_for_the_side_is_an_empty_verdict_at_once() -> None:
    llm = ScriptedLLM("Yes.")
    judge = CriteriaJudge(llm, [MEDICAL, REFUND], timeout_s=5)
    assert await judge.judge("user", "How do I hurt myself?") == Verdict()
    assert await CriteriaJudge(llm, [HARM], 5).judge("user", "   ") == Verdict()
    assert llm.requests == []


async def test_violations_keep_the_policys_order() -> None:
    llm = ScriptedLLM("Yes", "yes")
    verdict = await CriteriaJudge(llm, [MEDICAL, REFUND], 5).judge("agent", "Refund + aspirin.")
    assert verdict == Verdict(("no_medical_advice", "no_refunds"), None, verdict.elapsed_ms)


async def test_an_answer_without_yes_or_no_is_unreadable() -> None:
    llm = ScriptedLLM("Yes.", "I cannot say.")
    verdict = await CriteriaJudge(llm, [MEDICAL, REFUND], 5).judge("agent", "Take aspirin.")
    assert verdict.error == "unreadable verdict"
    assert verdict.violated == ("no_medical_advice",), "the answers that were read count"


async def test_a_tool_call_is_no_answer() -> None:
    llm = ScriptedLLM(ToolCall("c1", "end_call", {}))
    verdict = await CriteriaJudge(llm, [MEDICAL], 5).judge("agent", "Take aspirin.")
    assert verdict == Verdict((), "unreadable verdict", verdict.elapsed_ms)


async def test_a_judge_that_does_not_answer_in_time_times_out() -> None:
    llm = ScriptedLLM("Yes it does")
    llm.gate, llm.pause_after = asyncio.Event(), 0  # never opened: no token comes
    started = time.perf_counter()
    verdict = await CriteriaJudge(llm, [MEDICAL, REFUND], 0.1).judge("agent", "Take aspirin.")
    assert verdict.error == "timeout" and verdict.violated == ()
    assert 90 <= verdict.elapsed_ms < 1000 and time.perf_counter() - started < 1


async def test_a_failing_judge_names_the_failure() -> None:
    endpoint = Endpoint(f"http://127.0.0.1:{free_port()}/v1", "m", None, 2.0, 0)
    llm = OpenAICompatibleLLM("llm:down", endpoint)
    verdict = await CriteriaJudge(llm, [MEDICAL, REFUND], 5).judge("agent", "Take aspirin.")
    assert verdict.error == "judge failed: ProviderError" and verdict.violated == ()
