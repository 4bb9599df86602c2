"""Upkeep (idle check-ins, turn limit) and the tool ledger: sans-I/O bookkeeping."""

from __future__ import annotations

from parley.core.agent import AgentConfig
from parley.core.records import ToolCallRecord
from parley.core.tool_ledger import ToolLedger
from parley.core.upkeep import IDLE_GOODBYE, IDLE_PROMPT, MAX_TURNS_GOODBYE, Say, Upkeep
from parley.providers.llm.base import ToolCall
from parley.testing.fakes import ManualClock


def _upkeep(**agent: object) -> tuple[Upkeep, ManualClock]:
    clock = ManualClock()
    config = AgentConfig("agt_x", "Be brief.", "tone", idle_timeout_ms=10_000.0, **agent)  # type: ignore[arg-type]
    return Upkeep(config, clock), clock


def test_idle_check_ins_then_goodbye() -> None:
    upkeep, clock = _upkeep(idle_prompts=2)
    assert upkeep.idle_check(busy=False) is None
    clock.advance(10.0)
    assert upkeep.idle_check(busy=True) is None, "never while the agent or user is busy"
    assert upkeep.idle_check(busy=False) == Say(IDLE_PROMPT)
    upkeep.agent_done()  # the check-in was played: the timer starts again
    clock.advance(10.0)
    assert upkeep.idle_check(busy=False) == Say(IDLE_PROMPT)
    upkeep.agent_done()
    clock.advance(10.0)
    assert upkeep.idle_check(busy=False) == Say(IDLE_GOODBYE, then_end="idle")


def test_user_activity_restarts_the_check_ins() -> None:
    upkeep, clock = _upkeep(idle_prompts=1)
    clock.advance(10.0)
    assert upkeep.idle_check(busy=False) == Say(IDLE_PROMPT)
    upkeep.user_active()
    clock.advance(9.0)
    assert upkeep.idle_check(busy=False) is None
    clock.advance(1.0)
    assert upkeep.idle_check(busy=False) == Say(IDLE_PROMPT), "check-ins counted afresh"


def test_no_check_ins_when_disabled_or_without_turn_detection() -> None:
    for agent in ({"idle_timeout_ms": 0.0}, {"turn_detection": False}, {"auto_respond": False}):
        clock = ManualClock()
        config = AgentConfig("agt_x", "p", "tone", **{"idle_timeout_ms": 1000.0, **agent})  # type: ignore[arg-type]
        upkeep = Upkeep(config, clock)
        clock.advance(60.0)
        assert upkeep.idle_check(busy=False) is None


def test_goodbye_after_max_turns() -> None:
    upkeep, _ = _upkeep(max_turns=2)
    upkeep.user_turn()
    assert upkeep.after_reply() is None
    upkeep.user_turn()
    assert upkeep.after_reply() == Say(MAX_TURNS_GOODBYE, then_end="max_turns")


CALL = ToolCall("call_1", "lookup", {"q": "x"})


def test_result_after_the_turn_was_stored_is_attached_at_once() -> None:
    ledger = ToolLedger()
    ledger.expect(CALL, "turn_2")
    assert ledger.waiting
    records = ledger.records([CALL])
    assert records == (ToolCallRecord("call_1", "lookup", {"q": "x"}, None),)
    assert ledger.stored("turn_2", records) == []
    assert ledger.accept("call_1", {"ok": True}) == ("turn_2", "turn_2")
    assert not ledger.waiting


def test_result_before_the_turn_was_stored_goes_into_the_record() -> None:
    ledger = ToolLedger()
    ledger.expect(CALL, "turn_2")
    assert ledger.accept("call_1", "done") == ("turn_2", None)
    (record,) = ledger.records([CALL])
    assert record.output == "done"
    assert ledger.stored("turn_2", (record,)) == []


def test_result_while_the_turn_is_being_stored_is_handed_back() -> None:
    ledger = ToolLedger()
    ledger.expect(CALL, "turn_2")
    records = ledger.records([CALL])  # storing begins
    assert ledger.accept("call_1", 7) == ("turn_2", None)  # the result comes meanwhile
    assert ledger.stored("turn_2", records) == [("call_1", 7)]


def test_unknown_or_repeated_results_are_refused() -> None:
    ledger = ToolLedger()
    assert ledger.accept("nope", 1) is None
    ledger.expect(CALL, "turn_2")
    assert ledger.accept("call_1", 1) is not None
    assert ledger.accept("call_1", 2) is None
