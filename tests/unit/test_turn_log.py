"""TurnLog: storage writes run to their end even when the storing task is cancelled."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest

from parley.core.events import EndReason
from parley.core.records import TurnRecord
from parley.core.tool_ledger import ToolLedger
from parley.core.turn_log import TurnLog

NOW = datetime(2026, 12, 5, tzinfo=UTC)


class SlowStore:
    """Storage whose writes wait for ``gate``."""

    def __init__(self, fail: bool = False) -> None:
        self.gate = asyncio.Event()
        self.turns: list[TurnRecord] = []
        self.fail = fail

    async def on_turn(self, record: TurnRecord) -> None:
        await self.gate.wait()
        if self.fail:
            raise RuntimeError("disk full")
        self.turns.append(record)

    async def on_turn_truncated(self, turn_id: str, text: str) -> None: ...

    async def on_tool_output(self, turn_id: str, call_id: str, output: object) -> None: ...

    async def on_end(self, reason: EndReason) -> None: ...


def _log(store: SlowStore) -> TurnLog:
    return TurnLog(store, ToolLedger(), lambda turn_id: {"session_id": "ses_x"})


async def test_a_write_completes_when_its_caller_is_cancelled() -> None:
    store = SlowStore()
    log = _log(store)
    record = TurnRecord("turn_1", "agent", "Hello there", NOW, NOW)
    writer = asyncio.create_task(log.turn(record))
    await asyncio.sleep(0)
    writer.cancel()  # e.g. a barge-in cancels the agent turn while it is being stored
    with pytest.raises(asyncio.CancelledError):
        await writer
    store.gate.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert store.turns == [record], "the turn was stored all the same"


async def test_a_failing_write_is_logged_and_does_not_raise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = SlowStore(fail=True)
    store.gate.set()
    with caplog.at_level(logging.ERROR):
        await _log(store).turn(TurnRecord("turn_2", "user", "hi", NOW, NOW))
    assert "could not store the turn" in caplog.text
