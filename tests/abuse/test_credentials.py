"""Ambiguous credentials are refused, over real sockets: ``api_key`` twice, or an
``Authorization`` header (or Socket.IO auth payload, or Realtime subprotocol) holding
another key than ``api_key``. REST answers 401; WebSockets send their usual
``authentication_error`` and close with 4001. The same key in two places is fine."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import socketio  # type: ignore[import-untyped]
import websockets

from parley.protocols.socketio.messages import NAMESPACE
from parley.testing.server import ServerProcess

pytestmark = pytest.mark.integration

AMBIGUOUS = "ambiguous credentials"


@pytest.fixture(scope="module")
def other_key(server: ServerProcess) -> Iterator[str]:
    """A second valid key: the ambiguity is refused even when both keys work."""
    admin = {"Authorization": f"Bearer {server.admin_key}"}
    created = httpx.post(f"{server.url}/v1/api-keys", headers=admin, json={"name": "other"})
    assert created.status_code == 201, created.text
    yield str(created.json()["key"])


def rest(server: ServerProcess, query: list[tuple[str, str]], key: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.get(f"{server.url}/v1/agents?{urlencode(query)}", headers=headers)


def test_rest(server: ServerProcess, other_key: str) -> None:
    admin = server.admin_key
    twice = rest(server, [("api_key", admin), ("api_key", other_key)], admin)
    differ = rest(server, [("api_key", other_key)], admin)
    same_twice = rest(server, [("api_key", admin), ("api_key", admin)], admin)
    for response in (twice, differ, same_twice):
        assert response.status_code == 401, response.text
        error = response.json()["error"]
        assert error["code"] == "authentication_error" and AMBIGUOUS in error["message"]
        assert response.headers["www-authenticate"] == "Bearer"
    assert rest(server, [("api_key", admin)], admin).status_code == 200


async def native(
    server: ServerProcess, query: list[tuple[str, str]], key: str | None = None
) -> tuple[dict[str, Any], int | None]:
    """Open a native conversation: its first event, and the close code if it closed."""
    url = server.url.replace("http", "ws", 1) + "/v1/voice/conversation?" + urlencode(query)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with websockets.connect(url, additional_headers=headers) as ws:
        first = json.loads(await asyncio.wait_for(ws.recv(), 15))
        if first["type"] != "error":
            return first, None
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 15)
        return first, closed.value.rcvd.code if closed.value.rcvd else None


async def test_native_websocket(server: ServerProcess, other_key: str) -> None:
    admin, agent = server.admin_key, ("agent_id", "agt_demo")
    cases = [
        ([("api_key", admin), ("api_key", other_key), agent], None),
        ([("api_key", admin), ("api_key", admin), agent], None),
        ([("api_key", other_key), agent], admin),
    ]
    for query, header in cases:
        event, code = await native(server, query, header)
        assert (event["type"], event["code"], code) == ("error", "authentication_error", 4001)
        assert AMBIGUOUS in event["message"]
    event, code = await native(server, [("api_key", admin), agent], admin)
    assert event["type"] == "connected" and code is None


async def realtime(server: ServerProcess, key: str, offered: str) -> dict[str, Any]:
    url = server.url.replace("http", "ws", 1) + "/v1/realtime?model=gpt-realtime"
    protocols: Any = ["realtime", f"openai-insecure-api-key.{offered}"]
    headers = {"Authorization": f"Bearer {key}"}
    async with websockets.connect(url, additional_headers=headers, subprotocols=protocols) as ws:
        first: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 15))
        if first["type"] == "error":
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 15)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001
        return first


async def test_realtime(server: ServerProcess, other_key: str) -> None:
    refused = await realtime(server, server.admin_key, other_key)
    assert refused["error"]["code"] == "invalid_api_key"
    assert AMBIGUOUS in refused["error"]["message"]
    accepted = await realtime(server, server.admin_key, server.admin_key)
    assert accepted["type"] == "session.created"


async def socketio_first_event(server: ServerProcess, query_key: str, auth_key: str) -> str:
    """Connect with a key in the query and one in the auth payload: the first event."""
    client = socketio.AsyncClient(reconnection=False)
    events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    @client.on("*", namespace=NAMESPACE)  # type: ignore[untyped-decorator]
    async def on_any(name: str, data: Any = None) -> None:
        events.put_nowait((name, data))

    url = f"{server.url}?{urlencode({'api_key': query_key})}"
    await client.connect(
        url, namespaces=[NAMESPACE], transports=["websocket"], auth={"api_key": auth_key}
    )
    try:
        name, data = await asyncio.wait_for(events.get(), 15)
        if name == "error":
            assert data["type"] == "authentication_error" and AMBIGUOUS in data["message"]
        return str(name)
    finally:
        await client.disconnect()


async def test_socketio(server: ServerProcess, other_key: str) -> None:
    assert await socketio_first_event(server, server.admin_key, other_key) == "error"
    assert await socketio_first_event(server, server.admin_key, server.admin_key) == "connected"
