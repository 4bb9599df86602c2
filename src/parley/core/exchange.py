"""One agent turn's lifecycle: start, suspend on barge-in, resume, stop.

An :class:`Exchange` is one agent turn in progress, with the user turn that caused it
while that is still being transcribed. At most one runs at a time; the
:class:`ExchangeLifecycle` starts it as a task, stops it, and keeps the agent turn that
user speech cut (:class:`Suspended`) until the engine knows whether the user took the
turn (end it where the user stopped hearing it) or only said "mhm" (resume it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from parley.core.events import (
    AgentTurnEnd,
    AgentTurnStart,
    AgentTurnStatus,
    Citation,
    ErrorOut,
    Interruption,
    SafetyOut,
    ServerEvent,
)
from parley.core.metrics import TurnTimeline
from parley.core.speaker import AgentSpeaker
from parley.errors import ParleyError
from parley.providers.llm.base import ToolCall, ToolChoice

log = logging.getLogger(__name__)

Emit = Callable[[ServerEvent], Awaitable[None]]


class Stage(Enum):
    """Where an exchange is."""

    SPECULATING = "speculating"  # reply prepared during the user's pause, not yet released
    TRANSCRIBING = "transcribing"  # waiting for STT; nothing said to the client yet
    HOLDING = "holding"  # transcript suggests more is coming; waiting a little longer
    ANSWERING = "answering"  # user turn committed, agent reply in progress
    PLAYING = "playing"  # all audio sent, the client is still playing it


@dataclass
class Exchange:
    """One agent turn in progress (with the user turn that caused it, if any)."""

    turn_id: str
    timeline: TurnTimeline
    stage: Stage = Stage.ANSWERING
    utterance: bytes = b""
    speaker: AgentSpeaker | None = None
    task: asyncio.Task[None] | None = None
    commit: asyncio.Event | None = None
    """Set at end of turn for a speculative exchange; audio waits for it."""
    reply: bool = True
    """Answer once the user turn is in (false: transcribe only)."""
    requested: bool = False
    """The client asked for the answer (RespondIn): it comes even if the turn is dropped."""
    instructions: str | None = None
    tool_choice: ToolChoice | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    started: bool = False
    """``agent_turn_start`` was sent; an ``agent_turn_end`` is owed."""
    started_at: datetime | None = None
    """Wall-clock time the agent turn began speaking."""
    finished: bool = False
    safety: list[SafetyOut] = field(default_factory=list)
    """What content safety did in this exchange (both roles), in order."""
    safety_sent: int = 0
    """How many of :attr:`safety` the client has been told about."""
    citations: list[Citation] = field(default_factory=list)
    """The knowledge-base passages the hooks gave the LLM in this exchange."""
    recorded: bool = False
    """The agent turn was played out and handed to storage: stopping it now keeps it."""
    heard_language: str | None = None
    """The detected language of its user turn, and how sure speech-to-text was."""
    heard_probability: float | None = None
    language: str | None = None
    """The language the agent answers in (None: the conversation's current one)."""

    @property
    def pending_user_turn(self) -> bool:
        """True while its user turn is still being transcribed or held."""
        return self.stage in (Stage.TRANSCRIBING, Stage.HOLDING)


@dataclass(frozen=True, slots=True)
class Suspended:
    """An agent turn cut by user speech, until we know whether the user took the turn."""

    turn_id: str
    speaker: AgentSpeaker
    timeline: TurnTimeline
    started: datetime
    tool_calls: tuple[ToolCall, ...] = ()
    safety: tuple[SafetyOut, ...] = ()
    """What content safety did in the turn (already sent to the client)."""
    citations: tuple[Citation, ...] = ()
    """The passages the turn was given (already sent to the client)."""


SuspendedEnd = Callable[[Suspended, bool], Awaitable[None]]
"""Called with a suspended turn that is over, and whether it was interrupted."""


class ExchangeLifecycle:
    """The exchange in progress and the suspended agent turn of one session."""

    def __init__(
        self,
        emit: Emit,
        *,
        on_suspended_end: SuspendedEnd,
        log_extra: Callable[[str | None], dict[str, str]],
        now: Callable[[], datetime],
    ) -> None:
        self._emit = emit
        self._on_suspended_end = on_suspended_end
        self._extra = log_extra
        self._now = now
        self.current: Exchange | None = None
        self.suspended: Suspended | None = None

    # ------------------------------------------------------------ what is going on

    def audible(self) -> AgentSpeaker | None:
        """The speaker of the agent turn the user may be hearing now."""
        r = self.current
        if r is None or r.speaker is None or not r.speaker.audio_sent:
            return None
        return r.speaker if r.stage in (Stage.ANSWERING, Stage.PLAYING) else None

    def speculation(self) -> Exchange | None:
        """The reply being prepared during the user's pause, if any."""
        r = self.current
        return r if r is not None and r.stage is Stage.SPECULATING else None

    def pending_user_turn(self) -> Exchange | None:
        """The exchange whose user turn is still being transcribed or held, if any."""
        r = self.current
        return r if r is not None and r.pending_user_turn else None

    @property
    def busy(self) -> bool:
        """True while an agent turn runs or waits to be resumed."""
        return self.current is not None or self.suspended is not None

    # ------------------------------------------------------------ start

    def start(self, exchange: Exchange, work: Awaitable[None]) -> None:
        """Run ``work`` as the current exchange. A failure tells the client
        (``internal_error``) and ends a started agent turn as ``failed``."""

        async def run() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # a provider's failure names the provider; other details stay in the log
                reason = exc.message if isinstance(exc, ParleyError) else type(exc).__name__
                log.warning(
                    "agent turn failed: %s", reason, exc_info=not isinstance(exc, ParleyError),
                    extra=self._extra(exchange.turn_id),
                )  # fmt: skip
                message = f"the agent could not answer: {reason}"
                with contextlib.suppress(Exception):
                    await self._emit(ErrorOut("internal_error", message))
                    await self.close_turn(exchange, "failed")
            finally:
                self.release(exchange)

        self.current = exchange
        exchange.task = asyncio.create_task(run(), name=f"parley-{exchange.turn_id}")

    def release(self, exchange: Exchange) -> None:
        """``exchange`` is over: no exchange is current any more (if it was)."""
        if self.current is exchange:
            self.current = None

    async def open_turn(self, exchange: Exchange) -> None:
        """Send ``agent_turn_start`` (once); the agent turn begins now."""
        if not exchange.started:
            exchange.started = True
            exchange.started_at = self._now()
            await self._emit(AgentTurnStart(exchange.turn_id))

    async def close_turn(self, exchange: Exchange, status: AgentTurnStatus) -> None:
        """Send the ``agent_turn_end`` owed for a started turn (once)."""
        if exchange.started and not exchange.finished:
            exchange.finished = True
            await self._emit(AgentTurnEnd(exchange.turn_id, status))

    # ------------------------------------------------------------ stop

    async def stop(
        self,
        *,
        merge_audio: bool = False,
        announce: bool = True,
        status: AgentTurnStatus = "cancelled",
        end_turn: bool = True,
    ) -> bytes:
        """Cancel the current exchange. An audible agent turn is suspended (the client is
        told to drop its audio, unless not ``announce``); a user turn still being
        transcribed or held gives its audio back when ``merge_audio`` (the user goes on
        with the same turn). A started agent turn ends with ``status`` (not when the
        whole session is closing: ``end_turn`` false)."""
        exchange = self.current
        if exchange is None or exchange.task is None:
            return b""
        self.current = None
        if exchange.task is not asyncio.current_task():
            exchange.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await exchange.task
        speaker = exchange.speaker
        if speaker is not None and speaker.audio_sent and not exchange.recorded:
            if announce:
                await self._emit(Interruption(exchange.turn_id))
            if end_turn:
                await self.close_turn(exchange, status)
            await self.end_suspended(interrupted=True)
            started = exchange.started_at or self._now()
            self.suspended = Suspended(
                exchange.turn_id, speaker, exchange.timeline, started,
                tuple(exchange.tool_calls), tuple(exchange.safety), tuple(exchange.citations),
            )  # fmt: skip
            return b""
        if end_turn:
            await self.close_turn(exchange, status)
        if merge_audio and exchange.pending_user_turn:
            return exchange.utterance
        return b""

    async def stop_all(self, status: AgentTurnStatus = "cancelled") -> None:
        """Stop the current exchange and end a suspended turn where it was heard."""
        await self.stop(status=status)
        await self.end_suspended(interrupted=True)

    async def drop_speculation(self) -> None:
        """The user went on speaking: the prepared reply was never heard."""
        if self.speculation() is not None:
            await self.stop(announce=False)

    # ------------------------------------------------------------ the suspended turn

    def take_suspended(self) -> Suspended | None:
        """The suspended turn, to resume it (it is no longer suspended)."""
        suspended, self.suspended = self.suspended, None
        return suspended

    async def end_suspended(self, *, interrupted: bool) -> None:
        """The user took the turn: keep only what they heard of the suspended turn."""
        suspended, self.suspended = self.suspended, None
        if suspended is not None:
            await self._on_suspended_end(suspended, interrupted)
