"""The OpenAI-Realtime-compatible endpoint with the official ``openai`` client: real
recordings streamed to the real server and models. Every server event is validated
against the openai package's own event types (GA, or beta with ``OpenAI-Beta``)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import numpy as np
import pytest
import websockets
from openai import AsyncOpenAI

from parley.audio.g711 import pcm16_to_mulaw
from parley.audio.resample import resample_pcm16
from parley.audio.wav import read_wav
from parley.testing.recordings import Recording
from tests.integration.conftest import Server
from tests.unit.test_realtime_codec import assert_valid_server_event

pytestmark = pytest.mark.integration
CHUNK_MS = 100
PCM_CHUNK = 24_000 * 2 * CHUNK_MS // 1000  # 100 ms of 24 kHz PCM16
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def _client(server: Server, key: str | None = None) -> AsyncOpenAI:
    return AsyncOpenAI(
        api_key=key or server.admin_key,
        base_url=f"{server.url}/v1",
        websocket_base_url=server.url.replace("http", "ws", 1) + "/v1",
    )


async def _stored_agent_turn(
    server: Server, conversation_id: str, ready: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The first stored agent turn of the session for which ``ready`` holds (waits up
    to 60 s: a loaded machine may take that long to finish the turn); an empty dict if
    none does."""
    headers = {"Authorization": f"Bearer {server.admin_key}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers) as http:
        for _ in range(600):
            detail = (await http.get(f"/v1/sessions/{conversation_id}")).json()
            turns = [t for t in detail.get("transcript", []) if t["role"] == "agent"]
            found = next((t for t in turns if ready(t)), None)
            if found is not None:
                return found
            await asyncio.sleep(0.1)
    return {}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class Events:
    """Every server event of a connection, validated as it arrives."""

    def __init__(self, recv_bytes: Callable[[], Any], *, beta: bool = False) -> None:
        self.beta = beta
        self.events: list[dict[str, Any]] = []
        self.invalid: list[str] = []
        self.closed: BaseException | None = None
        self._recv = recv_bytes
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            try:
                raw = await self._recv()
            except Exception as exc:  # the connection closed
                self.closed = exc
                return
            event = json.loads(raw)
            try:
                assert_valid_server_event(event, beta=self.beta)
            except AssertionError as exc:
                self.invalid.append(f"{event.get('type')}: {exc}")
            event["_at"] = time.monotonic()
            self.events.append(event)

    def stop(self) -> None:
        self._task.cancel()

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    async def wait(
        self,
        predicate: Callable[[dict[str, Any]], bool],
        *,
        timeout: float = 120.0,
        idle: Callable[[], Any] | None = None,
    ) -> dict[str, Any]:
        """The first event (old or new) that matches; ``idle`` runs while waiting (a live
        microphone keeps sending silence)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = next((e for e in self.events if predicate(e)), None)
            if found is not None:
                return found
            if self.closed is not None:
                break
            if idle is not None:
                await idle()
            else:
                await asyncio.sleep(0.05)
        last = [e["type"] for e in self.events[-10:]]
        raise AssertionError(f"timed out; closed={self.closed!r}; last events: {last}")


def _audio(events: list[dict[str, Any]], response_id: str, kind: str) -> bytes:
    return b"".join(
        base64.b64decode(e["delta"])
        for e in events
        if e["type"] == kind and e["response_id"] == response_id
    )


def _rms(pcm: bytes) -> float:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(samples**2))) if len(samples) else 0.0


async def test_server_vad_conversation_with_barge_in(
    server: Server, speech: dict[str, Recording]
) -> None:
    question = read_wav(speech["librivox-0870"].path, 24_000)
    interruption = read_wav(speech["cards-005"].path, 24_000)
    async with _client(server).realtime.connect(model="gpt-realtime") as conn:
        ev = Events(conn.recv_bytes)

        async def stream(pcm: bytes) -> None:
            start = time.monotonic()
            for n, i in enumerate(range(0, len(pcm), PCM_CHUNK)):
                await conn.input_audio_buffer.append(audio=_b64(pcm[i : i + PCM_CHUNK]))
                await asyncio.sleep(max(0.0, start + (n + 1) * CHUNK_MS / 1000 - time.monotonic()))

        async def silence() -> None:
            await stream(bytes(PCM_CHUNK * 2))

        created = await ev.wait(lambda e: e["type"] == "session.created")
        # the demo agent ends turns with the end-of-turn model: Realtime's semantic_vad
        assert created["session"]["audio"]["input"]["turn_detection"]["type"] == "semantic_vad"
        await conn.session.update(
            session={
                "type": "realtime",
                "instructions": "Always answer with a long story of at least five sentences.",
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcm", "rate": 24000},
                        "turn_detection": {"type": "server_vad", "silence_duration_ms": 500},
                    },
                    "output": {"voice": "alloy"},
                },
            }
        )
        updated = await ev.wait(lambda e: e["type"] == "session.updated")
        assert updated["session"]["audio"]["output"]["voice"] == "alloy"

        await stream(question)
        heard = await ev.wait(
            lambda e: e["type"] == "conversation.item.input_audio_transcription.completed",
            idle=silence,
        )
        item_id = heard["item_id"]
        assert "dashwood" in heard["transcript"].lower()
        for kind in ("speech_started", "speech_stopped", "committed"):
            assert ev.of(f"input_audio_buffer.{kind}")[0]["item_id"] == item_id
        first = (await ev.wait(lambda e: e["type"] == "response.created", idle=silence))["response"]
        await ev.wait(
            lambda e: (
                e["type"] == "response.output_audio.delta" and e["response_id"] == first["id"]
            ),
            idle=silence,
        )

        await stream(interruption)  # the user talks over the agent
        cut = await ev.wait(
            lambda e: e["type"] == "response.done" and e["response"]["id"] == first["id"],
            idle=silence,
        )
        assert cut["response"]["status"] == "cancelled"
        assert cut["response"]["status_details"]["reason"] == "turn_detected"
        second = await ev.wait(
            lambda e: (
                e["type"] == "conversation.item.input_audio_transcription.completed"
                and e["item_id"] != item_id
            ),
            idle=silence,
        )
        assert "spades" in second["transcript"].lower()
        answer = await ev.wait(
            lambda e: e["type"] == "response.done" and e["response"]["id"] != first["id"],
            idle=silence,
        )
        ev.stop()

    assert ev.invalid == []
    late = [
        e
        for e in ev.events
        if e["type"] == "response.output_audio.delta"
        and e["response_id"] == first["id"]
        and e["_at"] > cut["_at"]
    ]
    assert late == [], "no audio of the cancelled response after its response.done"
    reply = answer["response"]
    assert reply["status"] == "completed"
    (message,) = reply["output"]
    transcript = message["content"][0]["transcript"]
    assert message["role"] == "assistant" and transcript.strip()
    deltas = [
        e["delta"]
        for e in ev.events
        if e["type"] == "response.output_audio_transcript.delta" and e["item_id"] == message["id"]
    ]
    assert "".join(deltas) == transcript
    audio = _audio(ev.events, reply["id"], "response.output_audio.delta")
    assert len(audio) > 24_000 * 2 // 2, "at least half a second of 24 kHz speech"
    assert _rms(audio) > 300, "the agent audio is not silence"

    session_id = ev.of("conversation.created")[0]["conversation"]["id"]
    async with httpx.AsyncClient(base_url=server.url) as http:
        for _ in range(50):
            stored = (
                await http.get(
                    f"/v1/sessions/{session_id}",
                    headers={"Authorization": f"Bearer {server.admin_key}"},
                )
            ).json()
            if stored["status"] == "ended":
                break
            await asyncio.sleep(0.1)
    assert stored["metadata"]["protocol"] == "openai_realtime"
    assert stored["agent_id"] == "agt_demo"  # "gpt-realtime" is not an agent: the default
    users = [t["text"] for t in stored["transcript"] if t["role"] == "user"]
    assert users == [heard["transcript"], second["transcript"]]


async def test_manual_commit_g711_and_a_function_call(
    server: Server, speech: dict[str, Recording]
) -> None:
    clip = speech["librivox-0930"]
    mulaw = pcm16_to_mulaw(resample_pcm16(read_wav(clip.path), 16_000, 8_000))
    async with _client(server).realtime.connect(model="agt_demo") as conn:
        ev = Events(conn.recv_bytes)
        await conn.session.update(
            session={
                "type": "realtime",
                "instructions": "You are a weather assistant.",
                "audio": {
                    "input": {"format": {"type": "audio/pcmu"}, "turn_detection": None},
                    "output": {"format": {"type": "audio/pcm", "rate": 24000}},
                },
                "tools": [WEATHER_TOOL],
                "tool_choice": "auto",
            }
        )
        await ev.wait(lambda e: e["type"] == "session.updated")
        for i in range(0, len(mulaw), 800):  # 100 ms of 8 kHz μ-law per append
            await conn.input_audio_buffer.append(audio=_b64(mulaw[i : i + 800]))
        await conn.input_audio_buffer.commit()
        await conn.response.create(
            response={"tool_choice": {"type": "function", "name": "get_weather"}}
        )
        committed = await ev.wait(lambda e: e["type"] == "input_audio_buffer.committed")
        assert ev.of("input_audio_buffer.speech_stopped") == []  # no server VAD
        heard = await ev.wait(
            lambda e: e["type"] == "conversation.item.input_audio_transcription.completed"
        )
        assert heard["item_id"] == committed["item_id"] and heard["transcript"].strip()

        called = await ev.wait(lambda e: e["type"] == "response.done")
        assert called["response"]["status"] == "completed"
        call = next(i for i in called["response"]["output"] if i["type"] == "function_call")
        assert call["name"] == "get_weather"
        assert isinstance(json.loads(call["arguments"]).get("city"), str)
        args_done = ev.of("response.function_call_arguments.done")[0]
        assert args_done["call_id"] == call["call_id"]
        assert args_done["arguments"] == call["arguments"]

        await conn.conversation.item.create(
            item={
                "type": "function_call_output",
                "call_id": call["call_id"],
                "output": json.dumps({"forecast": "sunny", "celsius": 21}),
            }
        )
        # tool_choice "none": a small model tends to imitate the call it just saw
        await conn.response.create(response={"tool_choice": "none"})
        answer = await ev.wait(
            lambda e: (
                e["type"] == "response.done" and e["response"]["id"] != called["response"]["id"]
            )
        )
        reply = answer["response"]
        assert reply["status"] == "completed"
        messages = [i for i in reply["output"] if i["type"] == "message"]
        assert messages, [
            (e["type"], e.get("error") or e.get("transcript") or e.get("delta"))
            for e in ev.events
            if e["_at"] > called["_at"]
        ]
        message = messages[0]
        assert message["content"][0]["transcript"].strip()
        # the history keeps the call with its result
        conversation_id = ev.of("conversation.created")[0]["conversation"]["id"]
        caller = await _stored_agent_turn(
            server,
            conversation_id,
            lambda t: bool(t["tool_calls"] and t["tool_calls"][0]["output"]),
        )
        assert caller["tool_calls"] == [
            {
                "call_id": call["call_id"],
                "name": "get_weather",
                "arguments": json.loads(call["arguments"]),
                "output": json.dumps({"forecast": "sunny", "celsius": 21}),
            }
        ], caller
        audio = _audio(ev.events, reply["id"], "response.output_audio.delta")
        assert _rms(audio) > 300

        # The answer has played out (by the server's clock) and is stored whole; the
        # client, which buffered more, then says only 400 ms of it were heard.
        spoken = message["content"][0]["transcript"].strip()
        whole = await _stored_agent_turn(server, conversation_id, lambda t: t["text"] == spoken)
        assert whole["text"] == spoken and not whole["interrupted"], whole
        await conn.conversation.item.truncate(
            item_id=message["id"], content_index=0, audio_end_ms=400
        )
        truncated = await ev.wait(lambda e: e["type"] == "conversation.item.truncated")
        assert truncated["item_id"] == message["id"] and truncated["audio_end_ms"] == 400
        cut = await _stored_agent_turn(
            server,
            conversation_id,
            lambda t: t["turn_id"] == whole["turn_id"] and t["text"] != spoken,
        )
        assert cut["turn_id"] == whole["turn_id"] and cut["interrupted"], cut
        assert spoken.startswith(cut["text"]) and len(cut["text"]) < len(spoken)
        await conn.conversation.item.retrieve(item_id=call["id"])
        got = await ev.wait(lambda e: e["type"] == "conversation.item.retrieved")
        assert got["item"]["type"] == "function_call" and got["item"]["call_id"] == call["call_id"]

        # text in, text out
        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Say hello to me."}],
            }
        )
        await conn.response.create(response={"output_modalities": ["text"]})
        texted = await ev.wait(
            lambda e: (
                e["type"] == "response.done" and e["response"]["output_modalities"] == ["text"]
            )
        )
        ev.stop()

    assert ev.invalid == []
    text_id = texted["response"]["id"]
    assert texted["response"]["status"] == "completed"
    assert _audio(ev.events, text_id, "response.output_audio.delta") == b""
    text = "".join(
        e["delta"]
        for e in ev.events
        if e["type"] == "response.output_text.delta" and e["response_id"] == text_id
    )
    assert text.strip()
    assert texted["response"]["output"][0]["content"] == [{"type": "output_text", "text": text}]


async def test_beta_protocol(server: Server, speech: dict[str, Recording]) -> None:
    clip = read_wav(speech["cards-005"].path, 24_000)
    async with _client(server).beta.realtime.connect(model="gpt-4o-realtime-preview") as conn:
        ev = Events(conn.recv_bytes, beta=True)
        created = await ev.wait(lambda e: e["type"] == "session.created")
        assert created["session"]["input_audio_format"] == "pcm16"
        assert created["session"]["model"] == "gpt-4o-realtime-preview"
        await conn.session.update(
            session={
                "modalities": ["text", "audio"],
                "voice": "verse",
                "input_audio_format": "pcm16",
                "output_audio_format": "g711_alaw",
                "turn_detection": None,
            }
        )
        updated = await ev.wait(lambda e: e["type"] == "session.updated")
        assert updated["session"]["turn_detection"] is None
        assert updated["session"]["output_audio_format"] == "g711_alaw"
        for i in range(0, len(clip), PCM_CHUNK):
            await conn.input_audio_buffer.append(audio=_b64(clip[i : i + PCM_CHUNK]))
        await conn.input_audio_buffer.commit()
        await conn.response.create()
        done = await ev.wait(lambda e: e["type"] == "response.done")
        ev.stop()

    assert ev.invalid == []
    types = {e["type"] for e in ev.events}
    assert {
        "conversation.item.created",
        "response.audio.delta",
        "response.audio_transcript.delta",
    } <= types
    assert {"response.audio.done", "response.audio_transcript.done"} <= types
    assert not types & {"conversation.item.added", "conversation.item.done"}
    assert (
        "spades"
        in ev.of("conversation.item.input_audio_transcription.completed")[0]["transcript"].lower()
    )
    response = done["response"]
    assert response["status"] == "completed" and response["output_audio_format"] == "g711_alaw"
    alaw = _audio(ev.events, response["id"], "response.audio.delta")
    assert len(alaw) > 8_000 // 2, "at least half a second of 8 kHz A-law"
    assert response["output"][0]["content"][0]["type"] == "audio"


async def test_errors_keep_the_session_going(server: Server) -> None:
    async with _client(server).realtime.connect(model="gpt-realtime") as conn:
        ev = Events(conn.recv_bytes)
        await ev.wait(lambda e: e["type"] == "session.created")
        await conn.session.update(
            session={"type": "realtime", "audio": {"input": {"turn_detection": None}}}
        )
        await ev.wait(lambda e: e["type"] == "session.updated")
        bad: list[tuple[str, str, str | None]] = [
            ('{"type": "session.update", ', "invalid_json", None),
            ('{"type": "input_audio_buffer.flush", "event_id": "e2"}', "invalid_value", "type"),
            (
                '{"type": "input_audio_buffer.append", "audio": "%%%", "event_id": "e3"}',
                "invalid_value",
                "audio",
            ),
            (
                json.dumps(
                    {
                        "type": "conversation.item.truncate",
                        "event_id": "e4",
                        "item_id": "item_unknown",
                        "content_index": 0,
                        "audio_end_ms": 100,
                    }
                ),
                "item_truncate_invalid_item_id",
                "item_id",
            ),
            (
                '{"type": "input_audio_buffer.commit", "event_id": "e5"}',
                "input_audio_buffer_commit_empty",
                None,
            ),
            ('{"type": "response.cancel", "event_id": "e6"}', "response_cancel_not_active", None),
            (
                json.dumps({"type": "session.update", "session": {"voice": "alloy"}}),
                "unknown_parameter",
                "session.voice",
            ),
        ]
        for frame, code, param in bad:
            count = len(ev.of("error"))
            await conn.send_raw(frame)
            await ev.wait(lambda _e, n=count: len(ev.of("error")) > n)  # type: ignore[misc]
            error = ev.of("error")[count]["error"]
            assert error["type"] == "invalid_request_error", error
            assert (error["code"], error["param"]) == (code, param), error
            sent_id = json.loads(frame).get("event_id") if frame.endswith("}") else None
            assert error["event_id"] == sent_id
        # still working
        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Hi"}],
            }
        )
        added = await ev.wait(lambda e: e["type"] == "conversation.item.added")
        await conn.conversation.item.delete(item_id=added["item"]["id"])
        deleted = await ev.wait(lambda e: e["type"] == "conversation.item.deleted")
        assert deleted["item_id"] == added["item"]["id"]
        ev.stop()
    assert ev.invalid == []


async def test_bad_key_and_unknown_agent_are_refused(server: Server) -> None:
    for key, model, code, close in [
        ("sk_live_not_a_key", "gpt-realtime", "invalid_api_key", 4001),
        (server.admin_key, "agt_does_not_exist", "model_not_found", 4004),
    ]:
        async with _client(server, key).realtime.connect(model=model) as conn:
            event = json.loads(await conn.recv_bytes())
            assert_valid_server_event(event)
            assert event["type"] == "error" and event["error"]["code"] == code
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await conn.recv_bytes()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == close


async def test_browser_subprotocols(server: Server) -> None:
    """A browser cannot set headers: the key comes as a subprotocol, and the server picks
    ``realtime``."""
    url = server.url.replace("http", "ws", 1) + "/v1/realtime?model=gpt-realtime"
    protocols = ["realtime", f"openai-insecure-api-key.{server.admin_key}"]
    async with websockets.connect(url, subprotocols=protocols) as ws:  # type: ignore[arg-type]
        assert ws.subprotocol == "realtime"
        first = json.loads(await ws.recv())
        assert_valid_server_event(first)
        assert first["type"] == "session.created"
    beta = [*protocols, "openai-beta.realtime-v1"]
    async with websockets.connect(url, subprotocols=beta) as ws:  # type: ignore[arg-type]
        first = json.loads(await ws.recv())
        assert_valid_server_event(first, beta=True)
        assert first["session"]["input_audio_format"] == "pcm16"


async def test_session_token_connects_once(server: Server) -> None:
    """A session created over REST: its single-use token is the bearer, and the session
    (with its agent) is the one the conversation runs in."""
    async with httpx.AsyncClient(base_url=server.url) as http:
        created = await http.post(
            "/v1/agents/agt_demo/sessions",
            json={"metadata": {"caller": "realtime-test"}},
            headers={"Authorization": f"Bearer {server.admin_key}"},
        )
    assert created.status_code == 201, created.text
    session = created.json()
    token = parse_qs(urlsplit(session["websocket_url"]).query)["token"][0]
    async with _client(server, token).realtime.connect(model="gpt-realtime") as conn:
        first = json.loads(await conn.recv_bytes())
        assert_valid_server_event(first)
        assert first["type"] == "session.created"
        second = json.loads(await conn.recv_bytes())
        assert second["conversation"]["id"] == session["session_id"]
    async with _client(server, token).realtime.connect(model="gpt-realtime") as conn:
        refused = json.loads(await conn.recv_bytes())
        assert refused["error"]["code"] == "invalid_api_key"
        assert "already used" in refused["error"]["message"]
