"""Quiet clients and idle users, against a server with short timeouts."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

import pytest
import websockets

from parley.client import Conversation, conversation_url
from parley.storage import Database, SessionRepository
from parley.testing.server import ServerProcess, start_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def impatient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server that drops silent sockets after 2 s and checks on idle users after 1.5 s."""
    srv = start_server(
        tmp_path_factory.mktemp("impatient") / "data",
        env={
            "PARLEY_LIMITS__CLIENT_TIMEOUT_S": "2",
            "PARLEY_TURNS__IDLE_TIMEOUT_MS": "1500",
            "PARLEY_TURNS__IDLE_PROMPTS": "1",
        },
    )
    yield srv
    srv.stop()


async def _stored(server: ServerProcess, session_id: str) -> tuple[str, str | None]:
    db = Database(server.database_url)
    await db.connect()
    try:
        record = await SessionRepository(db).get(session_id)
    finally:
        await db.close()
    assert record is not None
    return record.status, record.end_reason


async def test_a_client_that_sends_nothing_is_closed(impatient: ServerProcess) -> None:
    url = conversation_url(impatient.url, impatient.admin_key, "agt_demo")
    async with Conversation(url) as conv:
        connected = await conv.recv(timeout=10)
        started = time.monotonic()
        events = []
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                events.append(await conv.recv(timeout=15))
        waited = time.monotonic() - started
    kinds = [e["type"] for e in events]
    assert kinds[-2:] == ["error", "session_ended"], kinds
    assert events[-2]["code"] == "session_error" and "nothing received" in events[-2]["message"]
    assert events[-1]["reason"] == "idle"
    assert waited >= 2.0
    assert await _stored(impatient, connected["conversation_id"]) == ("ended", "idle")


async def test_an_idle_user_is_asked_then_the_agent_says_goodbye(
    impatient: ServerProcess,
) -> None:
    url = conversation_url(impatient.url, impatient.admin_key, "agt_demo")
    async with Conversation(url) as conv:
        connected = await conv.recv(timeout=10)
        events: list[dict[str, object]] = []

        async def listen() -> None:
            async for event in conv.events():
                events.append(event)

        listener = asyncio.create_task(listen())
        deadline = time.monotonic() + 40
        while not listener.done() and time.monotonic() < deadline:
            with contextlib.suppress(websockets.ConnectionClosed):
                await conv.send({"type": "ping"})  # alive, but the user says nothing
            await asyncio.sleep(1.0)
        await asyncio.wait_for(listener, 5)
    agent_lines = [
        e["text"]
        for e in events
        if e["type"] == "transcript" and e["role"] == "agent" and e["final"]
    ]
    ended = next(e["reason"] for e in events if e["type"] == "session_ended")
    assert ended == "idle"
    assert agent_lines[1] == "Are you still there?"
    assert "Goodbye" in agent_lines[-1] and len(agent_lines) == 3
    assert await _stored(impatient, connected["conversation_id"]) == ("ended", "idle")
