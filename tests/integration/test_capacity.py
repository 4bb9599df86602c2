"""Admission control on a real server holding at most two conversations: every voice
edge refuses a third with ``session_error`` ("server at capacity", a retry hint, close
1013) before storing anything, and admits again once a conversation ends."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import socketio
import websockets

from parley.client import Conversation, conversation_url
from parley.testing.server import ServerProcess, start_server

pytestmark = pytest.mark.integration
NS = "/v1/audio/agent"


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server that holds two conversations at once."""
    srv = start_server(
        tmp_path_factory.mktemp("capacity") / "data",
        env={"PARLEY_LIMITS__MAX_SESSIONS": "2"},
    )
    yield srv
    srv.stop()


def _ws_url(srv: ServerProcess, path: str) -> str:
    return srv.url.replace("http", "ws", 1) + path


def _assert_capacity(message: str) -> None:
    assert "server at capacity" in message and "retry in" in message, message


@contextlib.asynccontextmanager
async def _running(srv: ServerProcess) -> AsyncIterator[tuple[Conversation, str]]:
    """A native conversation that was admitted, and its id."""
    async with Conversation(conversation_url(srv.url, srv.admin_key, "agt_demo")) as conv:
        connected = await conv.recv(timeout=30)
        assert connected["type"] == "connected", connected
        yield conv, str(connected["conversation_id"])


async def _end(conv: Conversation) -> None:
    await conv.send({"type": "end"})
    while (await conv.recv(timeout=30))["type"] != "session_ended":
        pass


async def _native_refused(url: str) -> tuple[dict[str, Any], int | None]:
    async with Conversation(url) as conv:
        error = await conv.recv(timeout=30)
        with pytest.raises(websockets.ConnectionClosed):
            await conv.recv(timeout=30)
        return error, conv.close_code


async def _realtime_refused(srv: ServerProcess) -> tuple[dict[str, Any], int | None]:
    url = _ws_url(srv, "/v1/realtime?model=agt_demo")
    protocols = ["realtime", f"openai-insecure-api-key.{srv.admin_key}"]
    async with websockets.connect(url, subprotocols=protocols) as ws:  # type: ignore[arg-type]
        event = json.loads(await asyncio.wait_for(ws.recv(), 30))
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 30)
        return event, ws.close_code


async def _socketio_refused(srv: ServerProcess) -> tuple[dict[str, Any], bool]:
    """The error event after ``start_session``, and whether the connection stayed."""
    sio = socketio.AsyncClient(reconnection=False)
    errors: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    @sio.on("error", namespace=NS)
    async def on_error(data: dict[str, Any]) -> None:
        await errors.put(data)

    await sio.connect(
        f"{srv.url}?api_key={srv.admin_key}", namespaces=[NS], transports=["websocket"],
        wait_timeout=15,
    )  # fmt: skip
    try:
        await sio.emit("start_session", {"agent_id": "agt_demo"}, namespace=NS)
        error = await asyncio.wait_for(errors.get(), 30)
        await asyncio.sleep(0.2)
        return error, sio.connected
    finally:
        await sio.disconnect()


async def _twilio_refused(srv: ServerProcess) -> tuple[int | None, str]:
    start = {
        "event": "start",
        "sequenceNumber": "1",
        "streamSid": "MZcapacity",
        "start": {
            "streamSid": "MZcapacity",
            "callSid": "CAcapacity",
            "customParameters": {"api_key": srv.admin_key, "agent_id": "agt_demo"},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        },
    }
    async with websockets.connect(_ws_url(srv, "/v1/twilio/media")) as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await ws.send(json.dumps(start))
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), 30)  # Twilio gets no error message
        return ws.close_code, ws.close_reason or ""


async def _active_sessions(http: httpx.AsyncClient) -> set[str]:
    listed = await http.get("/v1/agents/agt_demo/sessions", params={"status": "active"})
    assert listed.status_code == 200, listed.text
    return {s["session_id"] for s in listed.json()["data"]}


async def _refused_for_capacity(http: httpx.AsyncClient) -> float:
    metrics = (await http.get("/metrics")).text
    for line in metrics.splitlines():
        if line.startswith('parley_sessions_refused_total{reason="capacity"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def _until_live(http: httpx.AsyncClient, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while (await http.get("/healthz")).json()["active_sessions"] != count:
        assert time.monotonic() < deadline, f"the server never got to {count} live sessions"
        await asyncio.sleep(0.1)


async def test_a_third_conversation_is_refused_on_every_edge_until_one_ends(
    small: ServerProcess,
) -> None:
    auth = {"Authorization": f"Bearer {small.admin_key}"}
    async with httpx.AsyncClient(base_url=small.url, headers=auth) as http:
        before = await _refused_for_capacity(http)
        async with _running(small) as (first, first_id), _running(small) as (_, second_id):
            error, code = await _native_refused(
                conversation_url(small.url, small.admin_key, "agt_demo")
            )
            assert error["type"] == "error" and error["code"] == "session_error", error
            _assert_capacity(error["message"])
            assert code == 1013

            event, code = await _realtime_refused(small)
            assert event["type"] == "error" and event["error"]["code"] == "session_error"
            assert event["error"]["type"] == "server_error"
            _assert_capacity(event["error"]["message"])
            assert code == 1013

            sio_error, still_connected = await _socketio_refused(small)
            assert sio_error["type"] == "session_error", sio_error
            assert still_connected, "Socket.IO keeps the connection; the client may retry"
            _assert_capacity(sio_error["message"])

            code, reason = await _twilio_refused(small)
            assert code == 1013
            _assert_capacity(reason)

            # a REST session is only a token: it is created, and its connect is refused
            created = await http.post("/v1/agents/agt_demo/sessions", json={})
            assert created.status_code == 201, created.text
            token_url, waiting = created.json()["websocket_url"], created.json()["session_id"]
            error, code = await _native_refused(token_url)
            assert (error["code"], code) == ("session_error", 1013)

            # the refused ones stored nothing: the two running, and the one waiting
            assert await _active_sessions(http) == {first_id, second_id, waiting}
            assert await _refused_for_capacity(http) == before + 5

            await _end(first)
        await _until_live(http, 0)

        # room again; the token refused for capacity was not spent
        async with Conversation(token_url) as again:
            connected = await again.recv(timeout=30)
            assert connected["type"] == "connected", connected
            assert connected["conversation_id"] == waiting
            await _end(again)
        await _until_live(http, 0)
        assert await _active_sessions(http) == set()
        assert await _refused_for_capacity(http) == before + 5


async def test_a_slot_freed_by_one_conversation_admits_the_next(small: ServerProcess) -> None:
    auth = {"Authorization": f"Bearer {small.admin_key}"}
    async with httpx.AsyncClient(base_url=small.url, headers=auth) as http:
        async with _running(small) as (first, _), _running(small):
            url = conversation_url(small.url, small.admin_key, "agt_demo")
            error, code = await _native_refused(url)
            assert (error["code"], code) == ("session_error", 1013)
            await _end(first)
            await _until_live(http, 1)
            async with _running(small) as (third, _):
                await _end(third)
        await _until_live(http, 0)
