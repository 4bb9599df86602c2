"""Webhook tools against a real HTTP server on 127.0.0.1 (the test webhook server): the
signed request the receiver gets, and every failure turned into an error result."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from pydantic import TypeAdapter

from parley.core.hooks import TurnInfo
from parley.providers.llm.base import ToolCall
from parley.testing.webhook_server import WebhookTestServer
from parley.tools.definitions import ToolDefinition, WebhookTool
from parley.tools.runner import ServerTools, ToolContext
from parley.tools.signing import new_secret
from parley.tools.webhook import MAX_RESPONSE_BYTES, call_webhook, run_webhook

pytestmark = pytest.mark.integration

SECRET = new_secret()
ONE: TypeAdapter[Any] = TypeAdapter(ToolDefinition)


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookTestServer]:
    with WebhookTestServer(SECRET) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def hook(url: str, method: str = "POST", **settings: Any) -> WebhookTool:
    tool = ONE.validate_python(
        {
            "type": "webhook",
            "name": "orders",
            "description": "Look up an order",
            "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}},
            "webhook": {"url": url, "method": method, **settings},
        }
    )
    assert isinstance(tool, WebhookTool)
    return tool


async def call(tool: WebhookTool, http: httpx.AsyncClient, **kw: Any) -> dict[str, Any]:
    kw.setdefault("allow_private", True)
    return await call_webhook(
        tool,
        {"order_id": "A-17"},
        variables={"customer_id": "cus/42", "session_id": "ses_1"},
        signing_secret=SECRET,
        client=http,
        **kw,
    )


async def test_a_signed_post_reaches_the_receiver(
    receiver: WebhookTestServer, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARLEY_SECRET_ORDERS_KEY", "k-123")
    tool = hook(
        receiver.url + "/echo?customer={{customer_id}}",
        headers={"Authorization": "Bearer {{secret.ORDERS_KEY}}"},
        body={"session": "{{session_id}}", "source": "voice"},
    )
    got = await call(tool, http)
    assert got["signature_valid"] is True
    assert got["method"] == "POST"
    assert got["query"] == {"customer": "cus/42"}
    assert got["json"] == {"order_id": "A-17", "session": "ses_1", "source": "voice"}
    assert got["headers"]["Authorization"] == "Bearer k-123"
    assert got["headers"]["User-Agent"] == "Parley"


async def test_a_get_sends_the_arguments_as_a_signed_query(
    receiver: WebhookTestServer, http: httpx.AsyncClient
) -> None:
    got = await call(hook(receiver.url + "/echo", "GET"), http)
    assert got["signature_valid"] is True
    assert (got["method"], got["query"], got["json"]) == ("GET", {"order_id": "A-17"}, None)


async def test_a_timeout_is_an_error_result(
    receiver: WebhookTestServer, http: httpx.AsyncClient
) -> None:
    outcome = await run_webhook(
        hook(receiver.url + "/slow?ms=3000", timeout_ms=300),
        {},
        variables={},
        signing_secret=SECRET,
        client=http,
        allow_private=True,
    )
    assert outcome.output == {
        "error": "the orders service did not answer within 0.3 s",
        "status": 504,
        "code": "timeout",
    }
    assert outcome.attempts == 1


@pytest.mark.parametrize(("method", "attempts"), [("GET", 2), ("PUT", 2), ("POST", 1)])
async def test_5xx_is_retried_once_for_idempotent_methods(
    receiver: WebhookTestServer, http: httpx.AsyncClient, method: str, attempts: int
) -> None:
    key = f"retry-{method}"
    got = await call(hook(f"{receiver.url}/fail/{key}", method), http)
    assert got["error"] == "the orders service answered HTTP 500"
    assert (got["code"], got["upstream_status"], got["detail"]) == (
        "http_error",
        500,
        {"error": "boom"},
    )
    assert receiver.attempts[key] == attempts


async def test_a_json_error_body_reaches_the_llm(
    receiver: WebhookTestServer, http: httpx.AsyncClient
) -> None:
    got = await call(hook(receiver.url + "/status/404", "GET"), http)
    assert got["error"] == "the orders service answered HTTP 404"
    assert got["detail"] == {"error": "status 404", "found": False}


@pytest.mark.parametrize(
    ("path", "error", "code"),
    [
        ("/html", "the orders service answered with HTML, not JSON", "not_json"),
        ("/text", "the orders service answered with text/plain, not JSON", "not_json"),
        (
            "/redirect",
            "the orders service answered with a redirect, which webhooks do not follow",
            "http_error",
        ),
    ],
)
async def test_answers_that_are_not_json(
    receiver: WebhookTestServer, http: httpx.AsyncClient, path: str, error: str, code: str
) -> None:
    got = await call(hook(receiver.url + path, "GET"), http)
    assert (got["error"], got["code"], got["status"]) == (error, code, 502)


async def test_a_non_object_answer_is_wrapped(
    receiver: WebhookTestServer, http: httpx.AsyncClient
) -> None:
    assert await call(hook(receiver.url + "/list", "GET"), http) == {"result": [1, 2, 3]}


@pytest.mark.parametrize("declared", [False, True])
async def test_ten_megabytes_are_cut_short(
    receiver: WebhookTestServer, http: httpx.AsyncClient, declared: bool
) -> None:
    url = receiver.url + "/big?mb=10" + ("&length=1" if declared else "")
    got = await call(hook(url, "GET"), http)
    assert got == {
        "error": f"the orders service's answer was larger than {MAX_RESPONSE_BYTES // 1024} KiB",
        "status": 502,
        "code": "too_large",
    }
    sent = receiver.big[-1]
    assert sent.done.wait(10)
    assert sent.aborted  # the connection was closed before the end
    assert sent.written < 10 * 1024 * 1024


async def test_private_addresses_are_refused_unless_allowed(
    receiver: WebhookTestServer, http: httpx.AsyncClient
) -> None:
    got = await call(hook(receiver.url + "/echo"), http, allow_private=False)
    assert got["error"] == "the orders service's address is not allowed on this server"
    assert got["code"] == "refused"
    assert "loopback" in got["detail"]


async def test_an_unreachable_service(http: httpx.AsyncClient) -> None:
    with WebhookTestServer() as gone:
        url = gone.url
    got = await call(hook(url + "/echo", "GET"), http)
    assert (got["error"], got["code"]) == ("could not reach the orders service", "connection")


async def test_a_missing_secret_is_an_error_result(
    receiver: WebhookTestServer, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PARLEY_SECRET_NOT_SET", raising=False)
    tool = hook(receiver.url + "/echo", headers={"X-Key": "{{secret.NOT_SET}}"})
    got = await call(tool, http)
    assert got["error"] == "the orders service is not set up on this server (a secret is missing)"
    assert got["code"] == "config"


async def test_the_runner_records_webhook_outcomes(
    receiver: WebhookTestServer, http: httpx.AsyncClient
) -> None:
    seen: list[tuple[str, str]] = []
    context = ToolContext(
        "ses_1",
        "agt_1",
        http,
        signing_secret=SECRET,
        allow_private=True,
        record=lambda kind, outcome, _s: seen.append((kind, outcome)),
    )
    runner = ServerTools([hook(receiver.url + "/echo")], context)
    turn = TurnInfo("ses_1", "agt_1", "turn_1")
    outcome = await runner.run(ToolCall("c1", "orders", {"order_id": "B-2"}), turn)
    output = outcome.output
    assert output["json"] == {"order_id": "B-2"} and output["signature_valid"]
    assert outcome.ok and outcome.say is None
    assert seen == [("webhook", "ok")]
