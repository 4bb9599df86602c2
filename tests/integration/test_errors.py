"""Bad input over a real socket: precise errors, and the session or server goes on."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import httpx
import pytest
import websockets

from parley.audio.wav import read_wav
from parley.client import Conversation, conversation_url
from parley.config import LimitSettings
from parley.storage import Database, SessionRepository
from parley.testing.recordings import Recording
from tests.integration.conftest import Server

pytestmark = pytest.mark.integration


async def _rejected(url: str) -> tuple[dict[str, object], int | None]:
    async with Conversation(url) as conv:
        error = await conv.recv(timeout=10)
        with pytest.raises(websockets.ConnectionClosed):
            await conv.recv(timeout=10)
        return error, conv.close_code


async def test_bad_api_key_closes_with_4001(server: Server) -> None:
    error, code = await _rejected(conversation_url(server.url, "sk_live_wrong", "agt_demo"))
    assert error["type"] == "error" and error["code"] == "authentication_error"
    assert code == 4001


async def test_missing_api_key_closes_with_4001(server: Server) -> None:
    url = conversation_url(server.url, "", "agt_demo").replace("api_key=&", "")
    error, code = await _rejected(url)
    assert error["code"] == "authentication_error" and code == 4001


async def test_unknown_agent_closes_with_4004(server: Server) -> None:
    error, code = await _rejected(conversation_url(server.url, server.admin_key, "agt_nope"))
    assert error["code"] == "not_found_error" and "agt_nope" in str(error["message"])
    assert code == 4004


@pytest.mark.parametrize(
    ("frame", "code", "fragment"),
    [
        ("{not json", "validation_error", "malformed JSON"),
        ("[1, 2]", "validation_error", "JSON object"),
        ('{"type": "dance"}', "validation_error", "unknown message type"),
        ('{"type": "audio"}', "validation_error", "audio"),
        ('{"type": "audio", "audio": "@@not base64@@"}', "audio_error", "base64"),
        (
            json.dumps({"type": "audio", "audio": base64.b64encode(b"abc").decode()}),
            "audio_error",
            "even",
        ),
        ('{"type": "control", "action": "dance"}', "validation_error", "action"),
        (json.dumps({"type": "text", "text": "x" * 300_000}), "validation_error", "exceeds"),
        (b"\x00\x01binary", "validation_error", "binary"),
    ],
)
async def test_bad_messages_get_an_error_and_the_session_goes_on(
    server: Server, frame: str | bytes, code: str, fragment: str
) -> None:
    async with Conversation(conversation_url(server.url, server.admin_key, "agt_demo")) as conv:
        assert (await conv.recv(timeout=10))["type"] == "connected"
        await conv.send_raw(frame)
        await conv.send({"type": "ping", "ts": 42})
        events = []
        while not any(e["type"] == "pong" for e in events):
            events.append(await conv.recv(timeout=30))
        errors = [e for e in events if e["type"] == "error"]
        assert len(errors) == 1, events
        assert errors[0]["code"] == code and fragment in errors[0]["message"], errors[0]
        assert [e["ts"] for e in events if e["type"] == "pong"] == [42]


async def _wait_healthy_and_idle(server: Server, timeout: float = 20.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as http:
        while True:
            body = (await http.get(f"{server.url}/healthz")).json()
            if body["active_sessions"] == 0 or time.monotonic() > deadline:
                return dict(body)
            await asyncio.sleep(0.2)


async def test_client_vanishing_mid_turn_ends_the_session_cleanly(
    server: Server, speech: dict[str, Recording]
) -> None:
    pcm = read_wav(speech["cards-005"].path)
    conv = Conversation(conversation_url(server.url, server.admin_key, "agt_demo"), reconnect=False)
    await conv.__aenter__()
    connected = await conv.recv(timeout=10)
    session_id = connected["conversation_id"]
    for i in range(0, len(pcm), 1024):
        await conv.send_audio(pcm[i : i + 1024])
    for _ in range(40):  # trailing silence until the server has taken the turn
        await conv.send_audio(bytes(1024))
    async for event in conv.events():
        if event["type"] == "speech_stopped":
            break
    conv._ws.transport.abort()  # vanish: no close handshake

    health = await _wait_healthy_and_idle(server)
    assert {k: health[k] for k in ("status", "active_sessions", "capacity", "draining")} == {
        "status": "ok",
        "active_sessions": 0,
        "capacity": LimitSettings().max_sessions,
        "draining": False,
    }
    db = Database(server.database_url)
    await db.connect()
    try:
        stored = await SessionRepository(db).get(session_id)
    finally:
        await db.close()
    assert stored is not None and stored.status == "ended" and stored.ended_at is not None
    assert stored.end_reason == "client"
    assert stored.resume_until is not None, "a dropped conversation may be resumed for a while"

    async with Conversation(conversation_url(server.url, server.admin_key, "agt_demo")) as again:
        assert (await again.recv(timeout=10))["type"] == "connected"
