"""Helpers shared by the REST API integration tests (test_api_*.py)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import websockets

from parley.client import Conversation
from parley.testing.server import ServerProcess

SYSTEM_PROMPT = "You are a terse test agent. Answer in one short sentence."


def on_database(
    request: pytest.FixtureRequest, backend: str, sqlite_server: ServerProcess
) -> ServerProcess:
    """The server of the database ``backend`` names (``database_backend``, one of
    ``DATABASES``): the session's SQLite server or its Postgres one.

    Each REST API test module overrides ``server`` with a fixture that takes
    ``database_backend`` and returns this. The parameter must not be on ``server`` itself:
    pytest would then key the session's ``server`` by it and restart it for every change.
    """
    if backend == "sqlite":
        return sqlite_server
    postgres_server: ServerProcess = request.getfixturevalue("postgres_server")
    return postgres_server


def auth(key: str) -> dict[str, str]:
    """The Authorization header of a key."""
    return {"Authorization": f"Bearer {key}"}


def assert_error(
    response: httpx.Response,
    status: int,
    code: str,
    message: str | None = None,
    param: str | None = None,
) -> dict[str, Any]:
    """The response is the shared error body with this status, code, message and param."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"type", "code", "message", "param"}, error
    assert error["code"] == code and error["type"] == code, error
    if message is not None:
        assert error["message"] == message, error
    assert error["param"] == param, error
    return error


async def rejected(url: str) -> tuple[dict[str, Any], int | None]:
    """Connect, and expect one error event and a close: ``(error, close code)``."""
    async with Conversation(url) as conv:
        error = await conv.recv(timeout=15)
        with pytest.raises(websockets.ConnectionClosed):
            await conv.recv(timeout=15)
        return error, conv.close_code


async def until(conv: Conversation, kind: str, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Every event up to and including the first of type ``kind``."""
    events: list[dict[str, Any]] = []
    while not events or events[-1]["type"] != kind:
        events.append(await conv.recv(timeout=timeout))
    return events
