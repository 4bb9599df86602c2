"""What a session hands to storage: finished turns, tool results, truncations, the end.

Storage failures are logged and never stop the conversation. A write is never cut in
the middle: when the task that stores a turn is cancelled (a barge-in, the end of the
session), the write itself completes. The clause timing of the last few agent turns is
kept, so a client can still cut a finished turn to what it actually played.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

from parley.core.agent import SessionObserver
from parley.core.events import EndReason
from parley.core.records import TurnRecord
from parley.core.speaker import ClauseMark, heard_text
from parley.core.tool_ledger import ToolLedger
from parley.providers.llm.base import ToolCall

log = logging.getLogger(__name__)

PAST_TURNS_KEPT = 16
"""Agent turns whose clause timing is kept, so a client can still truncate them."""


class TurnLog:
    """One session's link to its :class:`SessionObserver` (storage)."""

    def __init__(
        self,
        observer: SessionObserver | None,
        ledger: ToolLedger,
        log_extra: Callable[[str | None], dict[str, str]],
    ) -> None:
        self._observer = observer
        self._ledger = ledger
        self._extra = log_extra
        self._marks: OrderedDict[str, list[ClauseMark]] = OrderedDict()
        self._writes: set[asyncio.Future[None]] = set()

    async def turn(self, record: TurnRecord) -> None:
        """Store a finished turn."""
        if self._observer is not None:
            await self._write(self._observer.on_turn(record), "turn", record.turn_id)

    async def agent_turn(self, record: TurnRecord, calls: Sequence[ToolCall]) -> None:
        """Store an agent turn with the tool calls it made (and any results already in)."""
        tool_calls = self._ledger.records(calls)
        await self.turn(replace(record, tool_calls=tool_calls))
        for call_id, output in self._ledger.stored(record.turn_id, tool_calls):
            await self.tool_output(record.turn_id, call_id, output)

    async def tool_output(self, turn_id: str, call_id: str, output: Any) -> None:
        """Attach a tool's result to the stored agent turn that called it."""
        if self._observer is not None:
            write = self._observer.on_tool_output(turn_id, call_id, output)
            await self._write(write, "tool result", turn_id)

    async def truncated(self, turn_id: str, text: str) -> None:
        """A finished agent turn was heard only up to ``text``."""
        if self._observer is not None:
            write = self._observer.on_turn_truncated(turn_id, text)
            await self._write(write, "truncated turn", turn_id)

    async def end(self, reason: EndReason) -> None:
        """The session ended."""
        if self._observer is not None:
            await self._write(self._observer.on_end(reason), "session end", None)

    async def _write(self, write: Awaitable[None], what: str, turn_id: str | None) -> None:
        """Run one storage write to its end, even if the caller is cancelled meanwhile."""
        task = asyncio.ensure_future(write)
        self._writes.add(task)
        task.add_done_callback(lambda t: self._written(t, what, turn_id))
        with contextlib.suppress(Exception):  # logged by _written
            await asyncio.shield(task)

    def _written(self, task: asyncio.Future[None], what: str, turn_id: str | None) -> None:
        self._writes.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("could not store the %s", what, exc_info=exc, extra=self._extra(turn_id))

    def keep_marks(self, turn_id: str, marks: list[ClauseMark]) -> None:
        """Remember where the clauses of agent turn ``turn_id`` lie in its audio."""
        self._marks[turn_id] = list(marks)
        while len(self._marks) > PAST_TURNS_KEPT:
            self._marks.popitem(last=False)

    def heard(self, turn_id: str, played_ms: float) -> str | None:
        """The words of a past agent turn within its first ``played_ms``; None if its
        clause timing is no longer known."""
        marks = self._marks.get(turn_id)
        return None if marks is None else heard_text(marks, played_ms)
