"""Socket.IO voice-agent endpoint (docs/socketio.md): namespace ``/v1/audio/agent`` on the
standard ``/socket.io/`` path, beside the FastAPI routes.

The server only moves events: :mod:`parley.protocols.socketio` decodes and encodes them,
:class:`~parley.server.conversation.LiveConversation` runs each session. One connection may run
one session at a time, and another after it ends. Each connection's events are handled
in order by one task, so audio reaches the engine in the order it was sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qs

import socketio  # type: ignore[import-untyped]
from fastapi import FastAPI
from starlette.datastructures import Headers, QueryParams

from parley.core.agent import AgentConfig
from parley.core.events import EndReason, ErrorOut
from parley.errors import (
    AuthenticationError,
    InternalError,
    ParleyError,
    RateLimitError,
    SessionError,
    ValidationError,
)
from parley.languages import AUTO
from parley.protocols.socketio import (
    NAMESPACE,
    EffectiveSettings,
    SessionEncoder,
    SocketIOCodec,
    StartSession,
    connected_payload,
    error_event,
)
from parley.server.admission import new_resume_token, open_session, opening, resume_session
from parley.server.auth import authenticate, credential
from parley.server.bootstrap import DEFAULT_VOICE_ID
from parley.server.conversation import LiveConversation
from parley.server.inbound_limits import POLICY_VIOLATION, ConnectionGuard, peer_of
from parley.server.languages import check_agent_languages, installed_voices
from parley.server.session_config import agent_config
from parley.server.socket_pump import WireTransport
from parley.server.state import ServerState

log = logging.getLogger(__name__)

SOCKETIO_PATH = "/socket.io"
MAX_QUEUED_EVENTS = 512
"""Events of one connection waiting to be handled; more are refused (rate_limit_error)."""
DISCONNECT_WAIT_S = 10.0
"""How long a disconnect waits for the event being handled before cancelling it."""


def _session_transport(sio: Any, sid: str, encoder: SessionEncoder) -> WireTransport[Any]:
    """One session's side of a Socket.IO connection. Closing it ends only the session:
    the connection stays, and may start another."""

    async def send(message: tuple[str, Any]) -> None:
        name, payload = message
        await sio.emit(name, payload, to=sid, namespace=NAMESPACE)

    return WireTransport(send, encoder.encode)


@dataclass(eq=False)
class _Client:
    """One connected Socket.IO client."""

    sid: str
    api_key: str
    voice: str | None
    codec: SocketIOCodec
    guard: ConnectionGuard
    host: str | None
    queue: asyncio.Queue[tuple[Any, tuple[Any, ...]] | None] = field(default_factory=asyncio.Queue)
    consumer: asyncio.Task[None] | None = None
    live: LiveConversation | None = None
    watchers: set[asyncio.Task[None]] = field(default_factory=set)
    closed: bool = False

    @property
    def active(self) -> LiveConversation | None:
        """The session running now, if any (an ended one no longer counts)."""
        live = self.live
        return live if live is not None and live.session.ended is None else None


class SocketIOAgentServer:
    """The Socket.IO server of one app and its connected clients."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        limits = state.settings.limits
        half = limits.client_timeout_s / 2
        self.sio = socketio.AsyncServer(
            async_mode="asgi",
            cors_allowed_origins="*",
            # a silent peer is dropped after ping_interval + ping_timeout = client_timeout_s
            ping_interval=half,
            ping_timeout=half,
            max_http_buffer_size=limits.transport_max_bytes(),
            always_connect=True,  # so a refused client first gets a readable `error` event
            async_handlers=False,  # one client's events are queued in arrival order
            logger=False,
            engineio_logger=False,
        )
        self.sio.on("connect", self._connect, namespace=NAMESPACE)
        self.sio.on("disconnect", self._disconnect, namespace=NAMESPACE)
        self.sio.on("*", self._event, namespace=NAMESPACE)
        self._dispatch = self.sio._handle_eio_message
        self.sio.eio.on("message", self._packet)
        self.clients: dict[str, _Client] = {}

    def asgi_app(self) -> Any:
        """The ASGI app to mount at :data:`SOCKETIO_PATH` (routing is done by the mount)."""
        return socketio.ASGIApp(self.sio, socketio_path=None)

    # ------------------------------------------------------------ connection

    async def _connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        given = auth if isinstance(auth, dict) else {}

        def pick(name: str) -> str | None:
            value = query.get(name, [None])[0] or given.get(name)
            return value if isinstance(value, str) and value else None

        voice = pick("voice")
        try:
            query, headers = environ.get("QUERY_STRING", ""), environ.get("asgi.scope")
            api_key = credential(QueryParams(query), Headers(scope=headers), given.get("api_key"))
            await authenticate(self.state, api_key)
            if voice is None:
                default = await self.state.agents.get(self.state.settings.default_agent_id)
                voice = default.voice_id if default is not None else None
        except ParleyError as exc:
            await self._emit_error(sid, exc)
            return False  # the client gets a namespace disconnect after the error
        except Exception:
            log.exception("socket.io connect failed")
            await self._emit_error(sid, InternalError("the connection could not be checked"))
            return False
        limits = self.state.settings.limits
        peer = environ.get("asgi.scope", {}).get("client")
        client = _Client(
            sid,
            api_key or "",
            voice,
            SocketIOCodec(
                max_frame_bytes=limits.max_frame_bytes, max_text_chars=limits.max_text_chars
            ),
            ConnectionGuard(
                limits,
                peer=peer_of(peer),
                protocol="socketio",
                count=lambda limit: self.state.metrics.refused.labels(limit).inc(),
            ),
            peer[0] if peer else None,
        )
        self.clients[sid] = client
        client.consumer = asyncio.create_task(self._consume(client), name=f"parley-sio-{sid}")
        await self.sio.emit("connected", connected_payload(sid, voice), to=sid, namespace=NAMESPACE)
        return True

    async def _disconnect(self, sid: str, reason: Any = None) -> None:
        client = self.clients.pop(sid, None)
        if client is not None:
            await self._close_client(client, "client")

    async def _close_client(self, client: _Client, reason: EndReason) -> None:
        """Stop handling the client's events and end its session: ``client`` when it
        went away, otherwise the client is still told (``session_ended``)."""
        client.closed = True
        client.queue.put_nowait(None)
        if client.consumer is not None and client.consumer is not asyncio.current_task():
            _, pending = await asyncio.wait({client.consumer}, timeout=DISCONNECT_WAIT_S)
            for task in pending:
                task.cancel()
        live = client.live
        if live is not None:
            if reason == "client":
                live.transport.open = False
            await self._finish(client, live, reason)

    async def _packet(self, eio_sid: str, data: Any) -> None:
        """An Engine.IO message: a Socket.IO packet, dispatched by python-socketio. One
        that cannot be parsed is refused like any malformed event (one warning line, no
        traceback); before the namespace is connected, it closes the connection."""
        if eio_sid not in self.sio.eio.sockets:
            return  # closed: python-engineio still reads what the peer had sent
        try:
            await self._dispatch(eio_sid, data)
        except ValueError as exc:  # json.JSONDecodeError, or a packet type it refuses
            sid = self.sio.manager.sid_from_eio_sid(eio_sid, NAMESPACE)
            client = self.clients.get(sid) if sid is not None else None
            error = ValidationError(f"malformed Socket.IO packet: {str(exc)[:120]}")
            if client is None or client.closed:
                log.warning(
                    "closed a Socket.IO connection: malformed packet outside a namespace",
                    extra={"what": error.message},
                )
                await self._drop(eio_sid)
                return
            await self._refused(client, error)

    async def _drop(self, eio_sid: str) -> None:
        """Close an Engine.IO connection for good. ``disconnect`` only sends a close
        packet, which a hostile peer ignores; an empty item in the socket's send queue
        makes python-engineio's writer close the WebSocket itself."""
        socket = self.sio.eio.sockets.get(eio_sid)
        await self.sio.eio.disconnect(eio_sid)
        if socket is not None:
            with contextlib.suppress(Exception):
                await socket.queue.put(None)

    async def _refused(self, client: _Client, error: ParleyError) -> None:
        """Tell the client; disconnect it once it has refused too many messages."""
        await self._emit_error(client.sid, error)
        if client.guard.refuse(error, error.message):
            await self._emit_error(client.sid, client.guard.closing_error())
            await self._policy_close(client)

    async def _policy_close(self, client: _Client) -> None:
        """End the client's session (``policy_violation``) and disconnect it."""
        live = client.active
        if live is not None:
            await live.live.terminate("policy_violation", POLICY_VIOLATION)
        client.closed = True
        eio_sid = self.sio.manager.eio_sid_from_sid(client.sid, NAMESPACE)
        with contextlib.suppress(Exception):
            await self.sio.disconnect(client.sid, namespace=NAMESPACE)
        if eio_sid is not None:
            await self._drop(eio_sid)

    async def _event(self, event: Any, sid: str, *args: Any) -> None:
        client = self.clients.get(sid)
        if client is None or client.closed:
            return
        refusal = client.guard.admit()
        if refusal is not None:
            if refusal.error is not None:
                await self._emit_error(sid, refusal.error)
            if refusal.close:
                await self._policy_close(client)
            return
        if client.queue.qsize() >= MAX_QUEUED_EVENTS:
            message = f"more than {MAX_QUEUED_EVENTS} events are waiting; {event!r} was dropped"
            await self._emit_error(sid, RateLimitError(message[:200], retry_after=1.0))
            return
        client.queue.put_nowait((event, args))

    async def _emit_error(self, sid: str, exc: ParleyError) -> None:
        self.state.metrics.observe(ErrorOut(exc.code, exc.message))
        name, payload = error_event(exc)
        with contextlib.suppress(Exception):
            await self.sio.emit(name, payload, to=sid, namespace=NAMESPACE)

    # ------------------------------------------------------------ events

    async def _consume(self, client: _Client) -> None:
        """Handle the client's events in order. During a session, a client that sends
        nothing at all for ``client_timeout_s`` gets a session_error and the session
        ends as ``idle`` (the connection stays)."""
        quiet_after = self.state.settings.limits.client_timeout_s
        while not client.closed:
            active = client.active
            try:
                item = await asyncio.wait_for(
                    client.queue.get(), quiet_after if active is not None else None
                )
            except TimeoutError:
                if active is not None and active is client.active:
                    quiet = f"nothing received from the client for {quiet_after:g} s"
                    await active.emit(ErrorOut("session_error", quiet))
                    await self._finish(client, active, "idle")
                continue
            if item is None or client.closed:
                return
            await self._handle(client, *item)

    async def _handle(self, client: _Client, event: Any, args: tuple[Any, ...]) -> None:
        try:
            message = client.codec.decode(event, *args)
            if isinstance(message, StartSession):
                await self._start(client, message)
                return
            live = client.active
            if live is None:
                what = "no session to end" if event == "end_session" else "no session"
                raise SessionError(f"{what}: send start_session first")
            await live.feed(message)
            if live.session.ended is not None:
                await self._finish(client, live, live.session.ended)
        except AuthenticationError as exc:  # the key was revoked since the connect
            await self._emit_error(client.sid, exc)
            client.closed = True
            with contextlib.suppress(Exception):
                await self.sio.disconnect(client.sid, namespace=NAMESPACE)
        except SessionError as exc:  # e.g. audio still arriving after the session ended
            await self._emit_error(client.sid, exc)
        except ParleyError as exc:
            await self._refused(client, exc)
        except Exception:
            log.exception("socket.io event failed", extra={"event": str(event)[:40]})
            await self._emit_error(client.sid, InternalError("the event could not be handled"))

    async def _start(self, client: _Client, request: StartSession) -> None:
        running = client.active
        if running is not None:
            raise SessionError(
                f"session {running.session_id} is already running; send end_session first"
            )
        voice = (request.voice or client.voice) if request.ad_hoc else None
        if request.ad_hoc:
            await self._check_voice_and_language(voice, request.language)
        previous: str | None = None
        if request.resume_token:
            resumed = await resume_session(self.state, request.resume_token, peer=client.host)
            agent, record, token = resumed.agent, resumed.record, resumed.resume_token
            previous = resumed.previous_holder
        else:
            agent, record = await open_session(
                self.state,
                api_key=client.api_key,
                agent_id=request.agent_id,
                protocol="socketio",
                default_agent=True,
                metadata={"ad_hoc": request.ad_hoc},
                peer=client.host,
            )
            token = new_resume_token()
        async with opening(self.state, record.id):  # a failure here frees its slot
            config = agent_config(
                agent,
                self.state,
                first_message=record.initial_message,
                overrides=request.turn_overrides(),
                session=record,
            )
            if request.ad_hoc:
                config = _ad_hoc(config, request, voice)
            settings = EffectiveSettings.of(
                record.id, config, ad_hoc=request.ad_hoc, request=request
            )
            transport = _session_transport(self.sio, client.sid, SessionEncoder(settings))
            await self.state.replica.released(record.id, previous)
            live = await LiveConversation.open(
                self.state, agent, record, transport, config=config, peer=client.host,
                resume_token=token, resumed=bool(request.resume_token),
            )  # fmt: skip
        if request.resume_token:
            self.state.metrics.resumes.labels("resumed").inc()
        client.codec.reset_audio()
        client.live = live
        watcher = asyncio.create_task(self._watch(client, live), name=f"parley-{record.id}")
        client.watchers.add(watcher)
        watcher.add_done_callback(client.watchers.discard)
        try:
            started = await live.start()
        except Exception:
            await self._finish(client, live, "error")
            raise
        if not started:
            await self._finish(client, live, "agent_deleted")

    async def _check_voice_and_language(self, voice: str | None, language: str | None) -> None:
        """An ad-hoc session's voice must exist, and its language must be one the server
        can hear and answer in (nothing is started otherwise)."""
        pool = self.state.ready_providers()
        if voice is not None:
            voices = [v.voice.id for v in await installed_voices(pool)]
            if voice not in voices:
                raise ValidationError(
                    f"start_session: voice: unknown voice {voice!r}; available: "
                    f"{', '.join(voices)}",
                    param="voice",
                )
        if language is not None:
            try:
                await check_agent_languages(pool, language, voice or DEFAULT_VOICE_ID, {}, None)
            except ValidationError as exc:
                raise ValidationError(f"start_session: {exc.message}", param="language") from None

    async def _watch(self, client: _Client, live: LiveConversation) -> None:
        """Finish the session when it ends by itself (idle, max_turns, agent deleted)."""
        await live.session.ended_event.wait()
        await self._finish(client, live, live.session.ended or "client")

    async def _finish(self, client: _Client, live: LiveConversation, reason: EndReason) -> None:
        try:
            await live.finish(reason)
        except Exception:
            log.exception("could not end session", extra={"session_id": live.session_id})
        if client.live is live:
            client.live = None

    async def shutdown(self) -> None:
        """End every session (``session_ended`` with reason ``error`` to clients still
        connected) and stop Socket.IO's background tasks."""
        clients = list(self.clients.values())
        self.clients.clear()
        await asyncio.gather(
            *(self._close_client(c, "error") for c in clients), return_exceptions=True
        )
        with contextlib.suppress(Exception):
            await self.sio.shutdown()


def _ad_hoc(config: AgentConfig, request: StartSession, voice: str | None) -> AgentConfig:
    """The default agent with the session's own prompt, voice, language and greeting.
    Its greeting stays only when the prompt does (no ``instructions``) and the session
    answers in the agent's language (or follows the caller's): it is not translated."""
    greeting = config.first_message if request.instructions is None else None
    language = request.language or config.language
    if language not in (AUTO, config.language):
        greeting = None
    if request.first_message is not None:
        greeting = request.first_message or None
    return replace(
        config,
        system_prompt=request.instructions or config.system_prompt,
        voice_id=voice or config.voice_id,
        language=language,
        first_message=greeting,
    )


def mount(app: FastAPI) -> SocketIOAgentServer:
    """Serve the Socket.IO voice agent at ``/socket.io/`` on ``app``; its sessions end
    when the app shuts down."""
    state: ServerState = app.state.parley
    server = SocketIOAgentServer(state)
    app.mount(SOCKETIO_PATH, server.asgi_app(), name="socketio")
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(asgi_app: Any) -> AsyncIterator[Any]:
        async with inner(asgi_app) as value:
            try:
                yield value
            finally:
                await server.shutdown()

    app.router.lifespan_context = lifespan
    app.state.socketio = server
    return server
