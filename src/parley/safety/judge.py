"""Custom criteria judged by an LLM: one short yes/no question per criterion.

Small models answer one narrow, direct question more reliably than a list of rules at
once, so each criterion is its own request, its rule turned into a question ("The agent
must not give medical advice." asks "Does the agent give medical advice?"): the judged
text first and the question last, so that the requests of one judgement share their prefix and
llama.cpp evaluates only the rule of each after the first. They run at once (a server
with several slots decodes them in parallel), at temperature 0 with a few tokens each,
under one time limit; the reply is read from its first ``yes`` or ``no``.

The judged text is never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Literal

from parley.providers.llm.base import ChatMessage, LanguageModel
from parley.safety.policy import Criterion

Side = Literal["user", "agent"]
MAX_TOKENS = 4
"""Enough for ``Yes.`` or ``No,`` in any tokenizer; the answer is its first word."""
MAX_TEXT_CHARS = 2000
"""Longer text is judged by its start and end (a voice turn is rarely this long)."""
MAX_CONTEXT_CHARS = 600

SYSTEM = "Answer the question about a customer-service phone call with a single word: yes or no."
_FORBIDS = re.compile(
    r"^\s*(?:(?:the\s+)?(?:agent|caller|user|assistant|bot)\s+"
    r"(?:must|should|may|shall|can|will)\s*(?:not|never|n't)|never|do\s+not|don't)\s+"
    r"(?P<act>.+?)[\s.!]*$",
    re.IGNORECASE | re.DOTALL,
)
_NO_THING = re.compile(r"^\s*no\s+(?P<thing>.+?)[\s.!]*$", re.IGNORECASE | re.DOTALL)
_ANSWER = re.compile(r"\b(yes|no|true|false)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Verdict:
    """The outcome of one judgement: the names of the criteria the text broke (in the
    policy's order), and ``error`` when the judge could not answer for all of them
    (``timeout``, ``unreadable verdict``, ``judge failed: <ExceptionType>``)."""

    violated: tuple[str, ...] = ()
    error: str | None = None
    elapsed_ms: float = 0.0


def read_answer(reply: str) -> bool | None:
    """True for a reply that says the rule was broken (``yes``), False for ``no``, None
    for a reply with neither; the first of them counts (``"No, it doesn't. Yes..."``)."""
    match = _ANSWER.search(reply)
    if match is None:
        return None
    return match.group(1).lower() in ("yes", "true")


def _answered(reply: str) -> bool:
    """The reply has its answer word, followed by something (so "no" is not "not")."""
    match = _ANSWER.search(reply)
    return match is not None and match.end() < len(reply)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]} … {text[-half:]}"


def _last_user_message(context: Sequence[ChatMessage]) -> str | None:
    for message in reversed(context):
        if message["role"] == "user" and message["content"].strip():
            return str(message["content"])
    return None


def rule_question(rule: str, who: str) -> str:
    """The yes/no question a rule asks: "The agent must not give medical advice." becomes
    "Does the agent give medical advice?" (small models answer that far better than
    "does it break the rule?", which they answer "no" almost always)."""
    rule = " ".join(rule.split())
    if match := _FORBIDS.match(rule):
        return f"Does the {who} {match.group('act')}?"
    if match := _NO_THING.match(rule):  # "No medical advice."
        return f"Does the {who}'s message contain {match.group('thing')}?"
    return f"Does the {who}'s message break this rule: {rule}"


def judge_messages(
    side: Side, text: str, rule: str, context: Sequence[ChatMessage] = ()
) -> list[ChatMessage]:
    """The chat that asks whether ``text`` breaks ``rule``: the text first (shared by the
    requests of one judgement), the question last. An agent's reply is shown after the
    caller's last words, which it answers."""
    said = _clip(text, MAX_TEXT_CHARS)
    if side == "agent":
        asked = _last_user_message(context)
        shown = f'Caller: "{_clip(asked, MAX_CONTEXT_CHARS)}"\n' if asked else ""
        shown += f'Agent: "{said}"'
        who = "agent"
    else:
        shown, who = f'Caller: "{said}"', "caller"
    question = f"{shown}\n\nQuestion: {rule_question(rule, who)}\nAnswer yes or no."
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]


class CriteriaJudge:
    """Judges a policy's criteria on one side's text with ``llm``, within ``timeout_s``."""

    def __init__(self, llm: LanguageModel, criteria: Sequence[Criterion], timeout_s: float) -> None:
        self.llm = llm
        self.criteria = tuple(criteria)
        self.timeout_s = timeout_s

    def applicable(self, side: Side) -> tuple[Criterion, ...]:
        """The criteria judged on ``side``'s text."""
        return tuple(c for c in self.criteria if c.applies_to in (side, "both"))

    async def judge(self, side: Side, text: str, context: Sequence[ChatMessage] = ()) -> Verdict:
        """Which of the criteria for ``side`` the text breaks. Never raises (a timeout or
        a failure is the verdict's ``error``; answers already read are kept)."""
        criteria = self.applicable(side)
        if not criteria or not text.strip():
            return Verdict()
        start = time.perf_counter()
        answers: dict[str, bool | None] = {}
        error: str | None = None
        try:
            async with asyncio.timeout(self.timeout_s):
                error = await self._ask_all(criteria, side, text, context, answers)
        except TimeoutError:
            error = "timeout"
        if error is None and any(answers.get(c.name) is None for c in criteria):
            error = "unreadable verdict"
        violated = tuple(c.name for c in criteria if answers.get(c.name))
        return Verdict(violated, error, round((time.perf_counter() - start) * 1000, 1))

    async def _ask_all(
        self,
        criteria: Sequence[Criterion],
        side: Side,
        text: str,
        context: Sequence[ChatMessage],
        answers: dict[str, bool | None],
    ) -> str | None:
        error: str | None = None
        try:
            async with asyncio.TaskGroup() as group:
                for criterion in criteria:
                    group.create_task(self._ask(criterion, side, text, context, answers))
        except* Exception as failures:  # the first failure names the error
            error = f"judge failed: {type(_first(failures)).__name__}"
        return error

    async def _ask(
        self,
        criterion: Criterion,
        side: Side,
        text: str,
        context: Sequence[ChatMessage],
        answers: dict[str, bool | None],
    ) -> None:
        messages = judge_messages(side, text, criterion.rule, context)
        pieces: list[str] = []
        stream = self.llm.stream(messages, max_tokens=MAX_TOKENS, temperature=0.0)
        async with _closing(stream) as items:
            async for item in items:
                if isinstance(item, str):
                    pieces.append(item)
                    if _answered("".join(pieces)):
                        break  # stop generating
        answers[criterion.name] = read_answer("".join(pieces))


def _first(group: BaseExceptionGroup[Exception]) -> BaseException:
    """The first leaf exception of a (possibly nested) group."""
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


@contextlib.asynccontextmanager
async def _closing(stream: AsyncIterator[object]) -> AsyncIterator[AsyncIterator[object]]:
    """Yield ``stream`` and close it afterwards (a closed stream stops generation)."""
    try:
        yield stream
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()
