"""Sessions over real HTTP and WebSocket: tokens (single use, expiry), initial message,
transcripts, ending, and pause/delete of an agent with live conversations."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from parley.client import (
    ApiError,
    AsyncParleyClient,
    Conversation,
    Session,
    conversation_url,
)
from tests.integration.api_support import (
    SYSTEM_PROMPT,
    assert_error,
    auth,
    on_database,
    rejected,
    until,
)
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


async def _agent(admin: AsyncParleyClient, **fields: object) -> str:
    agent = await admin.create_agent(name="Sessions", system_prompt=SYSTEM_PROMPT, **fields)
    return agent["id"]


def _token(session: Session) -> str:
    assert session["websocket_url"] is not None
    return parse_qs(urlparse(session["websocket_url"]).query)["token"][0]


async def test_create_session_and_talk_over_its_url(
    server: Server, admin: AsyncParleyClient
) -> None:
    agent_id = await _agent(admin, first_message="The agent's own greeting.")
    before = datetime.now().astimezone()
    session = await admin.create_session(
        agent_id,
        metadata={"customer": "c_42"},
        initial_message="Hello from the session.",
        expires_in=120,
    )
    assert session["session_id"].startswith("ses_") and session["agent_id"] == agent_id
    assert session["status"] == "active" and session["metadata"] == {"customer": "c_42"}
    assert session["connected_at"] is None and session["ended_at"] is None
    url = urlparse(session["websocket_url"] or "")
    assert url.scheme == "ws" and url.path == "/v1/voice/conversation"
    assert set(parse_qs(url.query)) == {"token"}  # a token, never an API key
    token = _token(session)
    assert token.startswith("wst_") and len(token) > 40
    assert "sk_live_" not in url.query and "pk_live_" not in url.query
    expires = datetime.fromisoformat(session["expires_at"] or "")
    created = datetime.fromisoformat(session["created_at"])
    assert abs(expires - created - timedelta(seconds=120)) < timedelta(seconds=1)
    assert created >= before - timedelta(seconds=5)

    async with admin.connect(session) as conv:
        events = await until(conv, "agent_turn_end")
        assert events[0]["type"] == "connected"
        assert events[0]["conversation_id"] == session["session_id"]
        greeting = [e for e in events if e["type"] == "transcript" and e["final"]]
        assert [e["text"] for e in greeting] == ["Hello from the session."]
        audio = sum(len(base64.b64decode(e["audio"])) for e in events if e["type"] == "audio")
        assert audio > 16000  # half a second of speech
        await asyncio.sleep(audio / 32000 + 0.3)  # a client plays it in real time
        await conv.send({"type": "end"})
        assert (await until(conv, "session_ended"))[-1]["reason"] == "client"

    detail = await admin.get_session(session["session_id"])
    assert detail["status"] == "ended" and detail["end_reason"] == "client"
    assert detail["connected_at"] is not None and detail["ended_at"] is not None
    assert detail["websocket_url"] is None  # shown only once
    assert detail["initial_message"] == "Hello from the session."
    assert [(t["role"], t["text"]) for t in detail["transcript"]] == [
        ("agent", "Hello from the session.")
    ]
    turn = detail["transcript"][0]
    assert turn["turn_id"] == "turn_1" and turn["interrupted"] is False
    assert isinstance(turn["latency_ms"], dict)

    # the token was used: a second connection is refused, and the log never holds it
    error, code = await rejected(session["websocket_url"] or "")
    assert code == 4001 and error == {
        "type": "error",
        "code": "authentication_error",
        "message": "this session token was already used; create a new session",
    }
    log = server.log.read_text()
    assert token not in log and "/v1/voice/conversation?token=***" in log


async def test_text_turn_is_stored_with_metrics(admin: AsyncParleyClient) -> None:
    agent_id = await _agent(admin)
    session = await admin.create_session(agent_id)
    async with admin.connect(session) as conv:
        assert (await conv.recv(timeout=15))["type"] == "connected"
        await conv.send({"type": "text", "text": "Say the word yes."})
        events = await until(conv, "agent_turn_end", timeout=90)
        metrics = [e for e in events if e["type"] == "metrics"]
        assert metrics and metrics[0]["latency_ms"]["llm_first_token"] is not None
        await conv.send({"type": "end"})
        await until(conv, "session_ended")
    detail = await admin.get_session(session["session_id"])
    roles = [t["role"] for t in detail["transcript"]]
    assert roles == ["user", "agent"]
    assert detail["transcript"][0]["text"] == "Say the word yes."
    assert detail["transcript"][1]["latency_ms"]["llm_first_token"] is not None


async def test_expired_token_is_refused_and_the_session_expires(
    server: Server, admin: AsyncParleyClient
) -> None:
    agent_id = await _agent(admin)
    late = await admin.create_session(agent_id, expires_in=1)
    unused = await admin.create_session(agent_id, expires_in=1)
    await asyncio.sleep(1.3)
    error, code = await rejected(late["websocket_url"] or "")
    assert code == 4001 and error["code"] == "authentication_error"
    assert error["message"] == "this session token has expired; create a new session"
    for sid in (late["session_id"], unused["session_id"]):  # expiry shows without a connect too
        detail = await admin.get_session(sid)
        assert detail["status"] == "expired" and detail["end_reason"] == "expired"
    expired = await admin.list_sessions(agent_id, status="expired")
    assert {s["session_id"] for s in expired["data"]} == {late["session_id"], unused["session_id"]}

    async with httpx.AsyncClient(base_url=server.url, headers=auth(server.admin_key)) as http:
        too_long = await http.post(f"/v1/agents/{agent_id}/sessions", json={"expires_in": 3601})
        assert_error(
            too_long,
            422,
            "validation_error",
            "expires_in: Input should be less than or equal to 3600",
            "expires_in",
        )
        zero = await http.post(f"/v1/agents/{agent_id}/sessions", json={"expires_in": 0})
        assert_error(zero, 422, "validation_error", param="expires_in")


async def test_bad_tokens_are_refused(server: Server) -> None:
    base = server.url.replace("http://", "ws://") + "/v1/voice/conversation?token="
    error, code = await rejected(base + "wst_forged")
    assert code == 4001 and error["message"] == "invalid session token"


async def test_list_and_end_sessions(server: Server, admin: AsyncParleyClient) -> None:
    agent_id = await _agent(admin)
    first = await admin.create_session(agent_id)
    second = await admin.create_session(agent_id)
    page = await admin.list_sessions(agent_id, limit=1)
    assert page["total"] == 2 and page["has_more"] is True and page["limit"] == 1
    assert page["data"][0]["session_id"] == second["session_id"]  # newest first
    assert page["data"][0]["websocket_url"] is None
    rest = await admin.list_sessions(agent_id, limit=1, offset=1)
    assert [s["session_id"] for s in rest["data"]] == [first["session_id"]]
    assert rest["has_more"] is False

    # ending a session nobody connected to: its token no longer works
    ended = await admin.end_session(first["session_id"])
    assert ended["status"] == "ended" and ended["end_reason"] == "client"
    error, code = await rejected(first["websocket_url"] or "")
    assert code == 4001 and error["message"] == "this session has ended; create a new session"

    # ending a live one: the client is told and the socket closes
    async with admin.connect(second) as conv:
        assert (await conv.recv(timeout=15))["type"] == "connected"
        ended = await admin.end_session(second["session_id"])
        assert ended["status"] == "ended"
        events = await until(conv, "session_ended")
        assert events[-1] == {"type": "session_ended", "reason": "client"}
        await asyncio.wait_for(conv._ws.wait_closed(), 10)
        assert conv.close_code == 1000

    async with httpx.AsyncClient(base_url=server.url, headers=auth(server.admin_key)) as http:
        again = await http.post(f"/v1/sessions/{second['session_id']}/end")
        assert_error(
            again, 409, "session_error", f"session {second['session_id']!r} is already ended"
        )
        missing = await http.get("/v1/sessions/ses_missing")
        assert_error(
            missing, 404, "not_found_error", "session 'ses_missing' not found", "session_id"
        )
        missing = await http.post("/v1/sessions/ses_missing/end")
        assert_error(
            missing, 404, "not_found_error", "session 'ses_missing' not found", "session_id"
        )
        gone = await http.get("/v1/agents/agt_missing/sessions")
        assert_error(gone, 404, "not_found_error", "agent 'agt_missing' not found", "agent_id")
        bad = await http.get(f"/v1/agents/{agent_id}/sessions?status=paused")
        assert_error(bad, 422, "validation_error", param="status")


async def test_pausing_refuses_new_conversations_but_keeps_live_ones(
    server: Server, admin: AsyncParleyClient
) -> None:
    agent_id = await _agent(admin)
    pending = await admin.create_session(agent_id)
    async with Conversation(conversation_url(server.url, server.admin_key, agent_id)) as live:
        assert (await live.recv(timeout=15))["type"] == "connected"
        assert (await admin.update_agent(agent_id, status="paused"))["status"] == "paused"

        paused = f"agent {agent_id!r} is paused and takes no new conversations"
        async with httpx.AsyncClient(base_url=server.url, headers=auth(server.admin_key)) as http:
            response = await http.post(f"/v1/agents/{agent_id}/sessions", json={})
            assert_error(response, 409, "session_error", paused, "agent_id")
        error, code = await rejected(conversation_url(server.url, server.admin_key, agent_id))
        assert code == 4009 and error["code"] == "session_error"
        assert error["message"] == f"agent {agent_id!r} is paused and takes no conversations"
        error, code = await rejected(pending["websocket_url"] or "")  # token kept, not used
        assert code == 4009 and error["code"] == "session_error"

        await live.send({"type": "ping", "ts": 7})  # the live conversation goes on
        assert (await until(live, "pong"))[-1] == {"type": "pong", "ts": 7}

        await admin.update_agent(agent_id, status="active")
        async with admin.connect(pending) as resumed:  # the unused token still works
            assert (await resumed.recv(timeout=15))["type"] == "connected"


async def test_async_client_health_pause_and_resume(admin: AsyncParleyClient) -> None:
    assert (await admin.health())["status"] == "ok"
    agent_id = await _agent(admin)
    paused = await admin.pause_agent(agent_id)
    assert (paused["id"], paused["status"]) == (agent_id, "paused")
    assert (await admin.get_agent(agent_id))["status"] == "paused"
    with pytest.raises(ApiError) as caught:
        await admin.create_session(agent_id)
    assert (caught.value.status, caught.value.code) == (409, "session_error")

    resumed = await admin.resume_agent(agent_id)
    assert (resumed["id"], resumed["status"]) == (agent_id, "active")
    async with admin.connect(await admin.create_session(agent_id)) as conv:
        assert (await conv.recv(timeout=15))["type"] == "connected"
        health = await admin.health()
        assert health["status"] == "ok" and health["active_sessions"] >= 1


async def test_deleting_an_agent_ends_its_live_sessions_at_once(
    server: Server, admin: AsyncParleyClient
) -> None:
    agent_id = await _agent(admin, first_message="Hello there.")
    other_id = await _agent(admin)
    by_token = await admin.create_session(agent_id)
    waiting = await admin.create_session(agent_id)
    async with (
        admin.connect(by_token) as a,
        Conversation(conversation_url(server.url, server.admin_key, agent_id)) as b,
        Conversation(conversation_url(server.url, server.admin_key, other_id)) as bystander,
    ):
        ids = []
        for conv in (a, b, bystander):
            connected = await conv.recv(timeout=15)
            assert connected["type"] == "connected"
            ids.append(connected["conversation_id"])
        result = await admin.delete_agent(agent_id)
        assert result["sessions_ended"] == 3  # two live, one waiting for its token
        for conv in (a, b):
            events = await until(conv, "session_ended", timeout=10)
            assert events[-1] == {"type": "session_ended", "reason": "agent_deleted"}
            await asyncio.wait_for(conv._ws.wait_closed(), 10)
            assert conv.close_code == 1000
        await bystander.send({"type": "ping", "ts": 1})  # other agents are untouched
        assert (await until(bystander, "pong"))[-1]["ts"] == 1

    async with httpx.AsyncClient(base_url=server.url, headers=auth(server.admin_key)) as http:
        for sid in [*ids[:2], waiting["session_id"]]:
            detail = (await http.get(f"/v1/sessions/{sid}")).json()
            assert (detail["status"], detail["end_reason"]) == ("ended", "agent_deleted")
        gone = await http.get(f"/v1/agents/{agent_id}")
        assert_error(gone, 404, "not_found_error", f"agent {agent_id!r} not found", "agent_id")
    error, code = await rejected(conversation_url(server.url, server.admin_key, agent_id))
    assert code == 4004 and error["code"] == "not_found_error"
    error, code = await rejected(waiting["websocket_url"] or "")
    assert code == 4001 and error["message"] == "this session has ended; create a new session"
