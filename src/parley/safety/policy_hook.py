"""A content policy as a turn hook: nothing the policy forbids reaches the speaker.

- User turns: a user blocked term is answered with the fallback line; personal data is
  redacted for the LLM and the client where the policy says; user-side criteria are
  judged while the turn is held (a filler line covers a slow verdict).
- Agent clauses, before text-to-speech: blocked terms (also across clauses) end the reply
  with the fallback; personal data is spoken as a neutral phrase; agent-side criteria are
  judged on the reply so far, and a violation replaces the rest of the reply.
- Storage gets personal data as ``<ENTITY>`` tags where the policy says.

Every decision is marked on the turn (kind, action, the rule's name; never the words).
Built-in lines (fallback, fillers) are those of the turn's language
(``TurnInfo.language``); lines the policy names are said as written.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from typing import Literal

from parley.core.events import Role, SafetyAction, SafetyKind
from parley.core.hooks import (
    ALLOW,
    Answer,
    ClauseDecision,
    ClauseVerdict,
    Hold,
    HoldClause,
    Replace,
    Rewrite,
    TurnHook,
    TurnInfo,
    UserTurnDecision,
    UserTurnVerdict,
)
from parley.languages.packs import ENGLISH, LanguagePack, pack_or_default
from parley.providers.llm.base import ChatMessage
from parley.safety.judge import CriteriaJudge, Verdict
from parley.safety.pii import PiiDetector, Redaction
from parley.safety.policy import PolicyBody
from parley.safety.terms import BlockedTerms, ClauseScanner

log = logging.getLogger(__name__)

DEFAULT_FILLERS = ENGLISH.lines.wait_fillers
"""Said while a judge is slow, when the policy names no filler phrases (in English;
other languages: ``LanguagePack.lines.wait_fillers``)."""


def turn_pack(turn: TurnInfo) -> LanguagePack:
    """The pack of the turn's language; English when the language is unknown."""
    return pack_or_default(turn.language)


@dataclass(frozen=True)
class SessionPolicy:
    """A content policy as one session uses it: a snapshot taken when the session
    started, so editing or deleting the policy never breaks a call."""

    policy_id: str
    body: PolicyBody
    terms: BlockedTerms
    user_terms: BlockedTerms
    pii: PiiDetector | None
    """None when the policy names no personal data."""
    judge: CriteriaJudge | None
    """None when the policy has no criteria."""

    @property
    def fillers(self) -> tuple[str, ...]:
        """The filler lines in English (see :meth:`fillers_in`)."""
        return self.fillers_in(ENGLISH)

    def fillers_in(self, pack: LanguagePack) -> tuple[str, ...]:
        """The policy's filler phrases, else the pack's (none: the agent stays silent)."""
        return tuple(self.body.filler_phrases) or pack.lines.wait_fillers

    def fixed_lines(self, pack: LanguagePack = ENGLISH) -> set[str]:
        """Every line this policy may make the agent say in ``pack``'s language
        (synthesized once, cached)."""
        lines = {self.fallback(pack=pack), *self.fillers_in(pack)}
        lines.update(c.fallback for c in self.body.criteria if c.fallback)
        return lines

    def fallback(self, criterion: str | None = None, *, pack: LanguagePack = ENGLISH) -> str:
        """The line said instead of what broke the policy."""
        for c in self.body.criteria:
            if c.name == criterion and c.fallback:
                return c.fallback
        return self.body.blocked_fallback or pack.lines.policy_fallback


class PolicyHook(TurnHook):
    """One session's content policy."""

    name = "policy"

    def __init__(self, policy: SessionPolicy) -> None:
        self.policy = policy
        body = policy.body
        self._entities = tuple(body.pii.entities) if policy.pii is not None else ()
        self._redact = frozenset(body.pii.redact)
        self._fillers: dict[str, Iterator[str]] = {}
        """Each language's fillers, said in turn."""
        self._turn_id: str | None = None
        self._scanner = ClauseScanner(policy.terms)
        self._reply = ""
        self._last_user = ""
        self._early: dict[str, asyncio.Task[Redaction]] = {}
        """Redactions started on the speculative transcript, by text (at most one)."""

    # ------------------------------------------------------------ personal data

    def _pii(self, text: str, style: Literal["tag", "spoken"] = "tag") -> Awaitable[Redaction]:
        """Redact ``text`` in a worker thread (results are cached by the detector)."""
        assert self.policy.pii is not None
        detector, entities = self.policy.pii, self._entities
        return asyncio.to_thread(detector.redact, text, entities, style)

    def on_speculative_transcript(self, turn: TurnInfo, text: str) -> None:
        if self._entities and text not in self._early:
            self._early = {text: asyncio.ensure_future(self._pii(text))}

    async def _redacted(self, text: str) -> Redaction:
        early = self._early.pop(text, None)
        return await (early if early is not None else self._pii(text))

    def _filler(self, turn: TurnInfo) -> str | None:
        """The next filler line in the turn's language (None: the policy and the
        language have none)."""
        pack = turn_pack(turn)
        lines = self.policy.fillers_in(pack)
        if not lines:
            return None
        cycle = self._fillers.get(pack.code)
        if cycle is None:
            cycle = self._fillers[pack.code] = itertools.cycle(lines)
        return next(cycle)

    # ------------------------------------------------------------ user turns

    def _mark(
        self, turn: TurnInfo, kind: SafetyKind, action: SafetyAction, detail: str, role: Role
    ) -> None:
        turn.mark(kind, action, detail, policy_id=self.policy.policy_id, role=role)

    async def on_user_turn(self, turn: TurnInfo, text: str) -> UserTurnDecision:
        self._last_user = text
        found = self.policy.user_terms.find(text) if self.policy.user_terms else None
        if found is not None:
            self._mark(turn, "blocked_term", "replaced", f"user term #{found + 1}", "user")
            return Answer(self.policy.fallback(pack=turn_pack(turn)))
        verdict: UserTurnVerdict = ALLOW
        if self._entities:
            redaction = await self._redacted(text)
            if redaction.entities:
                self._mark(turn, "pii", "redacted", ",".join(redaction.entities), "user")
                self._last_user = redaction.text
                llm = redaction.text if "llm" in self._redact else text
                client = redaction.text if "client" in self._redact else text
                if llm != text or client != text:
                    verdict = Rewrite(llm, client=client)
        judge = self.policy.judge
        if judge is None or not judge.applicable("user"):
            return verdict
        filler = self._filler(turn)
        held = self._judged_user_turn(turn, judge, text, verdict)
        return Hold(held, filler=filler, filler_after_ms=self.policy.body.filler_after_ms)

    async def _judged_user_turn(
        self, turn: TurnInfo, judge: CriteriaJudge, text: str, otherwise: UserTurnVerdict
    ) -> UserTurnVerdict:
        blocked = self._ruling(turn, await judge.judge("user", text), "user")
        return otherwise if blocked is None else Answer(blocked)

    def _ruling(self, turn: TurnInfo, verdict: Verdict, role: Role) -> str | None:
        """Mark what the verdict found; the fallback line if the words must not stand."""
        criteria = {c.name: c for c in self.policy.body.criteria}
        blocking = [name for name in verdict.violated if criteria[name].action == "block"]
        for name in verdict.violated:
            action: SafetyAction = "blocked" if name in blocking else "flagged"
            self._mark(turn, "criterion", action, name, role)
        if blocking:
            return self.policy.fallback(blocking[0], pack=turn_pack(turn))
        if verdict.error is not None:
            blocked = self.policy.body.on_judge_error == "block"
            self._mark(
                turn,
                "criterion",
                "blocked" if blocked else "flagged",
                f"judge error: {verdict.error}",
                role,
            )
            log.warning("content judge failed", extra={"error": verdict.error})
            return self.policy.fallback(pack=turn_pack(turn)) if blocked else None
        return None

    # ------------------------------------------------------------ agent clauses

    async def on_clause(self, turn: TurnInfo, clause: str) -> ClauseDecision:
        if turn.turn_id != self._turn_id:  # a new reply
            self._turn_id, self._reply = turn.turn_id, ""
            self._scanner.reset()
        found = self._scanner.check(clause)
        if found is not None:
            self._mark(turn, "blocked_term", "replaced", f"term #{found + 1}", "agent")
            return Replace(self.policy.fallback(pack=turn_pack(turn)), final=True)
        said = clause
        if self._entities and "agent_speech" in self._redact:
            spoken = await self._pii(clause, "spoken")
            if spoken.entities:
                self._mark(turn, "pii", "redacted", ",".join(spoken.entities), "agent")
                said = spoken.text
        judge = self.policy.judge
        if judge is None or not judge.applicable("agent"):
            return ALLOW if said == clause else Replace(said)
        self._reply = f"{self._reply} {said}".strip()
        held = self._judged_clause(turn, judge, self._reply, said, clause)
        filler = self._filler(turn)
        return HoldClause(held, filler=filler, filler_after_ms=self.policy.body.filler_after_ms)

    async def _judged_clause(
        self, turn: TurnInfo, judge: CriteriaJudge, reply: str, said: str, clause: str
    ) -> ClauseVerdict:
        context: list[ChatMessage] = []
        if self._last_user:
            context.append({"role": "user", "content": self._last_user})
        blocked = self._ruling(turn, await judge.judge("agent", reply, context), "agent")
        if blocked is not None:
            return Replace(blocked, final=True)
        return ALLOW if said == clause else Replace(said)

    # ------------------------------------------------------------ storage

    async def on_store(self, turn: TurnInfo, role: Role, text: str) -> str:
        if not self._entities or "storage" not in self._redact or not text:
            return text
        return (await self._pii(text)).text
