"""What a session hands to storage: finished turns, tool results, truncations, the end.

Storage failures are logged and never stop the conversation. The clause timing of the
last few agent turns is kept, so a client can still cut a finished turn to what it
actually played.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
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

    async def turn(self, record: TurnRecord) -> None:
        """Store a finished turn."""
        if self._observer is None:
            return
        try:
            await self._observer.on_turn(record)
        except Exception:
            log.exception("could not store turn", extra=self._extra(record.turn_id))

    async def agent_turn(self, record: TurnRecord, calls: Sequence[ToolCall]) -> None:
        """Store an agent turn with the tool calls it made (and any results already in)."""
        tool_calls = self._ledger.records(calls)
        await self.turn(replace(record, tool_calls=tool_calls))
        for call_id, output in self._ledger.stored(record.turn_id, tool_calls):
            await self.tool_output(record.turn_id, call_id, output)

    async def tool_output(self, turn_id: str, call_id: str, output: Any) -> None:
        """Attach a tool's result to the stored agent turn that called it."""
        if self._observer is None:
            return
        try:
            await self._observer.on_tool_output(turn_id, call_id, output)
        except Exception:
            log.exception("could not store a tool result", extra=self._extra(turn_id))

    async def truncated(self, turn_id: str, text: str) -> None:
        """A finished agent turn was heard only up to ``text``."""
        if self._observer is None:
            return
        try:
            await self._observer.on_turn_truncated(turn_id, text)
        except Exception:
            log.exception("could not store the truncated turn", extra=self._extra(turn_id))

    async def end(self, reason: EndReason) -> None:
        """The session ended."""
        if self._observer is None:
            return
        try:
            await self._observer.on_end(reason)
        except Exception:
            log.exception("could not store session end", extra=self._extra(None))

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
