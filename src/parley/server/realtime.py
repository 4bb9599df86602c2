"""OpenAI-Realtime-compatible WebSocket endpoint, ``/v1/realtime`` (docs/realtime.md):
moves frames between the socket and a :class:`~parley.server.conversation.LiveConversation`
through the sans-I/O :class:`~parley.protocols.openai_realtime.RealtimeProtocol`."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from typing import Any

from fastapi import APIRouter, WebSocket

from parley.core.events import ClientEvent, ErrorOut, ServerEvent
from parley.errors import ParleyError, ValidationError
from parley.protocols.openai_realtime import RealtimeProtocol, random_id
from parley.protocols.openai_realtime.errors import INVALID_REQUEST, SERVER_ERROR, error_body
from parley.server.admission import open_session, opening
from parley.server.auth import credential
from parley.server.conversation import LiveConversation
from parley.server.inbound_limits import ConnectionGuard
from parley.server.session_config import agent_config
from parley.server.socket_pump import (
    WireTransport,
    connection_guard,
    peer_host,
    pump,
    refused,
    refused_before_upgrade,
)
from parley.server.state import ServerState

log = logging.getLogger(__name__)
router = APIRouter()

SUBPROTOCOL = "realtime"
KEY_SUBPROTOCOL = "openai-insecure-api-key."
BETA_SUBPROTOCOL = "openai-beta.realtime-v1"
SESSION_TOKEN_PREFIX = "wst_"
_OPEN_ERRORS = {
    "authentication_error": "invalid_api_key",
    "authorization_error": "forbidden",
    "not_found_error": "model_not_found",
    "rate_limit_error": "rate_limit_exceeded",
}
"""Parley error codes at connect → Realtime error codes (others keep Parley's code)."""


def connect_key(ws: WebSocket) -> str | None:
    """The key or session token: ``Authorization: Bearer`` or, from browsers, the
    ``openai-insecure-api-key.<key>`` subprotocol (AuthenticationError if they differ)."""
    offered = [str(p) for p in ws.scope.get("subprotocols") or []]
    keys = [p[len(KEY_SUBPROTOCOL) :] for p in offered if p.startswith(KEY_SUBPROTOCOL)]
    return credential(None, ws.headers, *keys)


def wants_beta(ws: WebSocket) -> bool:
    """``OpenAI-Beta: realtime=v1`` (or the ``openai-beta.realtime-v1`` subprotocol)."""
    header = ws.headers.get("openai-beta", "").replace(" ", "").lower()
    return "realtime=v1" in header.split(",") or BETA_SUBPROTOCOL in (
        ws.scope.get("subprotocols") or []
    )


def requested_agent(model: str | None) -> str | None:
    """``?model=agt_...`` names an agent; any other model (``gpt-realtime``) means the
    server's default agent."""
    return model if model and model.startswith("agt_") else None


class _Connection:
    """The socket as a :class:`~parley.server.state.Transport`: engine events go through
    the protocol; engine events the protocol wants fed go to the pump's inbox."""

    def __init__(self, ws: WebSocket, guard: ConnectionGuard) -> None:
        self.guard = guard
        self.wire: WireTransport[dict[str, Any]] = WireTransport(ws.send_json, lambda e: ())
        self.ws = ws
        self.protocol: RealtimeProtocol | None = None
        self.inbox: asyncio.Queue[ClientEvent] = asyncio.Queue()
        self.last_activity = time.monotonic()
        """When something was last sent or received (monotonic seconds)."""

    @property
    def open(self) -> bool:
        """False once the peer is gone or the connection is closing."""
        return self.wire.open

    @open.setter
    def open(self, value: bool) -> None:
        self.wire.open = value

    async def deliver(self, event: ServerEvent) -> None:
        if self.protocol is None:
            return
        actions = self.protocol.on_engine(event)
        await self.send(*(a for a in actions if isinstance(a, dict)))
        # Queued only now: the engine task that emitted ``event`` finishes what it was
        # doing (e.g. starts the committed turn's exchange) before the pump feeds these.
        for action in actions:
            if not isinstance(action, dict):
                self.inbox.put_nowait(action)

    async def send(self, *events: dict[str, Any]) -> None:
        """Send server events in order (one batch is never interleaved with another)."""
        await self.wire.send(*events)
        self.last_activity = time.monotonic()

    async def close(self, code: int, reason: str) -> None:
        self.open = False
        await self.ws.close(code=code, reason=reason)

    async def receive(self, frame: str | bytes, live: LiveConversation) -> None:
        """A client frame: the protocol answers it itself or feeds the session. Each
        ``error`` it answers with counts as a refused message."""
        assert self.protocol is not None
        self.last_activity = time.monotonic()
        for action in self.protocol.receive(frame):
            if isinstance(action, dict):
                await self.send(action)
                if action.get("type") == "error":
                    message = str(action.get("error", {}).get("message", ""))
                    await refused(live, self.guard, ValidationError(message))
            else:
                await live.feed(action)

    async def refuse(self, exc: ParleyError) -> None:
        """An ``error`` event, then the close code of the error."""
        code = _OPEN_ERRORS.get(exc.code, exc.code)
        kind = SERVER_ERROR if exc.ws_close_code in (1011, 1013) else INVALID_REQUEST
        await self.send(
            {
                "type": "error",
                "event_id": random_id("event"),
                "error": error_body(kind, code, exc.message, exc.param),
            }
        )
        self.open = False
        with contextlib.suppress(Exception):
            await self.ws.close(code=exc.ws_close_code, reason=exc.message[:120])


@router.websocket("/v1/realtime")
async def realtime(ws: WebSocket) -> None:
    """``/v1/realtime?model=<agent id or any model name>`` (see docs/realtime.md)."""
    state: ServerState = ws.app.state.parley
    offered = ws.scope.get("subprotocols") or []
    if await refused_before_upgrade(ws, state, lambda: connect_key(ws)):
        return
    await ws.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    peer = peer_host(ws)
    guard = connection_guard(ws, state, "openai_realtime")
    conn = _Connection(ws, guard)
    model = ws.query_params.get("model") or ""
    try:
        key = connect_key(ws)
        token = key if key and key.startswith(SESSION_TOKEN_PREFIX) else None
        agent, record = await open_session(
            state,
            token=token,
            api_key=None if token else key,
            agent_id=requested_agent(model),
            protocol="openai_realtime",
            default_agent=True,
            peer=peer,
        )
        async with opening(state, record.id):  # a failure here frees its slot
            # OpenAI Realtime has no server greeting, and the agent speaks only when asked
            # to (check-ins after silence only with turn_detection.idle_timeout_ms).
            config = dataclasses.replace(
                agent_config(agent, state, session=record), first_message=None,
                idle_timeout_ms=0.0,
            )  # fmt: skip
            live = await LiveConversation.open(state, agent, record, conn, config=config, peer=peer)
    except ParleyError as exc:
        state.metrics.observe(ErrorOut(exc.code, exc.message))
        await conn.refuse(exc)
        return

    conn.protocol = RealtimeProtocol(
        agent=config,
        conversation_id=record.id,
        model=model or agent.id,
        beta=wants_beta(ws),
        voices=[v.id for v in live.session.models.tts.voices()],
        max_frame_bytes=state.settings.limits.max_frame_bytes,
        max_text_chars=state.settings.limits.max_text_chars,
        prefix_padding_ms=round(live.session.engine.preroll_ms),
    )
    quiet_s = state.settings.limits.client_timeout_s
    await live.run(
        lambda: pump(
            ws,
            live,
            lambda frame: conn.receive(frame, live),
            guard=guard,
            quiet_s=quiet_s,
            quiet=f"nothing sent or received for {quiet_s:g} s",
            inbox=conn.inbox,
            last_activity=lambda: conn.last_activity,
        )
    )
