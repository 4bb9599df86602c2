"""The Python client resumes a conversation after a real network drop: a TCP relay
(:mod:`parley.testing.tcp_proxy`) between the client and a real ``parley serve`` is cut, or
refuses connections, in the middle of a conversation."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import websockets

from parley.client import AsyncParleyClient, Conversation, Microphone, conversation_url
from parley.client.reconnect import resume_url
from parley.testing.server import start_server
from parley.testing.tcp_proxy import TcpProxy
from tests.integration.api_support import SYSTEM_PROMPT
from tests.integration.conftest import Server

pytestmark = pytest.mark.integration

TURN_TIMEOUT = 120.0  # a typed turn and its spoken answer on a busy 2-core machine
Event = dict[str, Any]


@pytest.fixture
async def proxy(server: Server) -> AsyncIterator[TcpProxy]:
    async with TcpProxy(int(server.url.rsplit(":", 1)[1])) as relay:
        yield relay


@pytest.fixture
async def admin(server: Server) -> AsyncIterator[AsyncParleyClient]:
    async with AsyncParleyClient(server.url, server.admin_key) as client:
        yield client


def via(proxy: TcpProxy, server: Server, agent_id: str = "agt_demo") -> str:
    """The conversation URL through the relay."""
    return conversation_url(f"http://127.0.0.1:{proxy.port}", server.admin_key, agent_id)


async def until(
    conv: Conversation, done: Callable[[Event], bool], timeout: float = TURN_TIMEOUT
) -> list[Event]:
    """Every event up to and including the first that is ``done``."""
    events: list[Event] = []
    while not events or not done(events[-1]):
        events.append(await conv.recv(timeout=timeout))
    return events


def kind(name: str) -> Callable[[Event], bool]:
    return lambda event: event["type"] == name


async def connected_event(conv: Conversation) -> Event:
    """The first event: ``connected``, with a resume token."""
    connected = await conv.recv(timeout=30)
    assert connected["type"] == "connected", connected
    assert connected.get("resumed") is False, connected
    token = connected.get("resume_token")
    assert isinstance(token, str) and token, f"the server issued no resume_token: {connected}"
    return connected


async def text_turn(conv: Conversation, text: str) -> str:
    """Say ``text`` as a typed turn; the agent's whole answer once its turn is over."""
    await conv.send({"type": "text", "text": text})
    events = await until(conv, lambda e: e["type"] == "transcript" and e["role"] == "user")
    turn = events[-1]["turn_id"]
    events = await until(conv, lambda e: e["type"] == "agent_turn_end" and e["turn_id"] == turn)
    answers = [
        e["text"]
        for e in events
        if e["type"] == "transcript" and e["role"] == "agent" and e["final"]
    ]
    assert answers, events
    return str(answers[-1])


async def end(conv: Conversation) -> None:
    await conv.send({"type": "end"})
    events = await until(conv, kind("session_ended"), timeout=30)
    assert events[-1]["reason"] == "client"


async def stored(admin: AsyncParleyClient, session_id: str, status: str) -> dict[str, Any]:
    """The stored session once it has ``status``."""
    for _ in range(100):
        detail = dict(await admin.get_session(session_id))
        if detail["status"] == status:
            return detail
        await asyncio.sleep(0.2)
    raise AssertionError(f"session {session_id} is {detail['status']}, not {status}")


async def test_a_cut_is_resumed_and_the_conversation_goes_on(
    server: Server, proxy: TcpProxy, admin: AsyncParleyClient
) -> None:
    """Cut between turns: reconnecting, reconnected with the same conversation; the next
    typed turn is answered in the same session; the spent token is refused (4001)."""
    async with Conversation(via(proxy, server)) as conv:
        connected = await connected_event(conv)
        session_id, first_token = connected["conversation_id"], connected["resume_token"]
        await until(conv, kind("agent_turn_end"))  # the greeting
        await text_turn(conv, "What is the capital of France?")

        assert proxy.cut() == 1
        events = await until(conv, kind("reconnected"), timeout=60)
        tries = [e for e in events if e["type"] == "reconnecting"]
        assert tries and tries[0]["reason"] == "close_1006", events
        assert [e["attempt"] for e in tries] == list(range(1, len(tries) + 1))
        assert all(0 <= e["delay_ms"] <= 4000 for e in tries), tries
        assert events[-1] == {
            "type": "reconnected",
            "conversation_id": session_id,
            "attempts": len(tries),
        }
        assert [e for e in events if e["type"] == "connected"] == []
        assert conv.conversation_id == session_id and conv.reconnects == 1 and conv.connected
        assert conv.resume_token and conv.resume_token != first_token

        answer = await text_turn(conv, "And what is the capital of Italy?")
        assert answer.strip()

        # the token of the first connection was used by the resume
        stale_url = resume_url(via(proxy, server), first_token)
        async with Conversation(stale_url, reconnect=False) as stale:
            error = await stale.recv(timeout=15)
            with pytest.raises(websockets.ConnectionClosed):
                await stale.recv(timeout=15)
        assert error["type"] == "error" and error["code"] == "authentication_error", error
        assert stale.close_code == 4001
        await end(conv)

    detail = await stored(admin, session_id, "ended")
    turns = detail["transcript"]
    assert [t["role"] for t in turns] == ["agent", "user", "agent", "user", "agent"], turns
    assert [t["text"] for t in turns if t["role"] == "user"] == [
        "What is the capital of France?",
        "And what is the capital of Italy?",
    ]
    assert detail["end_reason"] == "client"


async def test_refused_attempts_are_retried_and_microphone_audio_is_dropped(
    server: Server, proxy: TcpProxy, admin: AsyncParleyClient
) -> None:
    """Cut while the greeting plays and refuse connections for a while: the client keeps
    trying, the microphone runs on (its frames are dropped), and the conversation resumes
    without a second greeting."""
    async with Conversation(via(proxy, server), rand=lambda: 1.0) as conv:
        session_id = (await connected_event(conv))["conversation_id"]
        async with Microphone(conv.send_audio) as mic:  # a live microphone: silence
            await until(conv, kind("audio"))  # the greeting is playing
            await proxy.refuse()
            proxy.cut()
            refused = await until(
                conv, lambda e: e["type"] == "reconnecting" and e["reason"] == "connection_refused"
            )
            tries = [e for e in refused if e["type"] == "reconnecting"]  # after greeting audio
            assert tries[0]["reason"] == "close_1006", tries
            await proxy.accept()
            events = await until(conv, kind("reconnected"), timeout=60)
            assert events[-1]["conversation_id"] == session_id
            assert conv.audio_dropped > 0 and mic.running
            answer = await text_turn(conv, "Please say hello.")
            assert answer.strip()
            assert mic.running
        await end(conv)

    roles = [t["role"] for t in (await stored(admin, session_id, "ended"))["transcript"]]
    # the greeting, as far as it was heard (if at all), and the typed turn: no second greeting
    assert roles in (["agent", "user", "agent"], ["user", "agent"]), roles


async def test_without_reconnect_a_cut_ends_the_conversation(
    server: Server, proxy: TcpProxy, admin: AsyncParleyClient
) -> None:
    async with Conversation(via(proxy, server), reconnect=False) as conv:
        session_id = (await connected_event(conv))["conversation_id"]
        proxy.cut()
        rest = [event async for event in conv.events()]
        assert not [e for e in rest if e["type"] in ("reconnecting", "reconnected")], rest
        assert conv.close_code == 1006 and not conv.connected
        with pytest.raises(websockets.ConnectionClosed):
            await conv.send({"type": "text", "text": "hello?"})
    assert (await stored(admin, session_id, "ended"))["end_reason"] == "client"


async def test_a_conversation_gone_for_good_is_a_final_refusal(
    server: Server, proxy: TcpProxy, admin: AsyncParleyClient
) -> None:
    """The agent is deleted while the client is cut off: its resume is refused with 4004
    (not_found_error) and it stops trying."""
    agent = await admin.create_agent(name="Resume me", system_prompt=SYSTEM_PROMPT)
    async with Conversation(via(proxy, server, agent["id"])) as conv:
        await connected_event(conv)
        await proxy.refuse()
        proxy.cut()
        await until(conv, lambda e: e["type"] == "reconnecting" and e["attempt"] >= 2, 60)
        await admin.delete_agent(agent["id"])
        await proxy.accept()
        rest = [event async for event in conv.events()]
        errors = [e for e in rest if e["type"] == "error"]
        assert [e["code"] for e in errors] == ["not_found_error"], rest
        assert not [e for e in rest if e["type"] == "reconnected"], rest
        assert conv.close_code == 4004 and not conv.connected
        tries = conv.reconnects
    assert tries == 0


async def test_a_drain_is_resumed_on_the_next_replica(tmp_path: Path) -> None:
    """SIGTERM drains the replica: the client gets no final `session_ended` but
    `reconnecting` (reason `server_shutdown`), keeps trying while no replica answers, and
    resumes on the replica started next on the same database."""
    data = tmp_path / "data"
    # a window long enough for a replica to start on a busy machine
    env = {"PARLEY_CLUSTER__RESUME_WINDOW_S": "180", "PARLEY_CLUSTER__REPLICA_ID": "replica-a"}
    first = start_server(data, env=env)
    try:
        async with (
            TcpProxy(first.port) as proxy,
            Conversation(via(proxy, first)) as conv,
        ):
            session_id = (await connected_event(conv))["conversation_id"]
            await until(conv, kind("agent_turn_end"))  # the greeting
            first.process.send_signal(signal.SIGTERM)
            events = await until(conv, kind("reconnecting"), timeout=60)
            assert events[-1]["reason"] == "server_shutdown" and events[-1]["attempt"] == 1
            assert not [e for e in events if e["type"] == "session_ended"], events
            assert await asyncio.to_thread(first.process.wait, 60) == 0

            second_env = {**env, "PARLEY_CLUSTER__REPLICA_ID": "replica-b"}
            second = await asyncio.to_thread(
                start_server, data, env=second_env, admin_key=first.admin_key
            )
            try:
                proxy.target_port = second.port
                events = await until(conv, kind("reconnected"), timeout=120)
                assert events[-1]["conversation_id"] == session_id, events
                assert [e for e in events if e["type"] in ("error", "session_ended")] == []
                assert (await text_turn(conv, "Please say hello.")).strip()
                await end(conv)
            finally:
                second.stop()
    finally:
        first.stop()
