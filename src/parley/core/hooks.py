"""The seams of the agent layer: what the engine asks before it answers and speaks.

The voice engine (ears and mouth) calls these; content policies, knowledge retrieval
and server-side tools implement them elsewhere, and the server's app factory wires
them per session. With no hooks and the client tool runner the engine behaves as a
plain voice pipeline.

- :class:`TurnHook`, called in order for every turn:
  - :meth:`TurnHook.on_user_turn` when a user turn is committed: allow it, rewrite its
    text, answer it with a fixed reply instead of the LLM, or hold it while something
    runs (a filler phrase is spoken if that takes long);
  - :meth:`TurnHook.on_speculative_transcript` during the end-of-turn silence, to start
    work early (it must not block);
  - :meth:`TurnHook.on_context` before each LLM call, to change the messages (e.g. add
    retrieved passages);
  - :meth:`TurnHook.on_clause` before each agent clause goes to TTS: allow, replace or
    drop it; nothing reaches the speaker that a hook would block;
  - :meth:`TurnHook.on_agent_turn` when an agent turn is over: nothing, or a line to say
    next (and maybe end the session), e.g. when the agent is going in circles;
  - :meth:`TurnHook.on_store` before a turn's text is stored (e.g. redacted); for a
    user turn this is the moment it is committed (``on_user_turn`` may have seen a
    speculative turn the user then went on with).

A hook that changes or flags what is said records it with :meth:`TurnInfo.mark`; the
engine sends each mark to the client (``SafetyOut``) and stores it with the turn.
- :class:`ToolRunner`: which tool calls the server runs itself, and how.

Every hook's time goes into the turn's metrics (``hook:<name>`` in ``latency_ms``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from parley.core.clock import Clock
from parley.core.events import (
    Citation,
    EndReason,
    Role,
    SafetyAction,
    SafetyKind,
    SafetyOut,
    TransferOut,
)
from parley.providers.llm.base import ChatMessage, ToolCall


@dataclass(frozen=True, slots=True)
class TurnInfo:
    """Which turn a hook is asked about."""

    session_id: str
    agent_id: str
    turn_id: str
    language: str = "en"
    marks: list[SafetyOut] = field(default_factory=list)
    """What the hooks did about this turn so far (see :meth:`mark`)."""
    citations: list[Citation] = field(default_factory=list)
    """The knowledge-base passages the hooks gave the LLM (see :meth:`cite`)."""
    stages: dict[str, float] = field(default_factory=dict)
    """Extra stage timings (ms) a hook reports for the turn's metrics, e.g. ``retrieval``."""

    def mark(
        self,
        kind: SafetyKind,
        action: SafetyAction,
        detail: str,
        *,
        policy_id: str | None = None,
        role: Role = "agent",
    ) -> None:
        """Record that a hook changed or flagged ``role``'s words in this turn."""
        self.marks.append(SafetyOut(self.turn_id, kind, action, detail, policy_id, role))

    def cite(self, citations: Sequence[Citation]) -> None:
        """Record that the LLM is given these passages for this turn's reply (they are
        sent to the client and stored with the agent turn)."""
        self.citations[:] = citations


# ---------------------------------------------------------------- decisions


@dataclass(frozen=True, slots=True)
class Allow:
    """Go on unchanged."""


ALLOW = Allow()


@dataclass(frozen=True, slots=True)
class Rewrite:
    """Use ``text`` as the user's words from here on (what the LLM sees), and ``client``
    (default: ``text``) in the transcript sent to the client, e.g. with personal data
    redacted. Storage gets the original words through :meth:`TurnHook.on_store`."""

    text: str
    client: str | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """Reply with ``text`` instead of asking the LLM; then end the session with ``end``
    if set."""

    text: str
    end: EndReason | None = None


UserTurnVerdict = Allow | Rewrite | Answer


@dataclass(frozen=True, slots=True)
class Hold:
    """Wait for ``verdict`` before going on; if it takes longer than ``filler_after_ms``,
    the agent says ``filler`` meanwhile (once per turn)."""

    verdict: Awaitable[UserTurnVerdict]
    filler: str | None = None
    filler_after_ms: float = 300.0


UserTurnDecision = UserTurnVerdict | Hold


@dataclass(frozen=True, slots=True)
class Replace:
    """Speak ``text`` instead of the clause; with ``final`` the rest of the reply is
    dropped (the reply ends with this text)."""

    text: str
    final: bool = False


@dataclass(frozen=True, slots=True)
class Drop:
    """Do not speak the clause."""


ClauseVerdict = Allow | Replace | Drop


@dataclass(frozen=True, slots=True)
class HoldClause:
    """Wait for ``verdict`` before the clause is spoken; if it takes longer than
    ``filler_after_ms`` and nothing of the reply has been said yet, the agent says
    ``filler`` meanwhile (once per turn)."""

    verdict: Awaitable[ClauseVerdict]
    filler: str | None = None
    filler_after_ms: float = 300.0


ClauseDecision = ClauseVerdict | HoldClause
Interim = Callable[[str], Awaitable[None]]
"""Speaks a filler line at once, ahead of the clause being reviewed."""


class TurnHook:
    """One agent-layer component that looks at every turn. Override what you need; the
    defaults change nothing. Hooks are made per session, so they may keep state."""

    name: str = "hook"

    async def on_user_turn(self, turn: TurnInfo, text: str) -> UserTurnDecision:
        """A user turn with ``text`` was committed (or is about to be, speculatively)."""
        return ALLOW

    def on_speculative_transcript(self, turn: TurnInfo, text: str) -> None:
        """The user paused after saying ``text``; the turn may end soon. Start slow work
        here (in a task); do not block."""

    async def on_context(self, turn: TurnInfo, messages: list[ChatMessage]) -> list[ChatMessage]:
        """The messages about to be sent to the LLM; return the ones to send."""
        return messages

    async def on_clause(self, turn: TurnInfo, clause: str) -> ClauseDecision:
        """An agent clause is about to be synthesized."""
        return ALLOW

    def on_agent_turn(
        self, turn: TurnInfo, text: str, tool_calls: Sequence[ToolCall]
    ) -> Answer | None:
        """The agent said ``text`` (and called ``tool_calls``); return a line to say
        next, or None. Must be cheap: it runs between turns."""
        return None

    async def on_store(self, turn: TurnInfo, role: Role, text: str) -> str:
        """``role``'s words of a finished turn are about to be stored; return what to
        store."""
        return text


# ---------------------------------------------------------------- running them


async def still_running(clock: Clock, pending: asyncio.Future[Any], after_ms: float) -> bool:
    """Wait until ``pending`` is done or ``after_ms`` passed on ``clock``; True if it is
    not done."""
    timer = asyncio.ensure_future(clock.sleep(after_ms / 1e3))
    try:
        await asyncio.wait({pending, timer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer.cancel()
    return not pending.done()


@dataclass(frozen=True, slots=True)
class Filler:
    """Say this while the user turn is held."""

    text: str


@dataclass(frozen=True, slots=True)
class UserTurnOutcome:
    """What the hooks decided about a user turn: its (maybe rewritten) text for the LLM
    and for the client, the fixed reply if one replaces the LLM, and the end reason if
    the session ends after that reply."""

    text: str
    answer: str | None = None
    client: str | None = None
    end: EndReason | None = None

    @property
    def shown(self) -> str:
        """The user's words as the client sees them."""
        return self.text if self.client is None else self.client


@dataclass(frozen=True, slots=True)
class ClauseOutcome:
    """What to speak of a clause (None: nothing), and whether the reply ends here."""

    text: str | None
    final: bool = False


Timings = dict[str, float]
"""Milliseconds spent in each hook during one turn, by ``hook:<name>``."""


@dataclass(frozen=True, slots=True)
class HookChain:
    """Runs a session's hooks in order, adding each hook's time (on the session's
    clock) to the turn's ``timings``."""

    hooks: Sequence[TurnHook]
    clock: Clock

    def _took(self, timings: Timings, hook: TurnHook, since: float) -> None:
        key = f"hook:{hook.name}"
        ms = (self.clock.now() - since) * 1000.0
        timings[key] = round(timings.get(key, 0.0) + ms, 2)

    async def user_turn(
        self, turn: TurnInfo, text: str, timings: Timings
    ) -> AsyncIterator[Filler | UserTurnOutcome]:
        """Yield a :class:`Filler` if a held hook takes long, then the outcome."""
        filler_said, client = False, None
        for hook in self.hooks:
            started = self.clock.now()
            decision = await hook.on_user_turn(turn, text)
            if isinstance(decision, Hold):
                pending = asyncio.ensure_future(decision.verdict)
                try:
                    slow = await self._slow(pending, decision.filler_after_ms)
                    if slow and decision.filler and not filler_said:
                        filler_said = True
                        yield Filler(decision.filler)
                    verdict = await pending
                finally:
                    pending.cancel()
            else:
                verdict = decision
            self._took(timings, hook, started)
            if isinstance(verdict, Answer):
                yield UserTurnOutcome(text, verdict.text, client, verdict.end)
                return
            if isinstance(verdict, Rewrite):
                text, client = verdict.text, verdict.client
        yield UserTurnOutcome(text, client=client)

    def speculative_transcript(self, turn: TurnInfo, text: str, timings: Timings) -> None:
        """Tell every hook the user paused after ``text``."""
        for hook in self.hooks:
            started = self.clock.now()
            hook.on_speculative_transcript(turn, text)
            self._took(timings, hook, started)

    async def context(
        self, turn: TurnInfo, messages: list[ChatMessage], timings: Timings
    ) -> list[ChatMessage]:
        """The messages for the LLM after every hook had its say."""
        for hook in self.hooks:
            started = self.clock.now()
            messages = await hook.on_context(turn, messages)
            self._took(timings, hook, started)
        return messages

    async def _slow(self, pending: asyncio.Future[Any], after_ms: float) -> bool:
        return await still_running(self.clock, pending, after_ms)

    async def clause(
        self, turn: TurnInfo, clause: str, timings: Timings, interim: Interim | None = None
    ) -> ClauseOutcome:
        """What to speak of ``clause``: the first hook that replaces or drops it wins. A
        held clause has ``interim`` say a filler if the hook is slow (None: no filler)."""
        for hook in self.hooks:
            started = self.clock.now()
            decision: ClauseDecision = await hook.on_clause(turn, clause)
            if isinstance(decision, HoldClause):
                pending = asyncio.ensure_future(decision.verdict)
                try:
                    slow = await self._slow(pending, decision.filler_after_ms)
                    if slow and decision.filler and interim is not None:
                        await interim(decision.filler)
                        interim = None
                    decision = await pending
                finally:
                    pending.cancel()
            self._took(timings, hook, started)
            if isinstance(decision, Drop):
                return ClauseOutcome(None)
            if isinstance(decision, Replace):
                return ClauseOutcome(decision.text, decision.final)
        return ClauseOutcome(clause)

    def agent_turn(
        self, turn: TurnInfo, text: str, tool_calls: Sequence[ToolCall]
    ) -> Answer | None:
        """The first line a hook wants said after an agent turn (None: nothing)."""
        for hook in self.hooks:
            if (line := hook.on_agent_turn(turn, text, tool_calls)) is not None:
                return line
        return None

    async def store(self, turn: TurnInfo, role: Role, text: str) -> str:
        """What to store of ``role``'s words, after every hook had its say."""
        for hook in self.hooks:
            text = await hook.on_store(turn, role, text)
        return text


# ---------------------------------------------------------------- tools


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """What a server-run tool call gave: ``output`` (JSON) for the LLM, ``ok`` False if
    it is an error the LLM should talk about. With ``say`` the agent says that line
    instead of asking the LLM again, then ends the session with ``end`` if set;
    ``transfer`` is sent to the client first."""

    output: Any
    ok: bool = True
    say: str | None = None
    end: EndReason | None = None
    transfer: TransferOut | None = None
    after: Callable[[], Awaitable[None]] | None = None
    """Awaited once ``say`` has been heard, before the session ends (e.g. redirecting a
    phone call)."""


class ToolRunner:
    """Decides who runs a tool call: the server (:meth:`run`) or the client (it gets a
    ``tool_call`` event and answers with ``tool_result``). This base hands every call to
    the client."""

    filler_after_ms: float = 700.0
    """A server-run call still running after this long has the agent say :meth:`filler`
    (if the turn that made the call said nothing)."""

    def runs_on_server(self, name: str) -> bool:
        """True if the server runs tool ``name`` itself."""
        return False

    def filler(self, name: str, language: str | None = None) -> str | None:
        """What the agent says (in ``language``) while tool ``name`` runs long (None:
        nothing)."""
        return None

    async def run(self, call: ToolCall, turn: TurnInfo) -> ToolOutcome:
        """Run ``call``. Errors the LLM can talk about are outcomes too (``ok=False``)."""
        raise NotImplementedError(f"tool {call.name!r} is run by the client")


CLIENT_TOOLS = ToolRunner()
"""Every tool call goes to the client."""
