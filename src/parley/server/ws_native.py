"""Native WebSocket protocol endpoint: moves frames between the socket and a VoiceSession."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pydantic
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict

from parley.core.clock import SystemClock
from parley.core.events import AudioIn, AudioOut, EndReason, ErrorOut, ServerEvent, SessionEnded
from parley.core.records import TurnRecord
from parley.core.session import AgentConfig, EngineConfig, SessionModels, VoiceSession
from parley.core.turns import FRAME_MS, TurnConfig
from parley.errors import (
    AuthenticationError,
    AuthorizationError,
    ModelsNotReadyError,
    NotFoundError,
    ParleyError,
    SessionError,
    ValidationError,
)
from parley.observability.metrics import ServerMetrics
from parley.observability.recording import SessionRecorder
from parley.protocols.native import NativeCodec
from parley.server.agents import EndOfTurnSilence, InterruptThreshold, VadThreshold
from parley.server.auth import authenticate, bearer_token, check_rate
from parley.server.sessions import hash_token
from parley.server.state import LiveSession, ServerState
from parley.storage import AgentRecord, ApiKeyRecord, SessionRecord
from parley.storage.models import utcnow

log = logging.getLogger(__name__)
router = APIRouter()


class _StoreTurns:
    """Stores each finished turn of one session."""

    def __init__(self, state: ServerState, session_id: str) -> None:
        self._state, self._session_id = state, session_id

    async def on_turn(self, record: TurnRecord) -> None:
        await self._state.sessions.add_turn(self._session_id, record)

    async def on_end(self, reason: EndReason) -> None:
        await self._state.sessions.end(self._session_id, reason)


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
        err = exc.errors()[0]
        name = ".".join(str(p) for p in err["loc"])
        raise ValidationError(f"{name}: {err['msg']}", param=name) from None
    return {k: float(v) for k, v in parsed.model_dump(exclude_none=True).items()}


def agent_config(
    record: AgentRecord,
    state: ServerState,
    *,
    first_message: str | None = None,
    overrides: dict[str, float] | None = None,
) -> AgentConfig:
    """Engine view of a stored agent; turn settings it does not set come from the server.

    ``first_message`` (a session's ``initial_message``) replaces the agent's own;
    ``overrides`` (from the conversation's URL) win over the agent's turn settings.
    """
    d = state.settings.turns
    s = {**record.settings, **(overrides or {})}

    def pick(name: str) -> float:
        return float(s.get(name, getattr(d, name)))

    return AgentConfig(
        agent_id=record.id,
        system_prompt=record.system_prompt,
        voice_id=record.voice_id,
        first_message=first_message or record.first_message,
        language=record.language,
        max_turns=record.max_turns,
        turns=TurnConfig(
            vad_threshold=pick("vad_threshold"),
            end_of_turn_silence_ms=pick("end_of_turn_silence_ms"),
            min_speech_ms=float(d.min_speech_ms),
            speculative_stt_after_ms=float(d.speculative_stt_after_ms),
            interrupt_min_speech_ms=pick("interrupt_threshold") * FRAME_MS,
        ),
        idle_timeout_ms=pick("idle_timeout_ms"),
        idle_prompts=int(pick("idle_prompts")),
    )


def engine_config(record: AgentRecord, state: ServerState) -> EngineConfig:
    """Server engine knobs with the agent's provider overrides applied."""
    m, o = state.settings.models, record.provider_overrides
    return EngineConfig(
        llm_max_tokens=int(o.get("llm_max_tokens") or m.llm_max_tokens),
        llm_temperature=float(o.get("llm_temperature", m.llm_temperature)),
        history_messages=m.history_messages,
        speculative_reply=m.speculative_reply,
    )


_TOKEN_PROBLEMS = {
    "unknown": "invalid session token",
    "used": "this session token was already used; create a new session",
    "ended": "this session has ended; create a new session",
    "expired": "this session token has expired; create a new session",
}


async def _open_session(state: ServerState, ws: WebSocket) -> tuple[AgentRecord, SessionRecord]:
    """Check the socket's credentials and agent; the session to run (claimed or new).

    ``?token=`` (from a session's websocket_url) is used once, before it expires;
    ``?api_key=`` (or a Bearer header) with ``?agent_id=`` opens a new session.
    """
    token = ws.query_params.get("token")
    key: ApiKeyRecord | None = None
    if token:
        token_hash = hash_token(token)
        pending = await state.sessions.find_by_token(token_hash)
        if pending is None:
            raise AuthenticationError(_TOKEN_PROBLEMS["unknown"])
        if pending.connected_at is not None:
            raise AuthenticationError(_TOKEN_PROBLEMS["used"])
        if pending.status != "active":
            raise AuthenticationError(_TOKEN_PROBLEMS[pending.status])
        if pending.expires_at is not None and pending.expires_at <= utcnow():
            await state.sessions.claim_token(token_hash)  # marks it expired
            raise AuthenticationError(_TOKEN_PROBLEMS["expired"])
        agent_id = pending.agent_id
    else:
        key = await authenticate(
            state, ws.query_params.get("api_key") or bearer_token(ws.headers.get("authorization"))
        )
        check_rate(state, key)
        agent_id = ws.query_params.get("agent_id") or ""
        if not agent_id:
            raise ValidationError("missing agent_id query parameter", param="agent_id")
        if not key.may_use_agent(agent_id):
            raise AuthorizationError(
                f"this publishable key may not open conversations with agent {agent_id!r}",
                param="agent_id",
            )
    agent = await state.agents.get(agent_id)
    if agent is None:
        raise NotFoundError(f"agent {agent_id!r} not found", param="agent_id")
    if agent.status != "active":
        raise SessionError(f"agent {agent_id!r} is {agent.status} and takes no conversations")
    if state.providers is None or not state.models_ready.is_set():
        raise ModelsNotReadyError("the server is still loading its models; retry shortly")
    if token:
        claimed, problem = await state.sessions.claim_token(token_hash)
        if claimed is None or problem is not None:
            raise AuthenticationError(_TOKEN_PROBLEMS[problem or "unknown"])
        return agent, claimed
    assert key is not None
    return agent, await state.sessions.create(agent.id, api_key_id=key.id)


class _Connection:
    """One socket: serialized sends that stop quietly once the peer is gone."""

    def __init__(
        self, ws: WebSocket, codec: NativeCodec, metrics: ServerMetrics | None = None
    ) -> None:
        self.ws, self.codec, self.metrics = ws, codec, metrics
        self._lock = asyncio.Lock()
        self.open = True
        self.recorder: SessionRecorder | None = None
        self.clock = SystemClock()

    async def send(self, event: ServerEvent) -> None:
        if self.metrics is not None:
            self.metrics.observe(event)
        if self.recorder is not None and isinstance(event, AudioOut):
            self.recorder.agent_audio(event.pcm, event.turn_id, self.clock.now())
        if not self.open:
            return
        async with self._lock:
            try:
                await self.ws.send_text(self.codec.encode(event))
            except (WebSocketDisconnect, RuntimeError, OSError):
                self.open = False

    async def fail(self, exc: ParleyError) -> None:
        """Send the error and close the socket with the error's close code."""
        await self.send(ErrorOut(exc.code, exc.message))
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
    conn = _Connection(ws, codec, state.metrics)
    try:
        overrides = turn_overrides(ws)  # before a single-use token is spent
        agent, record = await _open_session(state, ws)
    except ParleyError as exc:
        await conn.fail(exc)
        return

    providers = state.providers
    assert providers is not None
    models = SessionModels(providers.stt, providers.llm, providers.tts, providers.vad_factory())
    if agent.settings.get("record_audio", state.settings.turns.record_audio):
        conn.recorder = SessionRecorder(conn.clock.now())
    session = VoiceSession(
        conversation_id=record.id,
        agent=agent_config(agent, state, first_message=record.initial_message, overrides=overrides),
        models=models,
        emit=conn.send,
        clock=conn.clock,
        engine=engine_config(agent, state),
        observer=_StoreTurns(state, record.id),
    )
    live = LiveSession(record.id, agent.id, session, ws, conn)
    state.live.add(live)
    log.info("session started", extra={"session_id": record.id, "agent_id": agent.id})
    reason: EndReason = "client"
    try:
        if await state.agents.get(agent.id) is None:  # deleted while this socket opened
            await live.terminate("agent_deleted")
            return
        await session.start()
        state.metrics.sessions_started.inc()
        reason = await _pump(ws, conn, codec, session, state.settings.limits.client_timeout_s)
    except Exception:
        log.exception("session failed", extra={"session_id": record.id})
        reason = "error"
    finally:
        state.live.remove(record.id)
        if live.terminating is not None:  # ended by the API: it sends and closes
            await live.terminating.wait()
        await session.close(session.ended or reason, notify=conn.open)
        if conn.open:
            conn.open = False
            with contextlib.suppress(Exception):
                await ws.close(code=1000)
        state.metrics.sessions_ended.labels(session.ended or reason).inc()
        if conn.recorder is not None:
            await asyncio.to_thread(conn.recorder.save, state.recording_path(record.id))
        log.info(
            "session ended",
            extra={"session_id": record.id, "reason": session.ended or reason},
        )


async def _pump(
    ws: WebSocket,
    conn: _Connection,
    codec: NativeCodec,
    session: VoiceSession,
    client_timeout_s: float,
) -> EndReason:
    """Feed client frames to the session until the client ends, vanishes or goes quiet
    for ``client_timeout_s``, or the session ends itself (idle, max_turns)."""
    ended = asyncio.create_task(session.ended_event.wait())
    try:
        while True:
            receive = asyncio.create_task(ws.receive())
            done, _ = await asyncio.wait(
                {receive, ended}, timeout=client_timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
            if receive not in done:
                receive.cancel()
                if ended in done and session.ended is not None:
                    return session.ended
                quiet = f"nothing received from the client for {client_timeout_s:g} s"
                await conn.send(ErrorOut("session_error", quiet))
                return "idle"
            try:
                message = receive.result()
            except (WebSocketDisconnect, RuntimeError):
                return "client"
            if message["type"] == "websocket.disconnect":
                return "client"
            frame = message.get("text")
            if frame is None:
                frame = message.get("bytes") or b""
            try:
                event = codec.decode(frame)
            except ParleyError as exc:
                await conn.send(ErrorOut(exc.code, exc.message))
                continue
            if conn.recorder is not None and isinstance(event, AudioIn):
                conn.recorder.user_audio(event.pcm, conn.clock.now())
            await session.handle(event)
            if session.ended is not None:
                return session.ended
    finally:
        ended.cancel()


__all__ = ["SessionEnded", "router"]
