"""Native WebSocket protocol endpoint: moves frames between the socket and a VoiceSession."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pydantic
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict

from parley.core.events import EndReason, ErrorOut, ServerEvent
from parley.errors import ParleyError
from parley.protocols.json_frames import first_error
from parley.protocols.native import NativeCodec
from parley.server.agents import EndOfTurnSilence, InterruptThreshold, VadThreshold
from parley.server.auth import bearer_token
from parley.server.live import LiveConversation, agent_config, open_session, pump_frames
from parley.server.state import ServerState

log = logging.getLogger(__name__)
router = APIRouter()


class TurnOverrides(BaseModel):
    """Turn settings a single conversation may set in its URL's query string."""

    model_config = ConfigDict(extra="ignore")

    vad_threshold: VadThreshold | None = None
    end_of_turn_silence_ms: EndOfTurnSilence | None = None
    interrupt_threshold: InterruptThreshold | None = None


def turn_overrides(ws: WebSocket) -> dict[str, float]:
    """``?vad_threshold=&end_of_turn_silence_ms=&interrupt_threshold=`` of this socket."""
    try:
        parsed = TurnOverrides.model_validate(dict(ws.query_params))
    except pydantic.ValidationError as exc:
        raise first_error(exc) from None
    return {k: float(v) for k, v in parsed.model_dump(exclude_none=True).items()}


class _Connection:
    """One socket as a :class:`~parley.server.state.Transport`: serialized sends that
    stop quietly once the peer is gone."""

    def __init__(self, ws: WebSocket, codec: NativeCodec) -> None:
        self.ws, self.codec = ws, codec
        self._lock = asyncio.Lock()
        self.open = True

    async def deliver(self, event: ServerEvent) -> None:
        if not self.open:
            return
        async with self._lock:
            try:
                await self.ws.send_text(self.codec.encode(event))
            except (WebSocketDisconnect, RuntimeError, OSError):
                self.open = False

    async def close(self, code: int, reason: str) -> None:
        await self.ws.close(code=code, reason=reason)

    async def fail(self, exc: ParleyError) -> None:
        """Send the error and close the socket with the error's close code."""
        await self.deliver(ErrorOut(exc.code, exc.message))
        self.open = False
        with contextlib.suppress(Exception):
            await self.ws.close(code=exc.ws_close_code, reason=exc.message[:120])


@router.websocket("/v1/voice/conversation")
async def conversation(ws: WebSocket) -> None:
    """``/v1/voice/conversation?api_key=...&agent_id=...`` (see docs/protocol.md)."""
    state: ServerState = ws.app.state.parley
    codec = NativeCodec(
        max_frame_bytes=state.settings.limits.max_frame_bytes,
        max_text_chars=state.settings.limits.max_text_chars,
    )
    await ws.accept()
    conn = _Connection(ws, codec)
    try:
        overrides = turn_overrides(ws)  # before a single-use token is spent
        agent, record = await open_session(
            state,
            token=ws.query_params.get("token"),
            api_key=ws.query_params.get("api_key") or bearer_token(ws.headers.get("authorization")),
            agent_id=ws.query_params.get("agent_id"),
        )
    except ParleyError as exc:
        state.metrics.observe(ErrorOut(exc.code, exc.message))
        await conn.fail(exc)
        return

    config = agent_config(agent, state, first_message=record.initial_message, overrides=overrides)
    live = LiveConversation(state, agent, record, conn, config=config)
    reason: EndReason = "client"
    try:
        if await live.start():
            timeout = state.settings.limits.client_timeout_s
            reason = await pump_frames(ws, live, lambda f: [codec.decode(f)], timeout)
    except Exception:
        log.exception("session failed", extra={"session_id": record.id})
        reason = "error"
    finally:
        await live.finish(reason)
