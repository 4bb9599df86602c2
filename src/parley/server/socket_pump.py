"""The socket side of every voice protocol, written once.

- :class:`WireTransport`: a connection as a conversation sees it
  (:class:`~parley.server.state.Transport`). Each engine event is encoded into the
  protocol's messages, which are sent in order (one event's messages are never
  interleaved with another's); once the peer is gone, sending stops quietly.
- :func:`pump`: the read loop of a WebSocket conversation. It hands each frame to the
  protocol's handler until the peer leaves, the session ends itself (idle, max_turns),
  or the connection stays quiet too long.
- :func:`decoded`: the handler of protocols whose frames decode to engine events; a
  frame the codec refuses gets an ``error`` event and the session goes on.
- :func:`connection_guard`: the connection's limits (messages per second, refused
  messages in a row; :mod:`parley.server.inbound_limits`), checked by :func:`pump` and
  :func:`decoded`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Generic, TypeVar

from starlette.responses import JSONResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from parley.core.events import ClientEvent, EndReason, ErrorOut, ServerEvent
from parley.errors import ParleyError, RateLimitError, ServerAtCapacityError, ServerDrainingError
from parley.server.admission import DRAINING_MESSAGE
from parley.server.auth import authenticate
from parley.server.conversation import LiveConversation
from parley.server.errors import error_body
from parley.server.inbound_limits import ConnectionGuard, Refusal, peer_of
from parley.server.ratelimit import retry_after_header
from parley.server.state import ServerState

log = logging.getLogger(__name__)

Frame = str | bytes
M = TypeVar("M")


class WireTransport(Generic[M]):
    """Sends engine events as a protocol's messages (``encode``), one at a time
    (``send``); ``close`` closes the connection (none: closing only stops sending)."""

    def __init__(
        self,
        send: Callable[[M], Awaitable[None]],
        encode: Callable[[ServerEvent], Iterable[M]],
        close: Callable[[int, str], Awaitable[None]] | None = None,
    ) -> None:
        self._send, self._encode, self._close = send, encode, close
        self._lock = asyncio.Lock()
        self.open = True
        """False once the peer is gone or the connection is closing."""

    async def deliver(self, event: ServerEvent) -> None:
        """Encode ``event`` and send its messages."""
        if self.open:
            await self.send(*self._encode(event))

    async def send(self, *messages: M) -> None:
        """Send ``messages`` in order (a peer that is gone ends sending, quietly)."""
        if not messages or not self.open:
            return
        async with self._lock:
            try:
                for message in messages:
                    await self._send(message)
            except Exception as exc:  # the peer is gone (each library says so its own way)
                self.open = False
                log.info("stopped sending: the peer is gone (%s)", type(exc).__name__)

    async def close(self, code: int, reason: str) -> None:
        """Close the connection (or only stop sending)."""
        self.open = False
        if self._close is not None:
            await self._close(code, reason)


def text_transport(
    ws: WebSocket, encode: Callable[[ServerEvent], Iterable[str]]
) -> WireTransport[str]:
    """A WebSocket that carries a protocol's messages as text frames."""
    return WireTransport(ws.send_text, encode, _closer(ws))


def _closer(ws: WebSocket) -> Callable[[int, str], Awaitable[None]]:
    async def close(code: int, reason: str) -> None:
        await ws.close(code=code, reason=reason)

    return close


async def refuse(ws: WebSocket, transport: WireTransport[Any], exc: ParleyError) -> None:
    """Close the socket with ``exc``'s close code, after what the protocol said of it."""
    transport.open = False
    with contextlib.suppress(Exception):
        await ws.close(code=exc.ws_close_code, reason=exc.message[:120])


def peer_host(ws: WebSocket) -> str | None:
    """The client's host (what the cooldown after a policy_violation is keyed by)."""
    return ws.client.host if ws.client else None


async def refused_before_upgrade(
    ws: WebSocket, state: ServerState, credential: Callable[[], str | None]
) -> bool:
    """Refuse a key in its cooldown after a policy_violation (from this host) before the
    WebSocket upgrade: HTTP 429 with the JSON error body, so nothing the client streams
    is read. True if refused. Any other problem with the credential is left to the
    endpoint, which reports it after the upgrade as usual. A draining replica refuses
    every upgrade with HTTP 503 (a load balancer retries on another replica)."""
    if state.draining:
        state.metrics.sessions_refused.labels("draining").inc()
        drained = ServerDrainingError(DRAINING_MESSAGE, retry_after=1.0)
        await _deny(ws, drained, 503)
        return True
    if not state.penalties.active:
        return False
    try:
        key = await authenticate(state, credential())
        await state.penalties.check(key.id, peer_host(ws))
    except RateLimitError as exc:
        state.metrics.refused.labels("cooldown").inc()
        await _deny(ws, exc, 429)
        return True
    except ParleyError:
        return False
    return False


async def _deny(ws: WebSocket, exc: RateLimitError | ServerAtCapacityError, status: int) -> None:
    """Answer the upgrade request with HTTP ``status`` and the JSON error body."""
    headers = {"Retry-After": retry_after_header(exc.retry_after)}
    body = error_body(exc.code, exc.message)
    try:
        await ws.send_denial_response(JSONResponse(body, status, headers=headers))
    except RuntimeError:  # a server without the denial-response extension
        await ws.close(code=exc.ws_close_code, reason=exc.message[:120])


def connection_guard(ws: WebSocket, state: ServerState, protocol: str) -> ConnectionGuard:
    """The limits of one WebSocket connection (refusals are counted in the metrics)."""
    return ConnectionGuard(
        state.settings.limits,
        peer=peer_of(ws.client),
        protocol=protocol,
        count=lambda limit: state.metrics.refused.labels(limit).inc(),
    )


async def refused(live: LiveConversation, guard: ConnectionGuard, exc: ParleyError) -> None:
    """A message the protocol refused with ``exc`` (the client was told): counted, and
    the session ends (1008) once the connection has refused too many."""
    if guard.refuse(exc, exc.message):
        await live.refuse(Refusal("malformed", guard.closing_error(), close=True))


def decoded(
    live: LiveConversation,
    decode: Callable[[Frame], Iterable[ClientEvent]],
    guard: ConnectionGuard,
) -> Callable[[Frame], Awaitable[None]]:
    """A frame handler that feeds ``decode``'s events to the conversation; a frame the
    codec refuses gets an ``error`` event, and the session goes on (until ``guard``
    has refused too many)."""

    async def handle(frame: Frame) -> None:
        try:
            events = list(decode(frame))
        except ParleyError as exc:
            await live.emit(ErrorOut(exc.code, exc.message))
            await refused(live, guard, exc)
            return
        for event in events:
            await live.feed(event)

    return handle


async def pump(
    ws: WebSocket,
    live: LiveConversation,
    handle: Callable[[Frame], Awaitable[None]],
    *,
    guard: ConnectionGuard,
    quiet_s: float,
    quiet: str,
    inbox: asyncio.Queue[ClientEvent] | None = None,
    last_activity: Callable[[], float] | None = None,
) -> EndReason:
    """Hand the socket's frames to ``handle`` (and the protocol's own queued events in
    ``inbox`` to the session) until the peer leaves, the session ends itself, or nothing
    happened for ``quiet_s``: the client gets a ``session_error`` saying ``quiet`` and
    the session ends as ``idle``. Activity is the last frame received, unless
    ``last_activity`` says otherwise (monotonic seconds). Frames over ``guard``'s rate
    are dropped."""
    session = live.session
    received_at = time.monotonic()
    active = last_activity or (lambda: received_at)
    ended = asyncio.create_task(session.ended_event.wait())
    receive: asyncio.Task[Any] = asyncio.create_task(ws.receive())
    queued = asyncio.create_task(inbox.get()) if inbox is not None else None
    try:
        while True:
            waiting = {receive, ended, *([queued] if queued is not None else [])}
            wait_s = max(0.0, active() + quiet_s - time.monotonic())
            done, _ = await asyncio.wait(
                waiting, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED
            )
            if ended in done and session.ended is not None:
                return session.ended
            if queued is not None and queued in done and inbox is not None:
                await live.feed(queued.result())
                queued = asyncio.create_task(inbox.get())
            if receive not in done:
                if not done and time.monotonic() - active() >= quiet_s:
                    await live.emit(ErrorOut("session_error", quiet))
                    return "idle"
                continue
            try:
                message = receive.result()
            except (WebSocketDisconnect, RuntimeError):
                return "client"
            if message["type"] == "websocket.disconnect":
                return "client"
            received_at = time.monotonic()
            refusal = guard.admit()
            if refusal is None:
                frame = message.get("text")
                await handle(frame if frame is not None else message.get("bytes") or b"")
            else:
                await live.refuse(refusal)
            if session.ended is not None:
                return session.ended
            receive = asyncio.create_task(ws.receive())
    finally:
        for task in (ended, receive, queued):
            if task is not None:
                task.cancel()
