"""max_turns end to end: after the agent's reply to the last allowed user turn, it says a
closing line and the session ends with reason max_turns."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from parley.client import AsyncParleyClient
from tests.integration.api_support import SYSTEM_PROMPT, on_database, until
from tests.integration.conftest import Server

pytestmark = pytest.mark.integration


@pytest.fixture
def server(request: pytest.FixtureRequest, database_backend: str, server: Server) -> Server:
    """Every test here runs against the SQLite server and against the Postgres one."""
    return on_database(request, database_backend, server)


@pytest.fixture
async def admin(server: Server) -> AsyncIterator[AsyncParleyClient]:
    async with AsyncParleyClient(server.url, server.admin_key) as client:
        yield client


async def test_max_turns_ends_the_session(admin: AsyncParleyClient) -> None:
    agent = await admin.create_agent(name="Short", system_prompt=SYSTEM_PROMPT, max_turns=1)
    agent_id = agent["id"]
    session = await admin.create_session(agent_id)
    async with admin.connect(session) as conv:
        assert (await conv.recv(timeout=15))["type"] == "connected"
        await conv.send({"type": "text", "text": "Say the word yes."})
        events = await until(conv, "session_ended", timeout=120)
        assert events[-1] == {"type": "session_ended", "reason": "max_turns"}
        finals = [e for e in events if e["type"] == "transcript" and e["final"]]
        assert [e["role"] for e in finals] == ["user", "agent", "agent"]  # reply, closing line
        await asyncio.wait_for(conv._ws.wait_closed(), 10)
    detail = await admin.get_session(session["session_id"])
    assert (detail["status"], detail["end_reason"]) == ("ended", "max_turns")
