"""Tool calls the agent made and their results, until both are in the conversation and
in storage. Sans-I/O bookkeeping.

A call is *waiting* from the moment the agent makes it until its result comes (from the
client or a server-side runner). Storage is independent of that: the agent turn that
made the call is stored when its audio has been played, which may be before or after the
result came, so a result is either attached to the stored turn at once or kept until
the turn is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from parley.core.records import ToolCallRecord
from parley.providers.llm.base import ToolCall


class ToolLedger:
    """The tool calls of one session that still miss a result or a stored turn."""

    def __init__(self) -> None:
        self._waiting: dict[str, str] = {}
        """Calls waiting for a result: call id → turn id."""
        self._stored: dict[str, str] = {}
        """Calls of stored agent turns, without a result yet: call id → turn id."""
        self._early: dict[str, Any] = {}
        """Results that came before their agent turn was stored: call id → output."""

    @property
    def waiting(self) -> bool:
        """True while some call waits for its result (the agent is not idle then)."""
        return bool(self._waiting)

    def expect(self, call: ToolCall, turn_id: str) -> None:
        """Agent turn ``turn_id`` made ``call``; its result is now awaited."""
        self._waiting[call.call_id] = turn_id

    def accept(self, call_id: str, output: Any) -> tuple[str, str | None] | None:
        """A result came. Returns the id of the turn that made the call and, if that
        turn is already stored, the id to attach the result to now; None if no such call
        is waiting."""
        turn_id = self._waiting.pop(call_id, None)
        if turn_id is None:
            return None
        stored_in = self._stored.pop(call_id, None)
        if stored_in is None:
            self._early[call_id] = output
        return turn_id, stored_in

    def records(self, calls: Sequence[ToolCall]) -> tuple[ToolCallRecord, ...]:
        """The stored form of an agent turn's calls, with the results already in."""
        return tuple(
            ToolCallRecord(c.call_id, c.name, dict(c.arguments), self._early.pop(c.call_id, None))
            for c in calls
        )

    def stored(self, turn_id: str, records: Sequence[ToolCallRecord]) -> list[tuple[str, Any]]:
        """Agent turn ``turn_id`` with ``records`` is now stored. Returns the results that
        came while it was being stored ((call id, output) to attach now); the others are
        attached when they come."""
        late: list[tuple[str, Any]] = []
        for call in records:
            if call.output is not None:
                continue
            if call.call_id in self._early:
                late.append((call.call_id, self._early.pop(call.call_id)))
            else:
                self._stored[call.call_id] = turn_id
        return late
