"""Python client for Parley: REST helpers and real-time conversations over the native protocol.

Used by ``parley call`` and by the tests::

    result = asyncio.run(call("http://127.0.0.1:8000", key, "agt_demo", [read_wav("q.wav")]))
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

import httpx
import numpy as np
import websockets

from parley.audio.pcm import VAD_FRAME_BYTES, silence
from parley.core.events import SAMPLE_RATE


class ParleyClient:
    """Synchronous REST client (agents and health)."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
        )

    def create_agent(self, **fields: Any) -> dict[str, Any]:
        """``POST /v1/agents/create``."""
        return self._json(self._http.post("/v1/agents/create", json=fields))

    def list_agents(self, limit: int = 20, offset: int = 0) -> dict[str, Any]:
        """``GET /v1/agents``."""
        return self._json(self._http.get("/v1/agents", params={"limit": limit, "offset": offset}))

    def get_agent(self, agent_id: str) -> dict[str, Any]:
        """``GET /v1/agents/{id}``."""
        return self._json(self._http.get(f"/v1/agents/{agent_id}"))

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body


def conversation_url(base_url: str, api_key: str, agent_id: str) -> str:
    """WebSocket URL of a native conversation."""
    ws_base = base_url.rstrip("/").replace("https://", "wss://").replace("http://", "ws://")
    return (
        f"{ws_base}/v1/voice/conversation?{urlencode({'api_key': api_key, 'agent_id': agent_id})}"
    )


class Conversation:
    """A raw native-protocol conversation: send audio/text/control, iterate server events."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._ws: Any = None

    async def __aenter__(self) -> Conversation:
        self._ws = await websockets.connect(self.url, max_size=None)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def send(self, message: dict[str, Any]) -> None:
        """Send one JSON message."""
        await self._ws.send(json.dumps(message))

    async def send_raw(self, frame: str | bytes) -> None:
        """Send a frame as is (for testing the server's error handling)."""
        await self._ws.send(frame)

    async def send_audio(self, pcm: bytes) -> None:
        """Send PCM16 16 kHz mono audio."""
        await self.send({"type": "audio", "audio": base64.b64encode(pcm).decode("ascii")})

    async def recv(self, timeout: float | None = None) -> dict[str, Any]:
        """The next server event."""
        raw = await asyncio.wait_for(self._ws.recv(), timeout)
        event: dict[str, Any] = json.loads(raw)
        return event

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Every server event until the socket closes."""
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self._ws:
                yield json.loads(raw)

    @property
    def close_code(self) -> int | None:
        """The close code once the socket is closed."""
        return None if self._ws is None else self._ws.close_code

    async def close(self) -> None:
        """Close the socket."""
        if self._ws is not None:
            await self._ws.close()


@dataclass
class AgentReply:
    """One agent turn as the client saw it."""

    turn_id: str
    text: str = ""
    audio: bytearray = field(default_factory=bytearray)
    interrupted: bool = False
    metrics: dict[str, float | None] = field(default_factory=dict)
    first_audio_at: float | None = None


@dataclass
class CallTurn:
    """A user utterance and the agent's reply to it."""

    user_text: str
    reply: AgentReply | None
    speech_end_at: float
    client_voice_to_voice_ms: float | None


@dataclass
class CallResult:
    """Everything a :func:`call` saw."""

    conversation_id: str
    greeting: AgentReply | None
    turns: list[CallTurn]
    events: list[dict[str, Any]]
    session_ended: str | None = None

    @property
    def agent_audio(self) -> bytes:
        """All agent audio in order, greeting included."""
        replies = [self.greeting] + [t.reply for t in self.turns]
        return b"".join(bytes(r.audio) for r in replies if r is not None)


def trailing_silence_ms(pcm: bytes, *, floor_db: float = -35.0) -> float:
    """Length of the quiet tail of an utterance (frames below ``floor_db`` of its peak frame)."""
    samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % VAD_FRAME_BYTES], dtype="<i2")
    frames = samples.astype(np.float64).reshape(-1, VAD_FRAME_BYTES // 2)
    if not len(frames):
        return 0.0
    rms = np.sqrt((frames**2).mean(axis=1)) + 1e-9
    loud = np.nonzero(20 * np.log10(rms / rms.max()) > floor_db)[0]
    quiet_frames = len(frames) - 1 - int(loud[-1])
    return quiet_frames * VAD_FRAME_BYTES / 2 / SAMPLE_RATE * 1000.0


class _Listener:
    """Collects server events and groups them into agent replies."""

    def __init__(self, conv: Conversation) -> None:
        self.conv = conv
        self.events: list[dict[str, Any]] = []
        self.replies: dict[str, AgentReply] = {}
        self.user_texts: dict[str, str] = {}
        self.ended: str | None = None
        self.changed = asyncio.Condition()

    async def run(self) -> None:
        async for event in self.conv.events():
            now = time.monotonic()
            event["_received_at"] = now
            self.events.append(event)
            kind, turn_id = event.get("type"), str(event.get("turn_id", ""))
            if kind == "audio":
                reply = self.replies.setdefault(turn_id, AgentReply(turn_id))
                reply.first_audio_at = reply.first_audio_at or now
                reply.audio += base64.b64decode(event["audio"])
            elif kind == "transcript" and event["role"] == "agent":
                self.replies.setdefault(turn_id, AgentReply(turn_id)).text = event["text"]
            elif kind == "transcript" and event["role"] == "user":
                self.user_texts[turn_id] = event["text"]
            elif kind == "metrics":
                self.replies.setdefault(turn_id, AgentReply(turn_id)).metrics = event["latency_ms"]
            elif kind == "interruption":
                self.replies.setdefault(turn_id, AgentReply(turn_id)).interrupted = True
            elif kind == "session_ended":
                self.ended = event["reason"]
            async with self.changed:
                self.changed.notify_all()
        async with self.changed:
            self.ended = self.ended or "closed"
            self.changed.notify_all()

    async def wait_for(self, predicate: Any, timeout: float) -> bool:
        async def wait() -> None:
            async with self.changed:
                await self.changed.wait_for(lambda: predicate() or self.ended is not None)

        try:
            await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            return False
        return bool(predicate())

    def done_turns(self) -> set[str]:
        return {e["turn_id"] for e in self.events if e.get("type") == "agent_turn_end"}


class _Microphone:
    """Streams audio in real time (or as fast as possible), silence when nothing is queued."""

    def __init__(self, conv: Conversation, *, realtime: bool) -> None:
        self.conv, self.realtime = conv, realtime
        self._queue: asyncio.Queue[tuple[bytes, asyncio.Future[float]]] = asyncio.Queue()

    def say(self, pcm: bytes) -> asyncio.Future[float]:
        """Queue an utterance; the future gives the time its last sample was sent."""
        done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((pcm, done))
        return done

    async def run(self) -> None:
        frame_s = VAD_FRAME_BYTES / 2 / SAMPLE_RATE
        quiet = silence(frame_s * 1000, SAMPLE_RATE)
        next_at = time.monotonic()
        while True:
            try:
                pcm, done = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                pcm, done = quiet, None
            for i in range(0, len(pcm), VAD_FRAME_BYTES):
                await self.conv.send_audio(pcm[i : i + VAD_FRAME_BYTES])
                next_at += frame_s
                if self.realtime or done is None:
                    await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                else:
                    next_at = time.monotonic()
            if done is not None and not done.done():
                done.set_result(time.monotonic())


async def call(
    base_url: str,
    api_key: str,
    agent_id: str,
    utterances: list[bytes],
    *,
    realtime: bool = True,
    reply_timeout: float = 60.0,
    greeting_timeout: float = 30.0,
) -> CallResult:
    """Talk to an agent like a person would: wait for its greeting, say each utterance
    (streaming silence in between, as a microphone does) and wait for each reply."""
    async with Conversation(conversation_url(base_url, api_key, agent_id)) as conv:
        first = await conv.recv(timeout=30)
        if first.get("type") != "connected":
            raise ConnectionError(f"{first.get('code')}: {first.get('message')}")
        listener = _Listener(conv)
        listening = asyncio.create_task(listener.run())
        mic = _Microphone(conv, realtime=realtime)
        streaming = asyncio.create_task(mic.run())
        try:
            greeting = None
            got_audio = await listener.wait_for(lambda: bool(listener.replies), 1.5)
            if got_audio:
                tid = next(iter(listener.replies))
                await listener.wait_for(lambda: tid in listener.done_turns(), greeting_timeout)
                greeting = listener.replies[tid]
            turns: list[CallTurn] = []
            for pcm in utterances:
                before = set(listener.user_texts)
                speech_end = await mic.say(pcm) - trailing_silence_ms(pcm) / 1000.0

                def new_turn(before: set[str] = before) -> str | None:
                    return next((t for t in listener.user_texts if t not in before), None)

                await listener.wait_for(lambda: new_turn() is not None, reply_timeout)
                turn_id = new_turn()
                if turn_id is None:
                    turns.append(CallTurn("", None, speech_end, None))
                    continue

                def answered(turn_id: str = turn_id) -> bool:
                    return turn_id in listener.done_turns()

                await listener.wait_for(answered, reply_timeout)
                reply = listener.replies.get(turn_id)
                v2v = None
                if reply is not None and reply.first_audio_at is not None:
                    v2v = round((reply.first_audio_at - speech_end) * 1000.0, 1)
                turns.append(CallTurn(listener.user_texts[turn_id], reply, speech_end, v2v))
            await conv.send({"type": "end"})
            await listener.wait_for(lambda: listener.ended is not None, 5.0)
        finally:
            streaming.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await streaming
            await conv.close()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(listening, 5.0)
        conversation_id = str(first.get("conversation_id"))
        return CallResult(conversation_id, greeting, turns, listener.events, listener.ended)
