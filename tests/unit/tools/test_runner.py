"""The session's tool runner: built-ins, effects, fillers and what it reports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import TypeAdapter

from parley.core.events import TransferOut
from parley.core.hooks import ToolOutcome, TurnInfo
from parley.providers.llm.base import ToolCall
from parley.tools.builtins import TwilioCredentials, dial_twiml
from parley.tools.definitions import AnyTool, ToolDefinition
from parley.tools.runner import DEFAULT_FILLER, SEARCH_FILLER, ServerTools, ToolContext

TURN = TurnInfo("ses_1", "agt_1", "turn_1")
DEFINITIONS: list[AnyTool] = TypeAdapter(list[ToolDefinition]).validate_python(
    [
        {"name": "client_side", "description": "runs in the app"},
        {"type": "end_call", "message": "Bye now!"},
        {
            "type": "transfer_call",
            "destinations": [{"name": "Sales", "phone_number": "+14155550123"}],
        },
        {"type": "knowledge_search", "k": 2},
        {
            "type": "webhook",
            "name": "slowpoke",
            "description": "x",
            "filler": "Hang on.",
            "webhook": {"url": "https://x.example/"},
        },
    ]
)


async def passages(query: str, k: int) -> list[dict[str, Any]]:
    return [{"title": "FAQ", "text": f"{query} #{i}"} for i in range(k)]


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def tools(http: httpx.AsyncClient, **context: Any) -> tuple[ServerTools, list[tuple[str, ...]]]:
    seen: list[tuple[str, ...]] = []
    ctx = ToolContext("ses_1", "agt_1", http, record=lambda t, o, s: seen.append((t, o)), **context)
    return ServerTools(DEFINITIONS, ctx, web_search=True), seen


async def test_who_runs_what(http: httpx.AsyncClient) -> None:
    runner, _ = tools(http)
    assert not runner.runs_on_server("client_side")
    assert not runner.runs_on_server("nobody")
    for name in ("end_call", "transfer_call", "knowledge_search", "slowpoke", "web_search"):
        assert runner.runs_on_server(name)
    assert [s.name for s in runner.specs()][-1] == "web_search"
    assert runner.filler("slowpoke") == "Hang on."
    assert runner.filler("web_search") == runner.filler("knowledge_search") == SEARCH_FILLER
    assert runner.filler("transfer_call") == DEFAULT_FILLER
    with pytest.raises(NotImplementedError):
        await runner.run(ToolCall("c0", "client_side", {}), TURN)


async def test_end_call(http: httpx.AsyncClient) -> None:
    runner, seen = tools(http)
    outcome = await runner.run(ToolCall("c1", "end_call", {}), TURN)
    assert outcome == ToolOutcome({"ended": True}, say="Bye now!", end="agent_ended")
    assert seen == [("end_call", "ok")]


async def test_transfer_outside_twilio_is_an_event(http: httpx.AsyncClient) -> None:
    runner, _ = tools(http)
    call = ToolCall("c2", "transfer_call", {"destination": "sales"})
    outcome = await runner.run(call, TURN)
    assert outcome.output == {"transferring_to": "Sales"}
    assert outcome.transfer == TransferOut("turn_1", "Sales", "+14155550123")
    assert outcome.say is None and outcome.end is None, "the conversation goes on"


async def test_transfer_to_an_unknown_destination(http: httpx.AsyncClient) -> None:
    runner, seen = tools(http)
    outcome = await runner.run(ToolCall("c3", "transfer_call", {"destination": "HR"}), TURN)
    assert outcome.output["error"] == "there is no destination 'HR'; choose one of: Sales"
    assert not outcome.ok and outcome.transfer is None
    assert seen == [("transfer_call", "bad_arguments")]


async def test_twilio_transfer_needs_credentials(http: httpx.AsyncClient) -> None:
    runner, seen = tools(http, twilio_call_sid="CA123")
    outcome = await runner.run(ToolCall("c4", "transfer_call", {"destination": "Sales"}), TURN)
    assert "PARLEY_TWILIO__AUTH_TOKEN are not set" in outcome.output["error"]
    assert seen == [("transfer_call", "config")]
    credentials = TwilioCredentials("AC1", "token")
    runner, _ = tools(http, twilio_call_sid="CA123", twilio=credentials)
    effect = await runner.run(ToolCall("c5", "transfer_call", {"destination": "Sales"}), TURN)
    assert effect.output == {"transferring_to": "Sales"}
    assert effect.end == "transferred" and effect.after is not None
    assert effect.say == "Transferring you now."
    assert dial_twiml("+14155550123") == "<Response><Dial>+14155550123</Dial></Response>"


async def test_knowledge_search(http: httpx.AsyncClient) -> None:
    runner, seen = tools(http, knowledge=passages)
    output = (
        await runner.run(ToolCall("c6", "knowledge_search", {"query": " refunds "}), TURN)
    ).output
    assert output == {
        "results": [{"title": "FAQ", "text": "refunds #0"}, {"title": "FAQ", "text": "refunds #1"}]
    }
    empty = (await runner.run(ToolCall("c7", "knowledge_search", {"query": ""}), TURN)).output
    assert empty["code"] == "bad_arguments"
    assert seen == [("knowledge_search", "ok"), ("knowledge_search", "bad_arguments")]


async def test_searches_that_are_not_set_up(http: httpx.AsyncClient) -> None:
    runner, seen = tools(http)
    output = (await runner.run(ToolCall("c8", "web_search", {"query": "news"}), TURN)).output
    assert output == {"error": "web search is not set up on this server", "code": "config"}
    output = (await runner.run(ToolCall("c9", "knowledge_search", {"query": "x"}), TURN)).output
    assert output["error"] == "this agent has no knowledge base to search"
    assert seen == [("web_search", "config"), ("knowledge_search", "config")]


async def test_a_failing_search_is_an_error_result(http: httpx.AsyncClient) -> None:
    async def broken(query: str) -> list[dict[str, Any]]:
        raise ConnectionError("search server down")

    runner, seen = tools(http, web=broken)
    output = (await runner.run(ToolCall("c10", "web_search", {"query": "news"}), TURN)).output
    assert output == {"error": "the web search failed (ConnectionError)", "code": "search_failed"}
    assert seen == [("web_search", "search_failed")]
