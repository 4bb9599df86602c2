"""Python client for Parley: the REST API (sync and async) and real-time conversations
over the native protocol.

Used by the ``parley`` command and by the tests::

    with ParleyClient("http://127.0.0.1:8000", key) as client:
        session = client.create_session("agt_demo")
    async with Conversation(session["websocket_url"]) as conv: ...

    result = asyncio.run(call("http://127.0.0.1:8000", key, "agt_demo", [read_wav("q.wav")]))
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, TypedDict, cast
from urllib.parse import quote, urlencode

import httpx
import websockets

from parley.audio.levels import speech_bounds_ms
from parley.audio.pcm import SAMPLE_RATE, VAD_FRAME_BYTES, silence
from parley.errors import ParleyError


class ApiError(ParleyError):
    """An error response of the REST API: its HTTP ``status`` and the shared error body."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        param: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, param=param)
        self.status, self.code, self.http_status = status, code, status
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"

    @classmethod
    def of(cls, response: httpx.Response) -> ApiError:
        """From an error response (bodies that are not Parley's are kept as the message)."""
        try:
            error = response.json()["error"]
            code, message, param = str(error["code"]), str(error["message"]), error.get("param")
        except (ValueError, KeyError, TypeError):
            code, message, param = "internal_error", response.text[:500], None
        retry = response.headers.get("retry-after")
        return cls(
            response.status_code,
            code,
            message,
            param=param,
            retry_after=float(retry) if retry and retry.isdigit() else None,
        )


class Agent(TypedDict):
    """An agent (``GET /v1/agents/{id}``)."""

    id: str
    name: str
    system_prompt: str
    voice_id: str
    first_message: str | None
    language: str
    tools: list[dict[str, Any]]
    max_turns: int
    content_policy_id: str | None
    knowledge_base_ids: list[str]
    web_search: bool
    vad_threshold: float
    end_of_turn_silence_ms: int
    interrupt_threshold: int
    idle_timeout_ms: int
    idle_prompts: int
    record_audio: bool
    provider_overrides: dict[str, Any]
    metadata: dict[str, Any]
    status: Literal["active", "paused", "deleted"]
    settings: dict[str, Any]
    created_at: str
    updated_at: str


class AgentPage(TypedDict):
    """A page of agents."""

    data: list[Agent]
    total: int
    limit: int
    offset: int
    has_more: bool


class AgentDeleted(TypedDict):
    """The answer to ``DELETE /v1/agents/{id}``."""

    id: str
    status: Literal["deleted"]
    deleted: bool
    sessions_ended: int


class Session(TypedDict):
    """A session; ``websocket_url`` only in the answer that created it."""

    session_id: str
    agent_id: str
    status: Literal["active", "ended", "expired"]
    websocket_url: str | None
    created_at: str
    expires_at: str | None
    connected_at: str | None
    ended_at: str | None
    end_reason: str | None
    initial_message: str | None
    metadata: dict[str, Any]


class ToolCallMade(TypedDict):
    """A function an agent turn called, with the client's result (None until it came)."""

    call_id: str
    name: str
    arguments: dict[str, Any]
    output: Any


class Turn(TypedDict):
    """A finished turn and its latency metrics (ms)."""

    turn_id: str
    role: Literal["user", "agent"]
    text: str
    interrupted: bool
    started_at: str
    ended_at: str
    latency_ms: dict[str, float | None]
    tool_calls: list[ToolCallMade]


class SessionDetail(Session):
    """A session with its transcript."""

    transcript: list[Turn]


class SessionPage(TypedDict):
    """A page of sessions."""

    data: list[Session]
    total: int
    limit: int
    offset: int
    has_more: bool


class Voice(TypedDict):
    """An installed voice."""

    id: str
    name: str
    language: str
    sample_rate: int


class RateLimit(TypedDict):
    """A key's token bucket."""

    requests_per_minute: float
    burst: int


class ApiKey(TypedDict):
    """An API key as listed (never the key itself)."""

    id: str
    name: str
    kind: Literal["secret", "publishable"]
    prefix: str
    admin: bool
    agent_ids: list[str] | None
    rate_limit: RateLimit | None
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


class ApiKeyCreated(ApiKey):
    """A new key with its plaintext ``key``, shown only once."""

    key: str


@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    path: str
    params: dict[str, Any] | None = None
    body: dict[str, Any] | None = None


def _drop_none(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


class _Requests:
    """The requests of the REST API, shared by the sync and async clients."""

    @staticmethod
    def create_agent(fields: dict[str, Any]) -> _Request:
        return _Request("POST", "/v1/agents", body=fields)

    @staticmethod
    def list_agents(limit: int, offset: int) -> _Request:
        return _Request("GET", "/v1/agents", {"limit": limit, "offset": offset})

    @staticmethod
    def agent(method: str, agent_id: str, body: dict[str, Any] | None = None) -> _Request:
        return _Request(method, f"/v1/agents/{quote(agent_id, safe='')}", body=body)

    @staticmethod
    def create_session(
        agent_id: str,
        metadata: dict[str, Any] | None,
        initial_message: str | None,
        expires_in: int | None,
    ) -> _Request:
        body = _drop_none(
            {"metadata": metadata, "initial_message": initial_message, "expires_in": expires_in}
        )
        return _Request("POST", f"/v1/agents/{quote(agent_id, safe='')}/sessions", body=body)

    @staticmethod
    def list_sessions(agent_id: str, limit: int, offset: int, status: str | None) -> _Request:
        params = _drop_none({"limit": limit, "offset": offset, "status": status})
        return _Request("GET", f"/v1/agents/{quote(agent_id, safe='')}/sessions", params)

    @staticmethod
    def session(session_id: str, action: str = "") -> _Request:
        method = "POST" if action else "GET"
        return _Request(method, f"/v1/sessions/{quote(session_id, safe='')}{action}")

    @staticmethod
    def voice_preview(voice_id: str, text: str | None) -> _Request:
        params = _drop_none({"text": text})
        return _Request("GET", f"/v1/voices/{quote(voice_id, safe='')}/preview", params)

    @staticmethod
    def create_key(
        name: str,
        kind: str,
        admin: bool,
        agent_ids: list[str] | None,
        rate_limit: RateLimit | None,
    ) -> _Request:
        body = _drop_none(
            {
                "name": name,
                "kind": kind,
                "admin": admin,
                "agent_ids": agent_ids,
                "rate_limit": rate_limit,
            }
        )
        return _Request("POST", "/v1/api-keys", body=body)


def _http_options(base_url: str, api_key: str, timeout: float) -> dict[str, Any]:
    return {
        "base_url": base_url.rstrip("/"),
        "headers": {"Authorization": f"Bearer {api_key}"},
        "timeout": timeout,
    }


def _checked(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 400:
        raise ApiError.of(response)
    return response


class ParleyClient:
    """Synchronous client of the REST API (and, with :meth:`call`, of conversations).

    Every method raises :class:`ApiError` for an error response::

        with ParleyClient("http://127.0.0.1:8000", key) as client:
            agent = client.create_agent(name="Support", system_prompt="You help.")
            session = client.create_session(agent["id"], initial_message="Hi!")
    """

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0) -> None:
        self.base_url, self._api_key = base_url.rstrip("/"), api_key
        self._http = httpx.Client(**_http_options(base_url, api_key, timeout))

    def __enter__(self) -> ParleyClient:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def _send(self, request: _Request) -> httpx.Response:
        return _checked(
            self._http.request(
                request.method, request.path, params=request.params, json=request.body
            )
        )

    def _json(self, request: _Request) -> Any:
        return self._send(request).json()

    def health(self) -> dict[str, Any]:
        """``GET /healthz`` (200 or 503, both returned)."""
        body: dict[str, Any] = self._http.get("/healthz").json()
        return body

    # agents
    def create_agent(self, **fields: Any) -> Agent:
        """``POST /v1/agents``."""
        return cast(Agent, self._json(_Requests.create_agent(fields)))

    def list_agents(self, limit: int = 20, offset: int = 0) -> AgentPage:
        """``GET /v1/agents``."""
        return cast(AgentPage, self._json(_Requests.list_agents(limit, offset)))

    def get_agent(self, agent_id: str) -> Agent:
        """``GET /v1/agents/{id}``."""
        return cast(Agent, self._json(_Requests.agent("GET", agent_id)))

    def update_agent(self, agent_id: str, **fields: Any) -> Agent:
        """``PATCH /v1/agents/{id}``."""
        return cast(Agent, self._json(_Requests.agent("PATCH", agent_id, fields)))

    def pause_agent(self, agent_id: str) -> Agent:
        """Refuse new conversations (``PATCH`` status ``paused``)."""
        return self.update_agent(agent_id, status="paused")

    def resume_agent(self, agent_id: str) -> Agent:
        """Take conversations again (``PATCH`` status ``active``)."""
        return self.update_agent(agent_id, status="active")

    def delete_agent(self, agent_id: str) -> AgentDeleted:
        """``DELETE /v1/agents/{id}``: permanent; ends its live sessions."""
        return cast(AgentDeleted, self._json(_Requests.agent("DELETE", agent_id)))

    # sessions
    def create_session(
        self,
        agent_id: str,
        *,
        metadata: dict[str, Any] | None = None,
        initial_message: str | None = None,
        expires_in: int | None = None,
    ) -> Session:
        """``POST /v1/agents/{id}/sessions``: connect to ``websocket_url`` before it expires."""
        request = _Requests.create_session(agent_id, metadata, initial_message, expires_in)
        return cast(Session, self._json(request))

    def get_session(self, session_id: str) -> SessionDetail:
        """``GET /v1/sessions/{id}``, with the transcript."""
        return cast(SessionDetail, self._json(_Requests.session(session_id)))

    def list_sessions(
        self, agent_id: str, limit: int = 20, offset: int = 0, status: str | None = None
    ) -> SessionPage:
        """``GET /v1/agents/{id}/sessions``."""
        request = _Requests.list_sessions(agent_id, limit, offset, status)
        return cast(SessionPage, self._json(request))

    def end_session(self, session_id: str) -> Session:
        """``POST /v1/sessions/{id}/end``."""
        return cast(Session, self._json(_Requests.session(session_id, "/end")))

    # voices
    def list_voices(self) -> list[Voice]:
        """``GET /v1/voices``."""
        return cast(list[Voice], self._json(_Request("GET", "/v1/voices"))["data"])

    def voice_preview(self, voice_id: str, text: str | None = None) -> bytes:
        """``GET /v1/voices/{id}/preview``: a WAV file."""
        return self._send(_Requests.voice_preview(voice_id, text)).content

    # API keys
    def create_key(
        self,
        name: str,
        *,
        kind: Literal["secret", "publishable"] = "secret",
        admin: bool = False,
        agent_ids: list[str] | None = None,
        rate_limit: RateLimit | None = None,
    ) -> ApiKeyCreated:
        """``POST /v1/api-keys`` (admin keys only); ``key`` is shown only now."""
        request = _Requests.create_key(name, kind, admin, agent_ids, rate_limit)
        return cast(ApiKeyCreated, self._json(request))

    def list_keys(self) -> list[ApiKey]:
        """``GET /v1/api-keys`` (admin keys only)."""
        return cast(list[ApiKey], self._json(_Request("GET", "/v1/api-keys"))["data"])

    def revoke_key(self, key_id: str) -> ApiKey:
        """``DELETE /v1/api-keys/{id}`` (admin keys only)."""
        path = f"/v1/api-keys/{quote(key_id, safe='')}"
        return cast(ApiKey, self._json(_Request("DELETE", path)))

    # conversations
    def call(self, agent_id: str, utterances: list[bytes], **options: Any) -> CallResult:
        """Talk to an agent (blocking; see :func:`call`)."""
        return asyncio.run(call(self.base_url, self._api_key, agent_id, utterances, **options))


class AsyncParleyClient:
    """Asynchronous client of the REST API and of conversations::

    async with AsyncParleyClient(url, key) as client:
        session = await client.create_session("agt_demo")
        async with client.connect(session) as conv:
            print(await conv.recv())
    """

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0) -> None:
        self.base_url, self._api_key = base_url.rstrip("/"), api_key
        self._http = httpx.AsyncClient(**_http_options(base_url, api_key, timeout))

    async def __aenter__(self) -> AsyncParleyClient:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        await self._http.aclose()

    async def _send(self, request: _Request) -> httpx.Response:
        response = await self._http.request(
            request.method, request.path, params=request.params, json=request.body
        )
        return _checked(response)

    async def _json(self, request: _Request) -> Any:
        return (await self._send(request)).json()

    async def create_agent(self, **fields: Any) -> Agent:
        """``POST /v1/agents``."""
        return cast(Agent, await self._json(_Requests.create_agent(fields)))

    async def list_agents(self, limit: int = 20, offset: int = 0) -> AgentPage:
        """``GET /v1/agents``."""
        return cast(AgentPage, await self._json(_Requests.list_agents(limit, offset)))

    async def get_agent(self, agent_id: str) -> Agent:
        """``GET /v1/agents/{id}``."""
        return cast(Agent, await self._json(_Requests.agent("GET", agent_id)))

    async def update_agent(self, agent_id: str, **fields: Any) -> Agent:
        """``PATCH /v1/agents/{id}``."""
        return cast(Agent, await self._json(_Requests.agent("PATCH", agent_id, fields)))

    async def delete_agent(self, agent_id: str) -> AgentDeleted:
        """``DELETE /v1/agents/{id}``."""
        return cast(AgentDeleted, await self._json(_Requests.agent("DELETE", agent_id)))

    async def create_session(
        self,
        agent_id: str,
        *,
        metadata: dict[str, Any] | None = None,
        initial_message: str | None = None,
        expires_in: int | None = None,
    ) -> Session:
        """``POST /v1/agents/{id}/sessions``."""
        request = _Requests.create_session(agent_id, metadata, initial_message, expires_in)
        return cast(Session, await self._json(request))

    async def get_session(self, session_id: str) -> SessionDetail:
        """``GET /v1/sessions/{id}``."""
        return cast(SessionDetail, await self._json(_Requests.session(session_id)))

    async def list_sessions(
        self, agent_id: str, limit: int = 20, offset: int = 0, status: str | None = None
    ) -> SessionPage:
        """``GET /v1/agents/{id}/sessions``."""
        request = _Requests.list_sessions(agent_id, limit, offset, status)
        return cast(SessionPage, await self._json(request))

    async def end_session(self, session_id: str) -> Session:
        """``POST /v1/sessions/{id}/end``."""
        return cast(Session, await self._json(_Requests.session(session_id, "/end")))

    async def list_voices(self) -> list[Voice]:
        """``GET /v1/voices``."""
        return cast(list[Voice], (await self._json(_Request("GET", "/v1/voices")))["data"])

    async def voice_preview(self, voice_id: str, text: str | None = None) -> bytes:
        """``GET /v1/voices/{id}/preview``: a WAV file."""
        return (await self._send(_Requests.voice_preview(voice_id, text))).content

    async def create_key(
        self,
        name: str,
        *,
        kind: Literal["secret", "publishable"] = "secret",
        admin: bool = False,
        agent_ids: list[str] | None = None,
        rate_limit: RateLimit | None = None,
    ) -> ApiKeyCreated:
        """``POST /v1/api-keys`` (admin keys only)."""
        request = _Requests.create_key(name, kind, admin, agent_ids, rate_limit)
        return cast(ApiKeyCreated, await self._json(request))

    async def list_keys(self) -> list[ApiKey]:
        """``GET /v1/api-keys`` (admin keys only)."""
        return cast(list[ApiKey], (await self._json(_Request("GET", "/v1/api-keys")))["data"])

    async def revoke_key(self, key_id: str) -> ApiKey:
        """``DELETE /v1/api-keys/{id}`` (admin keys only)."""
        path = f"/v1/api-keys/{quote(key_id, safe='')}"
        return cast(ApiKey, await self._json(_Request("DELETE", path)))

    def connect(self, session: Session) -> Conversation:
        """The conversation of a session just created (use it as ``async with``)."""
        url = session.get("websocket_url")
        if not url:
            raise ValueError("this session has no websocket_url (it is only in the create answer)")
        return Conversation(url)

    async def call(self, agent_id: str, utterances: list[bytes], **options: Any) -> CallResult:
        """Talk to an agent (see :func:`call`)."""
        return await call(self.base_url, self._api_key, agent_id, utterances, **options)


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


def trailing_silence_ms(pcm: bytes) -> float:
    """Length of the quiet tail of an utterance, after its last speech frame."""
    bounds = speech_bounds_ms(pcm)
    total = len(pcm) / 2 / SAMPLE_RATE * 1000.0
    return 0.0 if bounds is None else max(0.0, total - bounds[1])


async def _until_played(reply: AgentReply) -> None:
    """Wait until a client playing the reply in real time would have finished it."""
    if reply.first_audio_at is None:
        return
    ends_at = reply.first_audio_at + len(reply.audio) / 2 / SAMPLE_RATE + 0.15
    await asyncio.sleep(max(0.0, ends_at - time.monotonic()))


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
            if kind == "agent_turn_start":
                self.replies.setdefault(turn_id, AgentReply(turn_id))
            elif kind == "audio":
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


class Microphone:
    """Sends audio as a live microphone does: fixed-size frames in real time (or as fast
    as possible with ``realtime=False``), and silence when nothing is queued. ``send``
    sends one frame, e.g. ``conv.send_audio``. Frames are 32 ms of 16 kHz PCM16 unless
    ``frame_bytes``, ``frame_s`` and a ``quiet`` frame say otherwise (other wire formats).
    Use as ``async with Microphone(conv.send_audio) as mic: await mic.say(pcm)``."""

    def __init__(
        self,
        send: Callable[[bytes], Awaitable[object]],
        *,
        realtime: bool = True,
        frame_bytes: int = VAD_FRAME_BYTES,
        frame_s: float = VAD_FRAME_BYTES / 2 / SAMPLE_RATE,
        quiet: bytes | None = None,
    ) -> None:
        self.send, self.realtime = send, realtime
        self.frame_bytes, self.frame_s = frame_bytes, frame_s
        self.quiet = quiet if quiet is not None else silence(frame_s * 1000, SAMPLE_RATE)
        self._queue: asyncio.Queue[tuple[bytes, asyncio.Future[float]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Microphone:
        self._task = asyncio.create_task(self.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def say(self, audio: bytes) -> asyncio.Future[float]:
        """Queue an utterance; the future gives the time its last frame was sent."""
        done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((audio, done))
        return done

    async def run(self) -> None:
        """Stream until cancelled."""
        next_at = time.monotonic()
        while True:
            try:
                audio, done = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                audio, done = self.quiet, None
            for i in range(0, len(audio), self.frame_bytes):
                await self.send(audio[i : i + self.frame_bytes])
                next_at += self.frame_s
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
        mic = Microphone(conv.send_audio, realtime=realtime)
        streaming = asyncio.create_task(mic.run())
        try:
            greeting = None
            # an agent with a first message starts its turn at once
            greets = await listener.wait_for(lambda: bool(listener.replies), 1.5)
            if greets:
                tid = next(iter(listener.replies))
                await listener.wait_for(lambda: tid in listener.done_turns(), greeting_timeout)
                greeting = listener.replies[tid]
                await _until_played(greeting)
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
                if reply is not None:
                    await _until_played(reply)  # a polite user lets the agent finish
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
