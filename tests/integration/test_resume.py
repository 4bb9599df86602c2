"""Resumable conversations on one replica: a dropped native or Socket.IO connection
comes back with its resume token and the conversation goes on; a drain (SIGTERM) tells
the client to resume, and a restarted replica takes the conversation back."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from parley.testing.server import ServerProcess, start_server
from tests.integration.conftest import Server
from tests.integration.test_socketio import AgentSocket

pytestmark = pytest.mark.integration


def _ws_url(server: ServerProcess) -> str:
    return server.url.replace("http://", "ws://") + "/v1/voice/conversation"


async def _next(ws: ClientConnection, kind: str, timeout: float = 90.0) -> dict[str, Any]:
    """The next event ``kind`` (others are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        event: dict[str, Any] = json.loads(
            await asyncio.wait_for(ws.recv(), deadline - time.monotonic())
        )
        if event["type"] == kind:
            return event


async def _refusal(url: str) -> tuple[dict[str, Any], int]:
    """The error event and close code of a connection the server refuses."""
    async with websockets.connect(url) as ws:
        error = json.loads(await asyncio.wait_for(ws.recv(), 30))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 30)
    assert closed.value.rcvd is not None
    return error, closed.value.rcvd.code


@pytest.fixture
async def admin(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {server.admin_key}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as client:
        yield client


async def test_a_dropped_conversation_resumes_with_its_history(
    server: Server, admin: httpx.AsyncClient
) -> None:
    url = _ws_url(server)
    ws = await websockets.connect(f"{url}?api_key={server.admin_key}&agent_id=agt_demo")
    first = await _next(ws, "connected")
    assert first["resumed"] is False and first["resume_token"].startswith("rt_")
    await _next(ws, "agent_turn_end")  # the greeting
    await ws.send(json.dumps({"type": "text", "text": "My name is Zoltan."}))
    await _next(ws, "agent_turn_end")
    await ws.send(json.dumps({"type": "text", "text": "Please count slowly from one to forty."}))
    await _next(ws, "audio")
    await asyncio.sleep(1.5)  # part of the reply was played, then the network goes
    ws.transport.abort()

    async with websockets.connect(f"{url}?resume_token={first['resume_token']}") as back:
        again = await _next(back, "connected")
        assert again["conversation_id"] == first["conversation_id"] and again["resumed"] is True
        assert again["resume_token"] != first["resume_token"]
        await back.send(json.dumps({"type": "text", "text": "What is my name?"}))
        answer = await _next(back, "transcript")
        assert answer["role"] == "user"
        ended = await _next(back, "agent_turn_end")
        assert ended["status"] == "completed"

        detail = (await admin.get(f"/v1/sessions/{first['conversation_id']}")).json()
        assert detail["status"] == "active" and detail["replica_id"]
        turns = [(t["role"], t["text"], t["interrupted"]) for t in detail["transcript"]]
        users = [text for role, text, _ in turns if role == "user"]
        assert users == ["My name is Zoltan.", "Please count slowly from one to forty.",
                         "What is my name?"], turns  # fmt: skip
        cut = [t for t in detail["transcript"] if t["role"] == "agent"][2]
        assert cut["interrupted"], "the reply cut off by the drop is kept as far as it was heard"
        assert len({(t["turn_id"], t["role"]) for t in detail["transcript"]}) == len(turns)
        assert "Hi, I'm the Parley demo agent" not in "".join(t[1] for t in turns[3:]), (
            "the greeting is not spoken again"
        )

        error, code = await _refusal(f"{url}?resume_token={first['resume_token']}")
        assert (error["code"], code) == ("authentication_error", 4001), error
        await back.send(json.dumps({"type": "end"}))
        assert (await _next(back, "session_ended"))["reason"] == "client"

    error, code = await _refusal(f"{url}?resume_token={again['resume_token']}")
    assert (error["code"], code) == ("not_found_error", 4004), error
    assert "can no longer be resumed" in error["message"]
    stored = (await admin.get(f"/v1/sessions/{first['conversation_id']}")).json()
    assert stored["status"] == "ended" and stored["resumable_until"] is None


async def test_a_socketio_session_resumes_after_a_reconnect(server: Server) -> None:
    sock = AgentSocket()
    await sock.connect(server.url, api_key=server.admin_key)
    await sock.emit("start_session", {"agent_id": "agt_demo"})
    started = await sock.expect("session_started")
    assert started["resumed"] is False and started["resume_token"].startswith("rt_")
    await sock.emit("text", {"text": "Remember the number 42."})
    await sock.expect("audio_end", lambda e: e["status"] == "completed", timeout=90, silence=True)
    await sock.sio.eio.disconnect(abort=True)  # the transport drops

    again = AgentSocket()
    try:
        await again.connect(server.url, api_key=server.admin_key)
        await again.emit(
            "start_session", {"agent_id": "agt_demo", "resume_token": started["resume_token"]}
        )
        resumed = await again.expect("session_started")
        assert resumed["session_id"] == started["session_id"] and resumed["resumed"] is True
        await again.emit("end_session")
        assert (await again.expect("session_ended"))["reason"] == "client"
        await again.emit(
            "start_session", {"agent_id": "agt_demo", "resume_token": resumed["resume_token"]}
        )
        error = await again.expect_error("not_found_error", contains="can no longer be resumed")
        assert error["message"]
    finally:
        await again.close()


async def test_a_drained_replica_hands_its_conversation_to_the_next(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"PARLEY_CLUSTER__REPLICA_ID": "replica-a", "PARLEY_CLUSTER__DRAIN_TIMEOUT_S": "30"}
    server = start_server(data, env=env)
    try:
        url = _ws_url(server)
        ws = await websockets.connect(f"{url}?api_key={server.admin_key}&agent_id=agt_demo")
        first = await _next(ws, "connected")
        await _next(ws, "agent_turn_end")
        await ws.send(json.dumps({"type": "text", "text": "Say hello."}))
        await _next(ws, "agent_turn_start")
        server.process.send_signal(signal.SIGTERM)
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            for _ in range(100):  # the drain starts within the server's next tick
                health = await http.get("/healthz")
                if health.status_code == 503:
                    break
                await asyncio.sleep(0.05)
        assert health.status_code == 503 and health.json()["status"] == "draining"
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(f"{url}?api_key={server.admin_key}&agent_id=agt_demo")
        assert refused.value.response.status_code == 503

        turn_end = await _next(ws, "agent_turn_end")  # the turn in progress finishes
        assert turn_end["status"] == "completed"
        ended = await _next(ws, "session_ended")
        assert ended == {
            "type": "session_ended", "reason": "server_shutdown",
            "resumable": True, "resume_within_s": 30.0,
        }  # fmt: skip
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 30)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
        assert server.process.wait(timeout=60) == 0
    finally:
        server.stop()

    restarted = start_server(data, env=env, admin_key=server.admin_key)
    try:
        async with websockets.connect(
            f"{_ws_url(restarted)}?resume_token={first['resume_token']}"
        ) as back:
            again = await _next(back, "connected")
            assert again["conversation_id"] == first["conversation_id"] and again["resumed"]
    finally:
        restarted.stop()
