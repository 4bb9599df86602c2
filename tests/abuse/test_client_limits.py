"""Floods, oversized messages and garbage over real sockets, on every voice protocol:
each gets a precise ``error`` first, the flooding session ends with a policy-violation
close, the log stays short, and the server keeps serving everyone else."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest
import socketio  # type: ignore[import-untyped]
import websockets
from websockets.asyncio.client import ClientConnection

from parley.audio.g711 import pcm16_to_mulaw
from parley.audio.wav import read_wav
from parley.client import call, conversation_url
from parley.testing.recordings import Recording
from parley.testing.server import ServerProcess
from tests.abuse.conftest import AUDIO_BURST_S, MAX_REFUSED

pytestmark = pytest.mark.integration

TEN_MB = 10 * 1024 * 1024
FRAME_LIMIT = 256 * 1024


def noise(seconds: float, rate: int) -> bytes:
    """Quiet noise (the VAD hears no speech in it)."""
    rng = np.random.default_rng(7)
    return (rng.normal(0, 30, round(seconds * rate))).astype("<i2").tobytes()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


async def read_until_closed(ws: ClientConnection, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Every JSON message until the server closes the socket."""
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        try:
            async for frame in ws:
                events.append(json.loads(frame))
        except websockets.ConnectionClosed:
            pass
    return events


async def flood(ws: ClientConnection, frames: list[str]) -> None:
    """Send ``frames`` as fast as the socket takes them (stops when it closes)."""
    try:
        for frame in frames:
            await ws.send(frame)
    except websockets.ConnectionClosed:
        pass


@pytest.fixture
async def key(server: ServerProcess) -> str:
    """A key of its own: a client closed for breaking the limits is refused for a while
    (the cooldown), and other tests must not share its fate."""
    admin = {"Authorization": f"Bearer {server.admin_key}"}
    async with httpx.AsyncClient() as http:
        created = await http.post(
            f"{server.url}/v1/api-keys", headers=admin, json={"name": "abuser"}
        )
    assert created.status_code == 201, created.text
    return str(created.json()["key"])


def realtime_url(server: ServerProcess) -> str:
    return server.url.replace("http", "ws", 1) + "/v1/realtime?model=agt_demo"


def native_url(server: ServerProcess, key: str) -> str:
    return conversation_url(server.url, key, "agt_demo")


async def healthy_and_idle(server: ServerProcess) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(100):
            body = (await http.get(f"{server.url}/healthz")).json()
            if body["status"] == "ok" and body["active_sessions"] == 0:
                return
            await asyncio.sleep(0.2)
    raise AssertionError(f"server not idle: {body}")


def warnings_from(server: ServerProcess, since: int, message: str) -> list[dict[str, Any]]:
    """Log records since the ``since``-th whose message starts with ``message``."""
    return [r for r in server.log_records()[since:] if r.get("msg", "").startswith(message)]


# ---------------------------------------------------------------- audio faster than real time


async def test_native_audio_flood_is_refused_then_the_session_ends_1008(
    server: ServerProcess,
    key: str,
) -> None:
    chunk = json.dumps({"type": "audio", "audio": b64(noise(0.5, 16000))})
    async with websockets.connect(native_url(server, key), max_size=None) as ws:
        assert json.loads(await ws.recv())["type"] == "connected"
        sender = asyncio.create_task(flood(ws, [chunk] * 240))  # 120 s of audio at once
        events = await read_until_closed(ws)
        await sender
        assert ws.close_code == 1008
    errors = [e for e in events if e["type"] == "error"]
    assert errors[0]["code"] == "audio_rate_exceeded"
    assert f"at most {AUDIO_BURST_S:g} s ahead" in errors[0]["message"]
    assert errors[-1]["code"] == "audio_rate_exceeded" and "session ends" in errors[-1]["message"]
    assert len(errors) == 2  # told once per overrun, then once when it ends
    assert events[-1] == {"type": "session_ended", "reason": "policy_violation"}
    await healthy_and_idle(server)


async def test_realtime_audio_flood_is_refused_then_closed_1008(
    server: ServerProcess, key: str
) -> None:
    url = server.url.replace("http", "ws", 1) + "/v1/realtime?model=agt_demo"
    append = json.dumps({"type": "input_audio_buffer.append", "audio": b64(noise(0.5, 24000))})
    headers = {"Authorization": f"Bearer {key}"}
    async with websockets.connect(url, additional_headers=headers, max_size=None) as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"
        sender = asyncio.create_task(flood(ws, [append] * 240))
        events = await read_until_closed(ws)
        await sender
        assert ws.close_code == 1008
    codes = [e["error"]["code"] for e in events if e["type"] == "error"]
    assert codes[0] == "audio_rate_exceeded", codes
    assert "session_ended" in codes  # the end of the session, in the protocol's words
    await healthy_and_idle(server)


async def test_twilio_media_flood_is_closed_1008(server: ServerProcess, key: str) -> None:
    url = server.url.replace("http", "ws", 1) + "/v1/twilio/media"
    stream, call_sid = "MZ" + uuid.uuid4().hex, "CA" + uuid.uuid4().hex
    start = {
        "event": "start",
        "sequenceNumber": "1",
        "streamSid": stream,
        "start": {
            "accountSid": "AC" + "0" * 32,
            "streamSid": stream,
            "callSid": call_sid,
            "tracks": ["inbound"],
            "customParameters": {"api_key": key, "agent_id": "agt_demo"},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        },
    }
    payload = b64(pcm16_to_mulaw(noise(0.5, 8000)))
    media = [
        json.dumps(
            {
                "event": "media",
                "streamSid": stream,
                "sequenceNumber": str(n + 2),
                "media": {
                    "track": "inbound",
                    "chunk": str(n),
                    "timestamp": "0",
                    "payload": payload,
                },
            }
        )
        for n in range(240)
    ]
    since = len(server.log_records())
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await ws.send(json.dumps(start))
        sender = asyncio.create_task(flood(ws, media))
        await read_until_closed(ws)
        await sender
        assert ws.close_code == 1008
    ended = [r for r in server.log_records()[since:] if r.get("msg") == "session ended"]
    assert [r["reason"] for r in ended] == ["policy_violation"]
    await healthy_and_idle(server)


async def test_socketio_audio_flood_ends_the_session_and_the_connection_stays(
    server: ServerProcess,
    key: str,
) -> None:
    sio = socketio.AsyncClient(reconnection=False)
    got: list[tuple[str, Any]] = []
    sio.on("*", lambda event, data: got.append((event, data)), namespace="/v1/audio/agent")
    await sio.connect(
        server.url, namespaces=["/v1/audio/agent"], auth={"api_key": key},
        transports=["websocket"],
    )  # fmt: skip
    try:
        await sio.emit("start_session", {"agent_id": "agt_demo"}, namespace="/v1/audio/agent")
        await until(lambda: any(e == "session_started" for e, _ in got))
        chunk = {"audio": b64(noise(0.5, 16000)), "format": "pcm16", "sample_rate": 16000}
        for _ in range(240):
            await sio.emit("audio_chunk", chunk, namespace="/v1/audio/agent")
        await until(lambda: any(e == "session_ended" for e, _ in got))
        codes = [d.get("type") for e, d in got if e == "error"]
        assert codes[0] == "audio_rate_exceeded", codes
        ended = next(d for e, d in got if e == "session_ended")
        assert ended["reason"] == "policy_violation"
        assert sio.connected  # the connection may start another session
    finally:
        await sio.disconnect()
    await healthy_and_idle(server)


async def until(ready: Callable[[], bool], timeout: float = 30.0) -> None:
    for _ in range(round(timeout / 0.05)):
        if ready():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def test_a_flood_does_not_take_turns_from_another_caller(
    server: ServerProcess, key: str, speech: dict[str, Recording]
) -> None:
    """The probe's second finding: a caller beside a 10-minute burst got 0 of 3 turns."""
    clips = [read_wav(speech[name].path) for name in ("cards-001", "cards-003")]
    chunk = json.dumps({"type": "audio", "audio": b64(noise(1.0, 16000))})

    async def flooder() -> int | None:
        async with websockets.connect(native_url(server, key), max_size=None) as ws:
            await ws.recv()
            await flood(ws, [chunk] * 600)  # 10 minutes of audio at once
            await read_until_closed(ws)
            return ws.close_code

    caller = asyncio.create_task(call(server.url, server.admin_key, "agt_demo", clips))
    await asyncio.sleep(1.0)
    # its own thread and event loop: the flood must not hold up this process's caller
    assert await asyncio.to_thread(asyncio.run, flooder()) == 1008
    result = await caller
    answered = [t for t in result.turns if t.reply is not None and t.reply.text]
    assert len(answered) == len(clips), result.turns


# ---------------------------------------------------------------- message size and rate


async def test_a_10_mb_message_gets_an_error_naming_the_limit_and_the_session_goes_on(
    server: ServerProcess,
    key: str,
) -> None:
    async with websockets.connect(native_url(server, key), max_size=None) as ws:
        assert json.loads(await ws.recv())["type"] == "connected"
        await ws.send(json.dumps({"type": "audio", "audio": "A" * TEN_MB}))
        await ws.send(json.dumps({"type": "ping", "ts": 1}))
        events = []
        async with asyncio.timeout(30):
            while not events or events[-1]["type"] != "pong":
                events.append(json.loads(await ws.recv()))
    errors = [e for e in events if e["type"] == "error"]
    assert len(errors) == 1 and errors[0]["code"] == "validation_error"
    assert f"exceeds the limit of {FRAME_LIMIT} bytes" in errors[0]["message"]


async def test_a_10_mb_realtime_event_gets_an_error_naming_the_limit(
    server: ServerProcess,
) -> None:
    url = server.url.replace("http", "ws", 1) + "/v1/realtime?model=agt_demo"
    headers = {"Authorization": f"Bearer {server.admin_key}"}
    async with websockets.connect(url, additional_headers=headers, max_size=None) as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"
        await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": "A" * TEN_MB}))
        async with asyncio.timeout(30):
            while (event := json.loads(await ws.recv()))["type"] != "error":
                pass
    assert event["error"]["code"] == "event_too_large"
    assert f"limit of {FRAME_LIMIT} bytes" in event["error"]["message"]


async def test_a_10_mb_socketio_event_gets_an_error_naming_the_limit(
    server: ServerProcess,
) -> None:
    sio = socketio.AsyncClient(reconnection=False)
    errors: list[dict[str, Any]] = []
    sio.on("error", errors.append, namespace="/v1/audio/agent")
    await sio.connect(
        server.url, namespaces=["/v1/audio/agent"], auth={"api_key": server.admin_key},
        transports=["websocket"],
    )  # fmt: skip
    try:
        await sio.emit("audio_chunk", {"audio": "A" * TEN_MB}, namespace="/v1/audio/agent")
        await until(lambda: bool(errors))
        assert f"exceeds the limit of {FRAME_LIMIT} bytes" in errors[0]["message"]
        assert sio.connected
    finally:
        await sio.disconnect()


async def test_messages_over_the_rate_get_one_error_then_a_1008_close(
    server: ServerProcess,
    key: str,
) -> None:
    ping = json.dumps({"type": "ping", "ts": 0})
    async with websockets.connect(native_url(server, key), max_size=None) as ws:
        assert json.loads(await ws.recv())["type"] == "connected"
        sender = asyncio.create_task(flood(ws, [ping] * 5000))
        events = await read_until_closed(ws)
        await sender
        assert ws.close_code == 1008
    errors = [e for e in events if e["type"] == "error"]
    assert {e["code"] for e in errors} == {"rate_limit_error"}
    assert 2 <= len(errors) <= MAX_REFUSED + 1  # told again only after a message got through
    assert "100 messages per second" in errors[0]["message"]
    assert "connection is closed" in errors[-1]["message"]
    assert events[-1] == {"type": "session_ended", "reason": "policy_violation"}


# ---------------------------------------------------------------- garbage


async def test_native_garbage_gets_errors_a_few_log_lines_and_a_close(
    server: ServerProcess,
    key: str,
) -> None:
    since = len(server.log_records())
    async with websockets.connect(native_url(server, key), max_size=None) as ws:
        assert json.loads(await ws.recv())["type"] == "connected"
        sender = asyncio.create_task(flood(ws, ["{not json"] * 200))
        events = await read_until_closed(ws)
        await sender
        assert ws.close_code == 1008
    errors = [e for e in events if e["type"] == "error"]
    assert len(errors) == MAX_REFUSED + 2  # each refused frame, then why it closes
    assert errors[0]["code"] == "validation_error" and "malformed JSON" in errors[0]["message"]
    lines = warnings_from(server, since, "refused a client message")
    assert 1 <= len(lines) <= 3 and lines[0]["peer"].startswith("127.0.0.1:")
    assert not any("exc" in r for r in server.log_records()[since:])


async def test_socketio_garbage_packets_log_one_line_each_way_and_no_traceback(
    server: ServerProcess,
) -> None:
    since = len(server.log_records())
    url = server.url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
    async with websockets.connect(url) as ws:
        await ws.recv()  # engine.io open
        await ws.send("40/v1/audio/agent," + json.dumps({"api_key": server.admin_key}))
        await ws.recv()  # namespace connected
        await flood(ws, ["42/v1/audio/agent,[[[[["] * 200)
        received = [frame async for frame in _until_closed(ws)]
    assert sum('"error"' in str(f) for f in received) >= 1
    records = server.log_records()[since:]
    assert not any("exc" in r for r in records), [r for r in records if "exc" in r][:1]
    assert 1 <= len(warnings_from(server, since, "refused a client message")) <= 3
    # garbage before the namespace connect closes the connection at once
    since = len(server.log_records())
    async with websockets.connect(url) as ws:
        await ws.recv()
        await ws.send("42/v1/audio/agent,[[[[[")
        received = [frame async for frame in _until_closed(ws)]
    lines = warnings_from(server, since, "closed a Socket.IO connection: malformed packet")
    assert len(lines) == 1 and "exc" not in lines[0]


async def _until_closed(ws: ClientConnection) -> Any:
    async with asyncio.timeout(30):
        try:
            async for frame in ws:
                yield frame
        except websockets.ConnectionClosed:
            return


async def test_a_client_closed_for_the_limits_is_refused_for_a_while_others_are_not(
    server: ServerProcess, key: str
) -> None:
    chunk = json.dumps({"type": "audio", "audio": b64(noise(1.0, 16000))})
    async with websockets.connect(native_url(server, key), max_size=None) as ws:
        await ws.recv()
        await flood(ws, [chunk] * 60)
        await read_until_closed(ws)
        assert ws.close_code == 1008
    # the same key from the same host: refused before the upgrade, nothing is read
    bearer = {"Authorization": f"Bearer {key}"}
    for url, headers in ((native_url(server, key), {}), (realtime_url(server), bearer)):
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(url, additional_headers=headers):
                pass
        response = refused.value.response
        assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
        error = json.loads(response.body)["error"]
        assert error["code"] == "rate_limit_error" and "policy_violation" in error["message"]
    url = conversation_url(server.url, server.admin_key, "agt_demo")  # another key
    async with websockets.connect(url) as ws:
        assert json.loads(await ws.recv())["type"] == "connected"
