"""One live conversation, whatever its wire protocol: the engine session plus what the
server keeps of it (stored turns, metrics, the recording, the registry of live
sessions). An endpoint admits the caller (:mod:`parley.server.admission`), wraps its
connection in a :class:`~parley.server.state.Transport` and runs a
:class:`LiveConversation`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from parley.core.agent import AgentConfig, AgentLayer, EngineConfig, SessionModels
from parley.core.clock import SystemClock
from parley.core.events import (
    AudioIn,
    AudioOut,
    ClientEvent,
    EndReason,
    ErrorOut,
    ServerEvent,
    TextIn,
    ToolResultIn,
)
from parley.core.records import PastTurn, ToolCallRecord, TurnRecord
from parley.core.session import VoiceSession
from parley.observability.memory import release_after_session
from parley.observability.recording import SessionRecorder
from parley.providers.tts.cached_phrases import CachedPhrasesTTS
from parley.safety.policy_hook import PolicyHook
from parley.safety.recording_redaction import redact_recording
from parley.server.admission import abandon
from parley.server.inbound_limits import POLICY_VIOLATION, AudioPacer, Refusal
from parley.server.languages import session_voices
from parley.server.session_config import agent_config, engine_config
from parley.server.sessions import hash_token
from parley.server.state import NO_AGENT_LAYER, LiveSession, ServerState, Transport
from parley.server.validation import value_problem
from parley.storage import AgentRecord, SessionRecord, StoredTurn
from parley.storage.models import utcnow

log = logging.getLogger(__name__)


class _StoreTurns:
    """Stores each finished turn of one session, and its end: resumable for the window
    when its connection dropped or the replica drained (on an edge that resumes); nothing
    once the conversation went on over another connection."""

    def __init__(self, state: ServerState, session_id: str, *, resume_hash: str | None) -> None:
        self._state, self._session_id, self.resume_hash = state, session_id, resume_hash
        self.resumable = resume_hash is not None
        self.dropped = False
        """The client's connection went away without ending the conversation."""
        self.live: LiveSession | None = None

    @property
    def released(self) -> bool:
        """The conversation went on over another connection: nothing more is stored."""
        return self.live is not None and self.live.released

    async def on_turn(self, record: TurnRecord) -> None:
        if not self.released:
            await self._state.sessions.add_turn(self._session_id, record)

    async def on_turn_truncated(self, turn_id: str, text: str) -> None:
        if not self.released:
            await self._state.sessions.truncate_agent_turn(self._session_id, turn_id, text)

    async def on_tool_output(self, turn_id: str, call_id: str, output: Any) -> None:
        if not self.released:
            await self._state.sessions.add_tool_output(self._session_id, turn_id, call_id, output)

    async def on_end(self, reason: EndReason) -> None:
        if self.released:
            return
        window = self._state.settings.cluster.resume_window_s
        comes_back = self.resumable and window > 0 and (self.dropped or reason == "server_shutdown")
        until = utcnow() + timedelta(seconds=window) if comes_back else None
        replica = self._state.settings.cluster.replica_id
        await self._state.holders.detach(self._session_id, replica, reason, until, self.resume_hash)


def _call(stored: dict[str, Any]) -> ToolCallRecord:
    return ToolCallRecord(
        stored["call_id"], stored["name"], stored.get("arguments") or {}, stored.get("output")
    )


def past_turns(stored: list[StoredTurn]) -> list[PastTurn]:
    """Stored turns as the engine takes them back (a resumed conversation)."""
    return [
        PastTurn(
            t.turn_id,
            t.role,
            t.text,
            t.interrupted,
            tuple(_call(c) for c in t.tool_calls if c.get("call_id") and c.get("name")),
            t.language,
        )
        for t in stored
    ]


class LiveConversation:
    """One conversation on one connection: the engine session plus what the server keeps
    of it (stored turns, metrics, recording, the registry of live sessions)."""

    def __init__(
        self,
        state: ServerState,
        agent: AgentRecord,
        record: SessionRecord,
        transport: Transport,
        models: SessionModels,
        *,
        config: AgentConfig | None = None,
        engine: EngineConfig | None = None,
        peer: str | None = None,
        layer: AgentLayer = NO_AGENT_LAYER,
        resume_token: str | None = None,
    ) -> None:
        """``config`` replaces the stored agent's engine settings (ad-hoc sessions,
        per-connection overrides); by default they come from ``agent``. ``peer`` is the
        client's host (a cooldown follows a policy_violation). With a ``resume_token``
        (an edge whose clients resume) the client may continue the conversation after
        its connection drops."""
        self.state, self.agent, self.record, self.transport = state, agent, record, transport
        self.peer = peer
        self.clock = SystemClock()
        self.pacer = AudioPacer(state.settings.limits.audio_burst_s)
        self.recorder: SessionRecorder | None = None
        if agent.settings.get("record_audio", state.settings.turns.record_audio):
            self.recorder = SessionRecorder(self.clock.now())
        if config is None:
            config = agent_config(
                agent, state, first_message=record.initial_message, session=record
            )
        self.store = _StoreTurns(
            state, record.id, resume_hash=hash_token(resume_token) if resume_token else None
        )
        self.session = VoiceSession(
            conversation_id=record.id,
            agent=config,
            models=models,
            emit=self.emit,
            clock=self.clock,
            engine=engine or engine_config(agent, state),
            observer=self.store,
            layer=layer,
        )
        self.resume_token = resume_token
        self.live = LiveSession(record.id, agent.id, self.session, transport)
        self.store.live = self.live
        self.slot = state.capacity.slot_of(record.id)
        self.layer = layer
        self._finished = False

    @classmethod
    async def open(
        cls,
        state: ServerState,
        agent: AgentRecord,
        record: SessionRecord,
        transport: Transport,
        *,
        config: AgentConfig | None = None,
        peer: str | None = None,
        resume_token: str | None = None,
        resumed: bool = False,
    ) -> LiveConversation:
        """A conversation with the models the agent names (its ``provider_overrides``;
        the server's defaults for the rest), loaded on first use and shared. A
        ``resumed`` one goes on from its stored turns."""
        try:
            if config is None:
                config = agent_config(
                    agent, state, first_message=record.initial_message, session=record
                )
            pool, overrides = state.providers, agent.provider_overrides
            chosen = await pool.for_session(overrides, multilingual=not config.english_only)
            tts = chosen.tts
            if not config.english_only or agent.voices:
                spec = overrides.get("tts") or pool.defaults["tts"]
                voices, tts = await session_voices(pool, config, agent.voices, spec)
                config = replace(config, voices=voices)
            models = SessionModels(chosen.stt, chosen.llm, tts, chosen.vad_factory(), chosen.turn)
            layer = await state.agent_layer(agent, record, models)
            if layer.fixed_lines:  # fillers and fallbacks start at once, not after synthesis
                models = replace(models, tts=CachedPhrasesTTS(models.tts, layer.fixed_lines))
            live = cls(
                state, agent, record, transport, models, config=config, peer=peer, layer=layer,
                resume_token=resume_token,
            )  # fmt: skip
            if resumed:
                live.session.restore(past_turns(await state.sessions.turns(record.id)))
            return live
        except BaseException:
            await abandon(state, record.id)  # it never ran
            raise

    async def _save_recording(self, recorder: SessionRecorder) -> None:
        """Write the recording; with a policy that redacts personal data in recordings,
        it is published only once that data is silenced (in the background)."""
        path = self.state.recording_path(self.record.id)
        policy = next((h.policy for h in self.layer.hooks if isinstance(h, PolicyHook)), None)
        if policy is None or policy.pii is None or "recording" not in policy.body.pii.redact:
            await asyncio.to_thread(recorder.save, path)
            return
        draft = path.with_suffix(".redacting.wav")
        await asyncio.to_thread(recorder.save, draft)
        entities, detector = list(policy.body.pii.entities), policy.pii

        async def redact() -> None:
            try:
                silenced = await redact_recording(draft, detector, entities, path)
                log.info(
                    "recording redacted", extra={"session_id": self.record.id, "frames": silenced}
                )
            except Exception:
                log.exception(
                    "could not redact the recording; it was deleted",
                    extra={"session_id": self.record.id},
                )

        self.state.background(redact(), f"parley-redact-{self.record.id}")

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
        token = self.resume_token
        await self.state.holders.attach(
            self.record.id, self.state.settings.cluster.replica_id,
            hash_token(token) if token else None,
        )  # fmt: skip
        log.info(
            "session started",
            extra={"session_id": self.record.id, "agent_id": self.agent.id},
        )
        if await self.state.agents.get(self.agent.id) is None:  # deleted while connecting
            await self.live.terminate("agent_deleted")
            return False
        await self.session.start(resume_token=token)
        self.state.metrics.sessions_started.inc()
        return True

    async def feed(self, event: ClientEvent) -> None:
        """Client → engine (user audio is recorded too). Audio beyond the pacer's burst
        is dropped (:meth:`refuse`)."""
        if isinstance(event, AudioIn):
            refusal = self.pacer.admit(len(event.pcm))
            if refusal is not None:
                self.state.metrics.refused.labels(refusal.limit).inc()
                await self.refuse(refusal)
                return
        elif isinstance(event, TextIn | ToolResultIn):
            stored = event.text if isinstance(event, TextIn) else event.output
            problem = value_problem(stored, "text" if isinstance(event, TextIn) else "output")
            if problem is not None:  # never stored (Postgres refuses NUL in text and JSON)
                await self.emit(ErrorOut(problem.code, problem.message))
                return
        if self.recorder is not None and isinstance(event, AudioIn):
            self.recorder.user_audio(event.pcm, self.clock.now())
        await self.session.handle(event)

    async def refuse(self, refusal: Refusal) -> None:
        """Tell the client why something it sent was dropped; when the refusal says so,
        end the session (``policy_violation``, close code 1008)."""
        if refusal.error is not None:
            await self.emit(ErrorOut(refusal.error.code, refusal.error.message))
        if refusal.close:
            await self.state.penalties.add(self.record.api_key_id, self.peer)
            log.warning(
                "session ended: the client broke the limits",
                extra={"session_id": self.record.id, "limit": refusal.limit},
            )
            await self.live.terminate("policy_violation", POLICY_VIOLATION)

    async def run(self, talk: Callable[[], Awaitable[EndReason]]) -> EndReason:
        """Start, ``talk`` until the conversation ends (``talk`` returns why), finish.
        An unexpected failure ends the session with ``error``."""
        reason: EndReason = "client"
        try:
            if await self.start():
                reason = await talk()
        except Exception:
            log.exception("session failed", extra={"session_id": self.record.id})
            reason = "error"
        finally:
            reason = await self.finish(reason)
        return reason

    async def finish(self, reason: EndReason) -> EndReason:
        """End the session (if the engine has not already), close the connection, store
        the recording; returns the reason the session ended with. Idempotent."""
        if self._finished:
            return self.session.ended or reason
        self._finished = True
        if self.state.live.get(self.record.id) is self.live:  # not yet taken over here
            self.state.live.remove(self.record.id)
        if self.slot is not None:
            self.slot.release()
        live = self.live
        self.store.dropped = self.session.ended is None and reason == "client"
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
            await self._save_recording(self.recorder)
            self.recorder = None  # its audio goes now, not when the GC collects the session
        release_after_session()  # hand freed memory back to the OS (throttled, off the loop)
        log.info("session ended", extra={"session_id": self.record.id, "reason": final})
        return final
