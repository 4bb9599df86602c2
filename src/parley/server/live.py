"""What every voice endpoint shares, whatever its wire protocol: checking who connects
and to which agent, the stored session, the engine, storage of turns, metrics and the
recording. A protocol endpoint authenticates with :func:`open_session`, wraps its
connection in a :class:`~parley.server.state.Transport` and drives a
:class:`LiveConversation`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from parley.audio.pcm import FRAME_MS
from parley.core.agent import AgentConfig, EngineConfig, SessionModels
from parley.core.clock import SystemClock
from parley.core.events import (
    AudioIn,
    AudioOut,
    ClientEvent,
    EndReason,
    ErrorOut,
    ServerEvent,
)
from parley.core.records import TurnRecord
from parley.core.session import VoiceSession
from parley.core.turns import TurnConfig
from parley.errors import (
    AuthenticationError,
    AuthorizationError,
    ModelsNotReadyError,
    NotFoundError,
    ParleyError,
    SessionError,
    ValidationError,
)
from parley.observability.recording import SessionRecorder
from parley.providers.llm.base import ToolSpec
from parley.server.auth import authenticate, check_rate
from parley.server.sessions import hash_token
from parley.server.state import LiveSession, ServerState, Transport
from parley.storage import AgentRecord, ApiKeyRecord, SessionRecord
from parley.storage.models import utcnow

log = logging.getLogger(__name__)

_TOKEN_PROBLEMS = {
    "unknown": "invalid session token",
    "used": "this session token was already used; create a new session",
    "ended": "this session has ended; create a new session",
    "expired": "this session token has expired; create a new session",
}


async def open_session(
    state: ServerState,
    *,
    token: str | None = None,
    api_key: str | None = None,
    agent_id: str | None = None,
    protocol: str = "native",
    default_agent: bool = False,
    metadata: dict[str, Any] | None = None,
) -> tuple[AgentRecord, SessionRecord]:
    """Check credentials and agent; return the agent and the session to run.

    A session ``token`` (single use, before it expires) claims a session created over
    REST; otherwise ``api_key`` opens a new session with ``agent_id`` (or, when
    ``default_agent``, with the server's default agent if no id is given). The
    session's metadata records the ``protocol``.
    """
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
        key = await authenticate(state, api_key)
        check_rate(state, key)
        if not agent_id and default_agent:
            agent_id = state.settings.default_agent_id
        if not agent_id:
            raise ValidationError("missing agent_id", param="agent_id")
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
    meta = {"protocol": protocol, **(metadata or {})}
    return agent, await state.sessions.create(agent.id, meta, api_key_id=key.id)


def agent_config(
    record: AgentRecord,
    state: ServerState,
    *,
    first_message: str | None = None,
    overrides: dict[str, float] | None = None,
) -> AgentConfig:
    """Engine view of a stored agent; turn settings it does not set come from the server.

    ``first_message`` (a session's ``initial_message``) replaces the agent's own;
    ``overrides`` (per conversation) win over the agent's turn settings.
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
        tools=tool_specs(record.tools),
    )


def tool_specs(tools: list[dict[str, Any]] | None) -> tuple[ToolSpec, ...]:
    """The engine's tool specs from an agent's stored ``tools`` (OpenAI function form)."""
    specs = []
    for tool in tools or []:
        fn = tool.get("function", tool)
        if isinstance(fn, dict) and fn.get("name"):
            specs.append(
                ToolSpec(
                    name=str(fn["name"]),
                    description=str(fn.get("description") or ""),
                    parameters=dict(fn.get("parameters") or {"type": "object"}),
                )
            )
    return tuple(specs)


def engine_config(record: AgentRecord, state: ServerState) -> EngineConfig:
    """Server engine knobs with the agent's provider overrides applied."""
    m, o = state.settings.models, record.provider_overrides
    return EngineConfig(
        llm_max_tokens=int(o.get("llm_max_tokens") or m.llm_max_tokens),
        llm_temperature=float(o.get("llm_temperature", m.llm_temperature)),
        history_messages=m.history_messages,
        speculative_reply=m.speculative_reply,
    )


class _StoreTurns:
    """Stores each finished turn of one session."""

    def __init__(self, state: ServerState, session_id: str) -> None:
        self._state, self._session_id = state, session_id

    async def on_turn(self, record: TurnRecord) -> None:
        await self._state.sessions.add_turn(self._session_id, record)

    async def on_turn_truncated(self, turn_id: str, text: str) -> None:
        await self._state.sessions.truncate_agent_turn(self._session_id, turn_id, text)

    async def on_tool_output(self, turn_id: str, call_id: str, output: Any) -> None:
        await self._state.sessions.add_tool_output(self._session_id, turn_id, call_id, output)

    async def on_end(self, reason: EndReason) -> None:
        await self._state.sessions.end(self._session_id, reason)


class LiveConversation:
    """One conversation on one connection: the engine session plus what the server keeps
    of it (stored turns, metrics, recording, the registry of live sessions)."""

    def __init__(
        self,
        state: ServerState,
        agent: AgentRecord,
        record: SessionRecord,
        transport: Transport,
        *,
        config: AgentConfig | None = None,
        engine: EngineConfig | None = None,
    ) -> None:
        """``config`` replaces the stored agent's engine settings (ad-hoc sessions,
        per-connection overrides); by default they come from ``agent``."""
        self.state, self.agent, self.record, self.transport = state, agent, record, transport
        self.clock = SystemClock()
        providers = state.providers
        assert providers is not None
        models = SessionModels(providers.stt, providers.llm, providers.tts, providers.vad_factory())
        self.recorder: SessionRecorder | None = None
        if agent.settings.get("record_audio", state.settings.turns.record_audio):
            self.recorder = SessionRecorder(self.clock.now())
        if config is None:
            config = agent_config(agent, state, first_message=record.initial_message)
        self.session = VoiceSession(
            conversation_id=record.id,
            agent=config,
            models=models,
            emit=self.emit,
            clock=self.clock,
            engine=engine or engine_config(agent, state),
            observer=_StoreTurns(state, record.id),
        )
        self.live = LiveSession(record.id, agent.id, self.session, transport)
        self._finished = False

    @property
    def session_id(self) -> str:
        """The stored session's id (``ses_...``)."""
        return self.record.id

    async def emit(self, event: ServerEvent) -> None:
        """Engine → client: count it, record agent audio, send it while the peer is there."""
        self.state.metrics.observe(event)
        if self.recorder is not None and isinstance(event, AudioOut):
            self.recorder.agent_audio(event.pcm, event.turn_id, self.clock.now())
        if self.transport.open:
            await self.transport.deliver(event)

    async def start(self) -> bool:
        """Register the session and start the engine (greeting). False if the agent was
        deleted meanwhile (the client was told; call :meth:`finish` anyway)."""
        self.state.live.add(self.live)
        log.info(
            "session started",
            extra={"session_id": self.record.id, "agent_id": self.agent.id},
        )
        if await self.state.agents.get(self.agent.id) is None:  # deleted while connecting
            await self.live.terminate("agent_deleted")
            return False
        await self.session.start()
        self.state.metrics.sessions_started.inc()
        return True

    async def feed(self, event: ClientEvent) -> None:
        """Client → engine (user audio is recorded too)."""
        if self.recorder is not None and isinstance(event, AudioIn):
            self.recorder.user_audio(event.pcm, self.clock.now())
        await self.session.handle(event)

    async def finish(self, reason: EndReason) -> EndReason:
        """End the session (if the engine has not already), close the connection, store
        the recording; returns the reason the session ended with. Idempotent."""
        if self._finished:
            return self.session.ended or reason
        self._finished = True
        self.state.live.remove(self.record.id)
        live = self.live
        if live.terminating is not None:  # ended by the API: it sends and closes
            await live.terminating.wait()
        await self.session.close(self.session.ended or reason, notify=self.transport.open)
        if self.transport.open:
            self.transport.open = False
            with contextlib.suppress(Exception):
                await self.transport.close(1000, "")
        final = self.session.ended or reason
        self.state.metrics.sessions_ended.labels(final).inc()
        if self.recorder is not None:
            await asyncio.to_thread(self.recorder.save, self.state.recording_path(self.record.id))
        log.info("session ended", extra={"session_id": self.record.id, "reason": final})
        return final


async def pump_frames(
    ws: WebSocket,
    live: LiveConversation,
    decode: Callable[[str | bytes], Iterable[ClientEvent]],
    client_timeout_s: float,
    *,
    peer: str = "the client",
) -> EndReason:
    """Feed a socket's frames, decoded by the protocol's ``decode``, to the session until
    the peer ends or vanishes, sends nothing for ``client_timeout_s``, or the session
    ends itself (idle, max_turns). A frame ``decode`` refuses gets an ``error`` event."""
    session = live.session
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
                quiet = f"nothing received from {peer} for {client_timeout_s:g} s"
                await live.emit(ErrorOut("session_error", quiet))
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
                events = list(decode(frame))
            except ParleyError as exc:
                await live.emit(ErrorOut(exc.code, exc.message))
                continue
            for event in events:
                await live.feed(event)
            if session.ended is not None:
                return session.ended
    finally:
        ended.cancel()
