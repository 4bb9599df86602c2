"""Two real ``parley serve`` replicas on one Postgres and one Redis, behind a real HAProxy
(issue 17, item 5): what one replica does reaches the other, and a conversation survives
the loss of the replica holding it (kill -9 or drain), resumed through the load balancer
with its history intact.

One cluster for the module (about a minute to start: each replica loads the models). The
tests that kill or drain a replica restart it before they return. Nothing here asserts a
timing.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import websockets

from parley.testing.cluster import Cluster, ClusterOptions, running_cluster
from parley.testing.haproxy import haproxy_available
from parley.testing.postgres import postgres_available, services_required
from parley.testing.redis_server import redis_available

WINDOW_S = 8.0
LEASE_S = 4.0

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(900),
    pytest.mark.skipif(
        not (haproxy_available() and postgres_available() and redis_available())
        and not services_required(),
        reason="needs HAProxy, Postgres and Redis (Debian/Ubuntu: apt-get install haproxy "
        "postgresql redis-server)",
    ),
]

SYSTEM_PROMPT = "You are a helpful assistant. Answer in one short sentence."


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    # a generous drain timeout: the turn in progress at SIGTERM must be able to finish
    settings = ClusterOptions(lease_s=LEASE_S, resume_window_s=WINDOW_S, drain_timeout_s=60.0)
    with running_cluster(2, settings) as started:
        yield started


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def ws_url(base: str, **query: str) -> str:
    return base.replace("http://", "ws://") + "/v1/voice/conversation?" + urlencode(query)


def create_agent(cluster: Cluster, replica: int, name: str) -> str:
    response = httpx.post(
        f"{cluster.replica(replica).url}/v1/agents",
        headers=auth(cluster.admin_key),
        json={"name": name, "system_prompt": SYSTEM_PROMPT},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


class Socket:
    """A raw native-protocol WebSocket: events in order, the close code at the end."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def recv(self, timeout: float = 60.0) -> dict[str, Any]:
        event: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        return event

    async def until(self, kind: str, timeout: float = 120.0) -> list[dict[str, Any]]:
        """Every event up to and including the first of type ``kind``."""
        events: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while not events or events[-1]["type"] != kind:
            events.append(await self.recv(timeout=max(0.1, deadline - time.monotonic())))
        return events

    async def text_turn(self, text: str) -> str:
        """A typed user turn; the agent's whole reply, once a client playing it in real
        time would have finished (so that the whole reply counts as heard)."""
        await self.send({"type": "text", "text": text})
        events: list[dict[str, Any]] = []
        first_audio, audio_bytes = None, 0
        while not events or events[-1]["type"] != "agent_turn_end":
            events.append(await self.recv(timeout=120))
            if events[-1]["type"] == "audio":
                first_audio = first_audio or time.monotonic()
                audio_bytes += len(base64.b64decode(events[-1]["audio"]))
        assert events[-1]["status"] == "completed", events[-5:]
        if first_audio is not None:  # 16 kHz PCM16: 32000 bytes a second
            await asyncio.sleep(
                max(0.0, first_audio + audio_bytes / 32000 + 0.5 - time.monotonic())
            )
        finals = [e for e in events if e["type"] == "transcript" and e["role"] == "agent"]
        return str(finals[-1]["text"]) if finals else ""

    async def closed(self, timeout: float = 60.0) -> tuple[list[dict[str, Any]], int | None]:
        """The remaining events until the socket closes, and its close code."""
        events = []
        deadline = time.monotonic() + timeout
        try:
            while True:
                events.append(await self.recv(timeout=max(0.1, deadline - time.monotonic())))
        except websockets.ConnectionClosed:
            pass
        return events, self.ws.close_code


@asynccontextmanager
async def socket(url: str) -> AsyncIterator[Socket]:
    async with websockets.connect(url, max_size=None, max_queue=None, open_timeout=20) as ws:
        yield Socket(ws)


async def connect(url: str) -> tuple[Socket, dict[str, Any]]:
    """Open a socket that stays open after the call; its ``connected`` event."""
    ws = await websockets.connect(url, max_size=None, max_queue=None, open_timeout=20)
    sock = Socket(ws)
    first = await sock.recv(timeout=30)
    assert first["type"] == "connected", first
    return sock, first


async def refused(url: str) -> tuple[dict[str, Any], int | None]:
    """The error of a connection the server refuses, and its close code."""
    async with socket(url) as sock:
        error = await sock.recv(timeout=30)
        if error["type"] == "connected":  # not refused: the caller's assertion says so
            return error, None
        _, code = await sock.closed(timeout=30)
    return error, code


async def resume(cluster: Cluster, token: str) -> tuple[Socket, dict[str, Any]]:
    """Resume through HAProxy, retrying (as the SDKs do) while a replica refuses with
    1013 or the connection fails, within the window."""
    deadline = time.monotonic() + WINDOW_S
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            ws = await websockets.connect(
                ws_url(cluster.url, resume_token=token),
                max_size=None,
                max_queue=None,
                open_timeout=10,
            )
        except (OSError, websockets.WebSocketException) as exc:
            last = exc
            await asyncio.sleep(0.25)
            continue
        sock = Socket(ws)
        first = await sock.recv(timeout=30)
        if first["type"] == "connected":
            return sock, first
        _, code = await sock.closed(timeout=10)
        assert code == 1013, (first, code)  # only "try again later" may be retried
        last = RuntimeError(f"{first} close {code}")
        await asyncio.sleep(0.25)
    raise AssertionError(f"no resume within the window: {last}")


def session(cluster: Cluster, conversation_id: str) -> dict[str, Any]:
    response = httpx.get(
        f"{cluster.url}/v1/sessions/{conversation_id}", headers=auth(cluster.admin_key), timeout=30
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def stored_turns(cluster: Cluster, conversation_id: str, n: int) -> None:
    """Wait (bounded) until the session's transcript holds ``n`` turns."""
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(headers=auth(cluster.admin_key), timeout=10) as http:
        while True:
            detail = (await http.get(f"{cluster.url}/v1/sessions/{conversation_id}")).json()
            if len(detail["transcript"]) >= n:
                return
            assert time.monotonic() < deadline, detail
            await asyncio.sleep(0.1)


# -- what one replica does reaches the other --------------------------------------------


def test_both_replicas_are_in_the_cluster(cluster: Cluster) -> None:
    info = cluster.cluster_info()
    # protocol.md names the flag "redis"; the server calls it "shared" (reported)
    assert info.get("redis", info.get("shared")) is True, info
    replicas = {r["replica_id"]: r for r in info["replicas"]}
    assert set(replicas) == {"r1", "r2"}
    assert all(not r["draining"] and r["capacity"] == 4 for r in replicas.values())
    for i in (1, 2):
        health = httpx.get(f"{cluster.replica(i).url}/healthz", timeout=10)
        assert health.status_code == 200
        assert health.json()["replica_id"] == f"r{i}"
        assert health.json()["draining"] is False


async def test_an_agent_made_on_one_replica_talks_on_the_other(cluster: Cluster) -> None:
    agent_id = create_agent(cluster, 1, "Made on r1")
    url = ws_url(cluster.replica(2).url, api_key=cluster.admin_key, agent_id=agent_id)
    async with socket(url) as sock:
        first = await sock.recv(timeout=30)
        assert first["type"] == "connected" and first["agent_id"] == agent_id
        assert first["resumed"] is False and first["resume_token"]
        assert (await sock.text_turn("Say hello to me.")).strip()
        await sock.send({"type": "end"})
        events, code = await sock.closed()
    assert {"type": "session_ended", "reason": "client"} in events and code == 1000


async def test_deleting_the_agent_on_one_replica_ends_its_call_on_the_other(
    cluster: Cluster,
) -> None:
    agent_id = create_agent(cluster, 1, "Deleted on r1")
    url = ws_url(cluster.replica(2).url, api_key=cluster.admin_key, agent_id=agent_id)
    async with socket(url) as sock:
        assert (await sock.recv(timeout=30))["type"] == "connected"
        async with httpx.AsyncClient(headers=auth(cluster.admin_key), timeout=30) as http:
            deleted = await http.delete(f"{cluster.replica(1).url}/v1/agents/{agent_id}")
        assert deleted.status_code == 200, deleted.text
        assert deleted.json()["sessions_ended"] == 1
        events, _ = await sock.closed(timeout=60)
    ended = [e for e in events if e["type"] == "session_ended"]
    assert ended and ended[0]["reason"] == "agent_deleted", events


def test_a_rate_limit_is_shared_by_both_replicas(cluster: Cluster) -> None:
    created = httpx.post(
        f"{cluster.replica(1).url}/v1/api-keys",
        headers=auth(cluster.admin_key),
        json={"name": "small burst", "rate_limit": {"requests_per_minute": 1, "burst": 4}},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    answers = []
    for i in (1, 2, 1, 2):  # the burst, half on each replica
        response = httpx.get(f"{cluster.replica(i).url}/v1/agents", headers=auth(key), timeout=30)
        answers.append(response.status_code)
    assert answers == [200, 200, 200, 200]
    for i in (1, 2):
        response = httpx.get(f"{cluster.replica(i).url}/v1/agents", headers=auth(key), timeout=30)
        assert response.status_code == 429, (i, response.text)
        assert response.json()["error"]["code"] == "rate_limit_error"


# -- resume tokens ------------------------------------------------------------------------


async def test_a_used_token_is_refused_and_an_ended_conversation_cannot_be_resumed(
    cluster: Cluster,
) -> None:
    agent_id = create_agent(cluster, 1, "Tokens")
    sock, first = await connect(ws_url(cluster.url, api_key=cluster.admin_key, agent_id=agent_id))
    await sock.ws.close()  # a drop, not an end: resumable
    again, second = await resume(cluster, first["resume_token"])
    assert second["conversation_id"] == first["conversation_id"] and second["resumed"] is True
    assert second["resume_token"] != first["resume_token"]

    error, code = await refused(ws_url(cluster.url, resume_token=first["resume_token"]))
    assert (error["type"], error.get("code"), code) == ("error", "authentication_error", 4001), (
        error
    )

    await again.send({"type": "end"})  # the end: for good
    await again.closed()
    error, code = await refused(ws_url(cluster.url, resume_token=second["resume_token"]))
    assert (error.get("code"), code) == ("not_found_error", 4004), error

    error, code = await refused(ws_url(cluster.url, resume_token="not-a-token"))
    assert (error.get("code"), code) == ("authentication_error", 4001), error


async def test_a_conversation_cannot_be_resumed_after_the_window(cluster: Cluster) -> None:
    agent_id = create_agent(cluster, 2, "Window")
    sock, first = await connect(ws_url(cluster.url, api_key=cluster.admin_key, agent_id=agent_id))
    await sock.ws.close()
    await asyncio.sleep(WINDOW_S + 2.0)
    error, code = await refused(ws_url(cluster.url, resume_token=first["resume_token"]))
    assert (error.get("code"), code) == ("not_found_error", 4004), error


# -- losing the replica that holds a call ---------------------------------------------------


async def test_kill_9_of_the_replica_holding_a_call_resumes_on_the_other(
    cluster: Cluster,
) -> None:
    agent_id = create_agent(cluster, 1, "Survivor")
    url = ws_url(cluster.replica(2).url, api_key=cluster.admin_key, agent_id=agent_id)
    sock, first = await connect(url)
    conversation_id = first["conversation_id"]
    try:
        assert await sock.text_turn("My name is Ada and my number is 42.")
        # the replica stores a finished agent turn once it has been heard (its playback
        # estimate): the kill comes after that, so the history has both sides
        await stored_turns(cluster, conversation_id, 2)
        cluster.kill(2)
        _, code = await sock.closed(timeout=30)
        assert code not in (1000, 4001, 4004)

        again, resumed = await resume(cluster, first["resume_token"])
        assert resumed["conversation_id"] == conversation_id
        assert resumed["resumed"] is True and resumed["resume_token"] != first["resume_token"]
        assert await again.text_turn("What is my number?")
        await again.send({"type": "end"})
        await again.closed()
    finally:
        cluster.restart(2)

    detail = session(cluster, conversation_id)
    users = [t["text"] for t in detail["transcript"] if t["role"] == "user"]
    agents = [t for t in detail["transcript"] if t["role"] == "agent"]
    assert users == ["My name is Ada and my number is 42.", "What is my number?"], detail
    assert len(agents) == 2, detail
    assert detail.get("replica_id", "r1") == "r1"


async def test_the_calls_of_a_dead_replica_are_ended_by_the_other_and_stay_resumable(
    cluster: Cluster,
) -> None:
    agent_id = create_agent(cluster, 1, "Orphan")
    url = ws_url(cluster.replica(2).url, api_key=cluster.admin_key, agent_id=agent_id)
    sock, first = await connect(url)
    conversation_id = first["conversation_id"]
    try:
        cluster.kill(2)
        await sock.closed(timeout=30)
        # r2's lease lapses; r1 ends its sessions with reason error
        deadline = time.monotonic() + LEASE_S + 30
        detail = session(cluster, conversation_id)
        while detail["status"] == "active":
            assert time.monotonic() < deadline, detail
            await asyncio.sleep(0.2)
            detail = session(cluster, conversation_id)
        assert (detail["status"], detail["end_reason"]) == ("ended", "error"), detail

        again, resumed = await resume(cluster, first["resume_token"])
        assert resumed["conversation_id"] == conversation_id and resumed["resumed"] is True
        assert session(cluster, conversation_id)["status"] == "active"
        await again.send({"type": "end"})
        await again.closed()
    finally:
        cluster.restart(2)


async def test_a_drained_replica_hands_its_call_over(cluster: Cluster) -> None:
    agent_id = create_agent(cluster, 2, "Drained")
    url = ws_url(cluster.replica(1).url, api_key=cluster.admin_key, agent_id=agent_id)
    sock, first = await connect(url)
    conversation_id = first["conversation_id"]
    health: list[int | None] = []
    try:
        assert await sock.text_turn("Remember the colour green.")
        # a turn in progress when SIGTERM comes: the drain lets it finish first
        await sock.send({"type": "text", "text": "Tell me a short story about a lighthouse."})
        await sock.until("audio")
        cluster.terminate(1)
        while cluster.is_running(1):
            try:
                async with httpx.AsyncClient(timeout=2) as http:
                    answer = await http.get(f"{cluster.replica(1).url}/healthz")
                health.append(answer.status_code)
                if answer.status_code == 503:
                    assert answer.json()["status"] == "draining"
            except httpx.HTTPError:
                health.append(None)
            await asyncio.sleep(0.05)
        cluster.wait_exited(1)
        events, code = await sock.closed(timeout=30)
        ended = [e for e in events if e["type"] == "session_ended"]
        assert len(ended) == 1, events
        assert ended[0]["reason"] == "server_shutdown" and ended[0]["resumable"] is True, ended
        assert ended[0]["resume_within_s"] == pytest.approx(WINDOW_S)
        assert code == 1012, (code, events[-3:])
        turn_ends = [e for e in events if e["type"] == "agent_turn_end"]
        assert turn_ends and turn_ends[0]["status"] == "completed", events[-6:]

        again, resumed = await resume(cluster, first["resume_token"])
        assert resumed["conversation_id"] == conversation_id and resumed["resumed"] is True
        assert await again.text_turn("Which colour did I mention?")
        await again.send({"type": "end"})
        await again.closed()
    finally:
        if not cluster.is_running(1):
            cluster.restart(1)
    assert 503 in health, health
    detail = session(cluster, conversation_id)
    users = [t["text"] for t in detail["transcript"] if t["role"] == "user"]
    assert users == [
        "Remember the colour green.",
        "Tell me a short story about a lighthouse.",
        "Which colour did I mention?",
    ], detail
