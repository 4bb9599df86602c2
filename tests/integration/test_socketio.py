"""The Socket.IO voice agent (docs/socketio.md) with python-socketio's own client over a
real WebSocket: real speech streamed in real time, barge-in, controls, every error path,
agent deletion, quiet and vanished clients, server shutdown."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import numpy as np
import pytest
import socketio
import websockets

from parley.audio.wav import read_wav
from parley.storage import Database, SessionRecord, SessionRepository, StoredTurn
from parley.testing.recordings import Recording
from parley.testing.server import ServerProcess, start_server
from parley.testing.wer import normalized_wer
from tests.integration.conftest import Server

pytestmark = pytest.mark.integration
NS = "/v1/audio/agent"
TERSE = "You are a terse test agent. Answer in one short sentence."
FRAME_MS = 32


@dataclass
class Event:
    name: str
    data: Any
    at: float


class AgentSocket:
    """A python-socketio client on the voice-agent namespace that keeps every event."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[Event] = []
        self.cursor = 0
        self.errors_expected = 0
        self.disconnected = asyncio.Event()

        @self.sio.on("*", namespace=NS)
        async def on_any(name: str, data: Any = None) -> None:
            self.events.append(Event(name, data, time.monotonic()))

        @self.sio.on("disconnect", namespace=NS)
        async def on_disconnect(*_reason: Any) -> None:
            self.disconnected.set()

    async def connect(self, url: str, **query: str) -> None:
        target = f"{url}?{urlencode(query)}" if query else url
        await self.sio.connect(target, namespaces=[NS], transports=["websocket"], wait_timeout=15)

    async def emit(self, name: str, *args: Any) -> None:
        data = args[0] if len(args) == 1 else (tuple(args) if args else None)
        await self.sio.emit(name, data, namespace=NS)

    def named(self, name: str) -> list[Event]:
        return [e for e in self.events if e.name == name]

    async def expect(
        self,
        name: str,
        where: Callable[[Any], bool] = lambda _: True,
        *,
        timeout: float = 60.0,
        silence: bool = False,
    ) -> Any:
        """The next event ``name`` (after the last one expected) whose payload passes
        ``where``; with ``silence``, microphone silence streams in real time meanwhile."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i in range(self.cursor, len(self.events)):
                event = self.events[i]
                if event.name == name and where(event.data):
                    self.cursor = i + 1
                    return event.data
            if silence:
                await self.stream(bytes(2 * 16 * FRAME_MS * 5))
            else:
                await asyncio.sleep(0.02)
        recent = [e.name for e in self.events[-10:]]
        raise AssertionError(f"no {name!r} within {timeout} s; last events: {recent}")

    async def expect_error(self, kind: str, *, contains: str = "") -> dict[str, Any]:
        error: dict[str, Any] = await self.expect("error", timeout=15)
        self.errors_expected += 1
        assert error["type"] == kind, error
        assert contains in error["message"], error
        return error

    async def stream(self, pcm: bytes, rate: int = 16_000) -> None:
        """Send audio in 32 ms chunks at real-time pace."""
        step = rate * FRAME_MS // 1000 * 2
        start = time.monotonic()
        for n, i in enumerate(range(0, len(pcm), step)):
            chunk = base64.b64encode(pcm[i : i + step]).decode("ascii")
            await self.emit("audio_chunk", {"audio": chunk, "format": "pcm16", "sample_rate": rate})
            await asyncio.sleep(max(0.0, start + (n + 1) * FRAME_MS / 1000 - time.monotonic()))

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()


async def _stored(server: ServerProcess, session_id: str) -> tuple[SessionRecord, list[StoredTurn]]:
    db = Database(server.database_url)
    await db.connect()
    try:
        sessions = SessionRepository(db)
        record = await sessions.get(session_id)
        turns = await sessions.turns(session_id)
    finally:
        await db.close()
    assert record is not None
    return record, turns


def _audio_of(sock: AgentSocket, turn_id: str) -> list[Event]:
    return [e for e in sock.named("audio_chunk") if e.data["turn_id"] == turn_id]


def _admin(server: ServerProcess) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {server.admin_key}"}
    return httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30)


async def test_ad_hoc_session_hears_48_khz_speech_and_answers(
    server: Server, speech: dict[str, Recording]
) -> None:
    clip = speech["librivox-0930"]
    sock = AgentSocket()
    await sock.connect(server.url, api_key=server.admin_key)
    try:
        connected = await sock.expect("connected")
        assert connected["status"] == "connected" and connected["sid"] == sock.sio.get_sid(NS)
        assert connected["voice"] == "en_US-joe-medium" and connected["message"]

        # the defaults of the product Parley replaces: 600 is an energy level, not a probability
        await sock.emit(
            "start_session",
            {
                "instructions": TERSE,
                "language": "en",
                "vad_threshold": 600,
                "interrupt_threshold": 8,
            },
        )
        started = await sock.expect("session_started")
        assert started["session_id"].startswith("ses_") and started["ad_hoc"] is True
        assert started["agent_id"] == "agt_demo" and started["voice"] == "en_US-joe-medium"
        assert started["vad_threshold"] == 0.5 and started["interrupt_threshold"] == 8
        assert "legacy energy level" in started["notes"][0], started["notes"]
        assert started["audio_format"] == {"encoding": "pcm16", "sample_rate": 16000, "channels": 1}

        await sock.stream(bytes(48_000 * 2))  # a second of silence at 48 kHz
        await sock.stream(read_wav(clip.path, target_rate=48_000), rate=48_000)
        heard = await sock.expect("transcription", silence=True)
        assert heard["is_final"] is True
        assert normalized_wer([clip.text], [heard["text"]]) <= 0.25, heard
        turn = heard["turn_id"]
        end = await sock.expect("audio_end", lambda d: d["turn_id"] == turn, silence=True)

        chunks = _audio_of(sock, turn)
        assert end["status"] == "completed" and end["total_chunks"] == len(chunks) > 0
        assert [c.data["seq"] for c in chunks] == list(range(len(chunks)))
        assert all(c.data["format"] == "pcm16" and c.data["sample_rate"] == 16000 for c in chunks)
        pcm = np.frombuffer(b"".join(base64.b64decode(c.data["audio"]) for c in chunks), "<i2")
        assert len(pcm) > 16000 * 0.5 and np.sqrt(np.mean(pcm.astype(np.float64) ** 2)) > 300
        said = [e.data for e in sock.named("response") if e.data["turn_id"] == turn]
        assert said and said[-1]["is_final"] is True and said[-1]["text"].strip()
        assert all(not r["is_final"] for r in said[:-1])
        assert not sock.named("agent_turn_start") or all(
            e.data["turn_id"] == turn for e in sock.named("agent_turn_start")
        ), "no greeting: the session has its own instructions"

        for action in ("stop_listening", "start_listening", "pause", "resume", "interrupt"):
            await sock.emit("control", {"action": action})
            assert await sock.expect("control_ack") == {"action": action, "status": "executed"}

        await sock.emit("end_session")
        ended = await sock.expect("session_ended")
        assert ended == {"session_id": started["session_id"], "status": "ended", "reason": "client"}
        assert sock.sio.connected, "the connection outlives its session"
    finally:
        await sock.close()

    record, turns = await _stored(server, started["session_id"])
    assert record.metadata == {"protocol": "socketio", "ad_hoc": True}
    assert record.status == "ended" and record.end_reason == "client"
    assert (turns[0].role, turns[0].text) == ("user", heard["text"])


async def test_stored_agent_barge_in(server: Server, speech: dict[str, Recording]) -> None:
    question = read_wav(speech["librivox-0870"].path)
    interruption = read_wav(speech["cards-005"].path)
    sock = AgentSocket()
    await sock.connect(server.url, api_key=server.admin_key, voice="en_US-joe-medium")
    try:
        await sock.expect("connected")
        await sock.emit("start_session", {"agent_id": "agt_demo", "interrupt_threshold": 5})
        started = await sock.expect("session_started")
        assert started["agent_id"] == "agt_demo" and started["ad_hoc"] is False
        assert started["interrupt_threshold"] == 5 and started["notes"] == []
        greeting = await sock.expect("audio_end", silence=True)
        assert greeting["turn_id"] == "turn_1" and greeting["status"] == "completed"
        assert greeting["total_chunks"] == len(_audio_of(sock, "turn_1")) > 0
        spoken = [e.data for e in sock.named("response") if e.data["turn_id"] == "turn_1"]
        assert "Parley" in spoken[-1]["text"] and spoken[-1]["is_final"]
        await sock.stream(bytes(32_000 * 2))  # let the greeting play out

        await sock.stream(question)
        first = await sock.expect("transcription", silence=True)
        answer = first["turn_id"]
        await sock.expect("audio_chunk", lambda d: d["turn_id"] == answer, silence=True)
        await sock.stream(interruption)
        cut = await sock.expect("interruption", silence=True)
        assert cut == {"turn_id": answer}
        cut_at = next(e.at for e in sock.named("interruption"))
        cut_end = await sock.expect("audio_end", lambda d: d["turn_id"] == answer, silence=True)
        assert cut_end["status"] == "interrupted"
        assert cut_end["total_chunks"] == len(_audio_of(sock, answer))
        assert [e for e in _audio_of(sock, answer) if e.at > cut_at] == [], "no audio after it"

        second = await sock.expect("transcription", silence=True)
        assert "spades" in second["text"].lower()
        reply = await sock.expect(
            "audio_end", lambda d: d["turn_id"] == second["turn_id"], silence=True
        )
        assert reply["total_chunks"] == len(_audio_of(sock, second["turn_id"])) > 0
        await sock.emit("end_session")
        assert (await sock.expect("session_ended"))["reason"] == "client"
    finally:
        await sock.close()

    record, turns = await _stored(server, started["session_id"])
    assert record.metadata["protocol"] == "socketio" and record.metadata["ad_hoc"] is False
    (stopped,) = [t for t in turns if t.turn_id == answer and t.role == "agent"]
    assert stopped.interrupted
    assert [t.text for t in turns if t.role == "user"] == [first["text"], second["text"]]


async def test_bad_messages_get_precise_errors_and_the_session_goes_on(server: Server) -> None:
    sock = AgentSocket()
    await sock.connect(server.url, api_key=server.admin_key)
    try:
        await sock.expect("connected")
        silence = base64.b64encode(bytes(1024)).decode("ascii")
        # out of order: nothing needs a session yet
        await sock.emit("audio_chunk", {"audio": silence})
        await sock.expect_error("session_error", contains="send start_session first")
        await sock.emit("control", {"action": "pause"})
        await sock.expect_error("session_error", contains="send start_session first")
        await sock.emit("end_session")
        await sock.expect_error("session_error", contains="no session to end")
        # malformed, whatever the state
        await sock.emit("dance", {"x": 1})
        await sock.expect_error("validation_error", contains="unknown event 'dance'")
        await sock.emit("start_session", "agt_demo")
        await sock.expect_error("validation_error", contains="must be an object, got str")
        await sock.emit("start_session", {"vad_threshold": "high"})
        await sock.expect_error("validation_error", contains="vad_threshold")
        await sock.emit("start_session", {"interrupt_threshold": 0})
        await sock.expect_error("validation_error", contains="interrupt_threshold")
        await sock.emit("start_session", {"voice": "no_such_voice"})
        await sock.expect_error("validation_error", contains="unknown voice 'no_such_voice'")
        await sock.emit("start_session", {"agent_id": "agt_missing"})
        await sock.expect_error("not_found_error", contains="agt_missing")

        await sock.emit("start_session", {"instructions": TERSE, "vad_threshold": 0.6})
        started = await sock.expect("session_started")
        assert started["vad_threshold"] == 0.6 and started["notes"] == []
        await sock.emit("start_session", {"instructions": TERSE})
        await sock.expect_error("session_error", contains="already running")
        await sock.emit("audio_chunk", {"audio": "not base64!"})
        await sock.expect_error("audio_error", contains="not valid base64")
        await sock.emit("audio_chunk", {"audio": base64.b64encode(b"\0\0\0").decode()})
        await sock.expect_error("audio_error", contains="even number of bytes")
        await sock.emit("audio_chunk", {"audio": silence, "format": "opus"})
        await sock.expect_error("audio_error", contains="'opus' is not supported")
        await sock.emit("audio_chunk", {"audio": silence, "sample_rate": 4000})
        await sock.expect_error("validation_error", contains="sample_rate")
        await sock.emit("audio_chunk", {"format": "pcm16"})
        await sock.expect_error("validation_error", contains="audio: Field required")
        await sock.emit("audio_chunk", {"audio": 12345})
        await sock.expect_error("validation_error", contains="audio: must be a base64 string")
        await sock.emit("audio_chunk", {"audio": silence}, {"audio": silence})
        await sock.expect_error("validation_error", contains="one payload object, got 2")
        huge = base64.b64encode(bytes(300 * 1024)).decode("ascii")  # over the 256 KiB limit
        await sock.emit("audio_chunk", {"audio": huge})
        await sock.expect_error("validation_error", contains="exceeds the limit of 262144 bytes")
        await sock.emit("control", {"action": "explode"})
        await sock.expect_error("validation_error", contains="control: action")
        await sock.emit("control", "pause")
        await sock.expect_error("validation_error", contains="must be an object")

        # the session survived all of it
        await sock.emit("audio_chunk", {"audio": silence})
        await sock.emit("control", {"action": "pause"})
        assert await sock.expect("control_ack") == {"action": "pause", "status": "executed"}
        await sock.emit("end_session")
        assert (await sock.expect("session_ended"))["reason"] == "client"
        assert len(sock.named("error")) == sock.errors_expected == 20
    finally:
        await sock.close()
    record, _ = await _stored(server, started["session_id"])
    assert record.status == "ended" and record.end_reason == "client"


async def test_a_message_over_the_transport_limit_closes_the_connection(server: Server) -> None:
    """Over the transport's cap (16 MiB; the app's own limit answers below it) the
    transport refuses the message; the session is stored as ended by the client."""
    sock = AgentSocket()
    await sock.connect(server.url, api_key=server.admin_key)
    await sock.expect("connected")
    await sock.emit("start_session", {"instructions": TERSE})
    started = await sock.expect("session_started")
    await sock.emit("audio_chunk", {"audio": "A" * (17 * 1024 * 1024)})
    await asyncio.wait_for(sock.disconnected.wait(), 30)
    await sock.close()
    for _ in range(50):  # the server ends the session as the connection drops
        record, _ = await _stored(server, started["session_id"])
        if record.status == "ended":
            break
        await asyncio.sleep(0.1)
    assert (record.status, record.end_reason) == ("ended", "client")


@pytest.mark.parametrize("key", [None, "sk_live_not_a_key"])
async def test_bad_credentials_get_an_error_then_a_disconnect(
    server: Server, key: str | None
) -> None:
    sock = AgentSocket()
    query = {} if key is None else {"api_key": key}
    await sock.connect(server.url, **query)
    try:
        error = await sock.expect("error", timeout=15)
        assert error["type"] == "authentication_error" and error["message"], error
        await asyncio.wait_for(sock.disconnected.wait(), 15)
        assert sock.named("connected") == []
    finally:
        await sock.close()


async def test_a_key_revoked_after_the_connect_is_refused_at_start_session(
    server: Server,
) -> None:
    async with _admin(server) as api:
        created = await api.post("/v1/api-keys", json={"name": "sio-revoked"})
        assert created.status_code == 201, created.text
        sock = AgentSocket()
        await sock.connect(server.url, api_key=created.json()["key"])
        try:
            await sock.expect("connected")
            revoked = await api.delete(f"/v1/api-keys/{created.json()['id']}")
            assert revoked.status_code == 200, revoked.text
            await sock.emit("start_session", {"instructions": TERSE})
            await sock.expect_error("authentication_error", contains="revoked")
            await asyncio.wait_for(sock.disconnected.wait(), 15)
            assert sock.named("session_started") == []
        finally:
            await sock.close()


async def test_publishable_key_and_agent_deletion(server: Server) -> None:
    async with _admin(server) as api:
        created = await api.post("/v1/agents", json={"name": "sio", "system_prompt": TERSE})
        assert created.status_code == 201, created.text
        agent_id = created.json()["id"]
        body = {"name": "sio-pk", "kind": "publishable", "agent_ids": [agent_id]}
        key = await api.post("/v1/api-keys", json=body)
        assert key.status_code == 201, key.text

        sock = AgentSocket()  # the key goes in Socket.IO's auth payload this time
        await sock.sio.connect(
            server.url,
            namespaces=[NS],
            transports=["websocket"],
            auth={"api_key": key.json()["key"]},
            wait_timeout=15,
        )
        try:
            await sock.expect("connected")
            await sock.emit("start_session", {})  # ad hoc: the default agent, not allowed
            await sock.expect_error("authorization_error", contains="agt_demo")
            await sock.emit("start_session", {"agent_id": agent_id, "voice": "en_US-joe-medium"})
            started = await sock.expect("session_started")
            assert started["agent_id"] == agent_id and "voice ignored" in started["notes"][0]

            deleted = await api.delete(f"/v1/agents/{agent_id}")
            assert deleted.status_code == 200 and deleted.json()["sessions_ended"] == 1
            ended = await sock.expect("session_ended", timeout=15)
            assert ended == {
                "session_id": started["session_id"],
                "status": "ended",
                "reason": "agent_deleted",
            }
            assert sock.sio.connected
            await sock.emit("start_session", {"agent_id": agent_id})
            await sock.expect_error("not_found_error", contains=agent_id)
        finally:
            await sock.close()
    record, _ = await _stored(server, started["session_id"])
    assert record.status == "ended" and record.end_reason == "agent_deleted"


# ---------------------------------------------------------------- a server with short timeouts


@pytest.fixture(scope="module")
def impatient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Drops peers that stop answering Engine.IO pings after 4 s (2 s + 2 s), and ends
    sessions whose client sends nothing for 4 s."""
    srv = start_server(
        tmp_path_factory.mktemp("sio-impatient") / "data",
        env={"PARLEY_LIMITS__CLIENT_TIMEOUT_S": "4"},
    )
    yield srv
    srv.stop()


async def test_a_quiet_client_loses_its_session_not_its_connection(
    impatient: ServerProcess,
) -> None:
    sock = AgentSocket()
    await sock.connect(impatient.url, api_key=impatient.admin_key)
    try:
        await sock.expect("connected")
        await sock.emit("start_session", {"instructions": TERSE})
        started = await sock.expect("session_started")
        await sock.expect_error(
            "session_error", contains="nothing received from the client for 4 s"
        )
        ended = await sock.expect("session_ended", timeout=10)
        assert ended["reason"] == "idle" and ended["session_id"] == started["session_id"]
        assert sock.sio.connected
        await sock.emit("start_session", {"instructions": TERSE})
        again = await sock.expect("session_started")
        await sock.emit("end_session")
        assert (await sock.expect("session_ended"))["session_id"] == again["session_id"]
    finally:
        await sock.close()
    record, _ = await _stored(impatient, started["session_id"])
    assert record.status == "ended" and record.end_reason == "idle"


async def test_a_peer_that_stops_answering_pings_is_dropped(impatient: ServerProcess) -> None:
    """Engine.IO spoken by hand: the client streams audio but never answers a ping."""
    url = impatient.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
    silence = base64.b64encode(bytes(1024)).decode("ascii")
    async with websockets.connect(f"{url}&api_key={impatient.admin_key}") as ws:
        handshake = json.loads(str(await ws.recv())[1:])
        assert handshake["pingInterval"] == 2000 and handshake["pingTimeout"] == 2000
        await ws.send(f"40{NS},")
        session_id = None
        await ws.send(f'42{NS},["start_session",{{"instructions":"{TERSE}"}}]')
        started_at = time.monotonic()
        with pytest.raises(websockets.ConnectionClosed):
            while time.monotonic() - started_at < 30:
                await ws.send(f'42{NS},["audio_chunk",{{"audio":"{silence}"}}]')
                try:
                    frame = str(await asyncio.wait_for(ws.recv(), 0.05))
                except TimeoutError:
                    continue
                if '"session_started"' in frame:
                    session_id = json.loads(frame.split(",", 1)[1])[1]["session_id"]
        waited = time.monotonic() - started_at
    assert session_id is not None
    assert 3.0 <= waited < 30
    record, _ = await _stored(impatient, session_id)
    assert record.status == "ended" and record.end_reason == "client"


async def test_server_shutdown_ends_live_sessions(impatient: ServerProcess) -> None:
    """Runs last in this module: it stops the server (SIGTERM), which drains: every live
    session, whatever its transport, ends with ``server_shutdown`` and stays resumable."""
    socks: dict[str, AgentSocket] = {}
    started: dict[str, str] = {}
    for transport in ("websocket", "polling"):
        sock = socks[transport] = AgentSocket()
        target = f"{impatient.url}?{urlencode({'api_key': impatient.admin_key})}"
        await sock.sio.connect(target, namespaces=[NS], transports=[transport], wait_timeout=15)
        await sock.expect("connected")
        await sock.emit("start_session", {})  # the default agent's greeting keeps it busy
        started[transport] = (await sock.expect("session_started"))["session_id"]

    async def microphone(sock: AgentSocket) -> None:  # keeps the sessions from going quiet
        with contextlib.suppress(socketio.exceptions.SocketIOError):
            while sock.sio.connected:
                await sock.stream(bytes(2 * 16 * FRAME_MS * 5))

    microphones = [asyncio.create_task(microphone(sock)) for sock in socks.values()]
    for sock in socks.values():
        await sock.expect("audio_chunk")
    await asyncio.to_thread(impatient.stop)
    for sock in socks.values():
        await asyncio.wait_for(sock.disconnected.wait(), 30)
    for task in microphones:
        task.cancel()
    for sock in socks.values():
        await sock.close()
    for transport in ("websocket", "polling"):
        record, _ = await _stored(impatient, started[transport])
        assert (record.status, record.end_reason) == ("ended", "server_shutdown"), transport
        assert record.resume_until is not None, transport
    logged = impatient.log_records()
    assert [r for r in logged if r["level"] in ("error", "critical")] == []
    assert any(r["msg"] == "Application shutdown complete." for r in logged)
