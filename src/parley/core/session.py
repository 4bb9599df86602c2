"""VoiceSession: one conversation. Composes VAD → turn-taking → STT → LLM → TTS and owns
the cancellation of an agent turn when the user barges in.

The session knows nothing about sockets or JSON: events come in through
:meth:`VoiceSession.handle` and go out through the ``emit`` coroutine it was given.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from parley.audio.pcm import FrameSplitter, duration_ms
from parley.audio.resample import StreamResampler
from parley.core.clauses import ClauseAggregator
from parley.core.clock import Clock
from parley.core.context import ConversationContext
from parley.core.events import (
    SAMPLE_RATE,
    AgentTurnEnd,
    AudioIn,
    AudioOut,
    ClientEvent,
    Connected,
    ControlAck,
    ControlIn,
    EndIn,
    EndReason,
    ErrorOut,
    Interruption,
    MetricsOut,
    PingIn,
    PlaybackIn,
    Pong,
    ServerEvent,
    SessionEnded,
    SpeechStarted,
    SpeechStopped,
    TextIn,
    ToolResultIn,
    TranscriptOut,
)
from parley.core.metrics import TurnTimeline
from parley.core.records import TurnRecord
from parley.core.turns import (
    FRAME_MS,
    EndOfTurn,
    Speculate,
    SpeechResumed,
    SpeechStart,
    TurnConfig,
    TurnDetector,
    TurnSignal,
)
from parley.providers.llm.base import LanguageModel
from parley.providers.stt.base import SpeechToText
from parley.providers.tts.base import TextToSpeech
from parley.providers.vad.base import VoiceActivityDetector

log = logging.getLogger(__name__)

Emit = Callable[[ServerEvent], Awaitable[None]]
OUT_CHUNK_BYTES = 8000
"""Agent audio goes out in pieces of at most 250 ms, so an interruption cuts it quickly."""
_NOT_SPEECH = re.compile(r"^\W*$|^\s*[\[(][^\])]*[\])]\s*$")
"""Transcripts that hold no words ("", "...", "[BLANK_AUDIO]", "(music)")."""


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """What the engine needs to know about the agent it plays."""

    agent_id: str
    system_prompt: str
    voice_id: str
    first_message: str | None = None
    language: str = "en"
    max_turns: int = 50
    turns: TurnConfig = field(default_factory=TurnConfig)
    idle_timeout_ms: float = 15000.0
    """User silence after the agent finished before it checks in; 0 disables."""
    idle_prompts: int = 2


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Engine knobs shared by all sessions of a server."""

    llm_max_tokens: int = 96
    llm_temperature: float = 0.3
    history_messages: int = 12
    poll_interval_s: float = 0.02
    preroll_ms: float = 320.0
    max_utterance_ms: float = 28_000.0


@dataclass(frozen=True, slots=True)
class SessionModels:
    """The models one session uses: shared STT/LLM/TTS, its own VAD state."""

    stt: SpeechToText
    llm: LanguageModel
    tts: TextToSpeech
    vad: VoiceActivityDetector


class SessionObserver(Protocol):
    """Receives finished turns and the end of the session (storage implements this)."""

    async def on_turn(self, record: TurnRecord) -> None: ...

    async def on_end(self, reason: EndReason) -> None: ...


@dataclass
class _AgentTurn:
    turn_id: str
    task: asyncio.Task[None] | None = None
    spoken: list[str] = field(default_factory=list)
    generated: list[str] = field(default_factory=list)
    audio_sent: bool = False
    finished: bool = False


def _utcnow() -> datetime:
    return datetime.now(UTC)


class VoiceSession:
    """One live conversation between a user and an agent."""

    def __init__(
        self,
        *,
        conversation_id: str,
        agent: AgentConfig,
        models: SessionModels,
        emit: Emit,
        clock: Clock,
        engine: EngineConfig | None = None,
        observer: SessionObserver | None = None,
        wallclock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.conversation_id = conversation_id
        self.agent = agent
        self.models = models
        self.engine = engine or EngineConfig()
        self.context = ConversationContext(
            agent.system_prompt, max_messages=self.engine.history_messages
        )
        self._emit = emit
        self._clock = clock
        self._observer = observer
        self._wallclock = wallclock
        self._detector = TurnDetector(agent.turns)
        self._splitter = FrameSplitter()
        self._recent: deque[bytes] = deque(maxlen=max(1, int(self.engine.preroll_ms / FRAME_MS)))
        self._utterance: bytearray | None = None
        self._timeline = TurnTimeline()
        self._stt_task: asyncio.Task[str] | None = None
        self._response: _AgentTurn | None = None
        self._poller: asyncio.Task[None] | None = None
        self._prefill: asyncio.Task[None] | None = None
        self._turns = 0
        self._listening = True
        self._paused = False
        self._played_ms = 0
        self.ended: EndReason | None = None

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Announce the session, start the end-of-turn timer and speak the first message."""
        await self._emit(Connected(self.conversation_id, self.agent.agent_id))
        self._poller = asyncio.create_task(self._poll_loop(), name="parley-turn-poll")
        prefix = self.context.messages()
        if self.agent.first_message:
            self._start_agent_turn(
                self._new_turn_id(), None, first_message=self.agent.first_message
            )
            prefix.append({"role": "assistant", "content": self.agent.first_message})
        self._prefill = asyncio.create_task(self.models.llm.prefill(prefix), name="parley-prefill")

    async def close(self, reason: EndReason, *, notify: bool = True) -> None:
        """End the session: cancel every task, record a cut-off agent turn, say why."""
        if self.ended is not None:
            return
        self.ended = reason
        if self._poller:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self._stt_task:
            self._stt_task.cancel()
        if self._prefill and not self._prefill.done():
            self._prefill.cancel()
        await self._cancel_response(announce=False)
        if self._observer is not None:
            try:
                await self._observer.on_end(reason)
            except Exception:
                log.exception(
                    "could not store session end", extra={"session_id": self.conversation_id}
                )
        if notify:
            with contextlib.suppress(Exception):
                await self._emit(SessionEnded(reason))

    async def handle(self, event: ClientEvent) -> None:
        """Process one client event (never blocks on model inference)."""
        if self.ended is not None:
            return
        match event:
            case AudioIn(pcm=pcm):
                await self._on_audio(pcm)
            case TextIn(text=text):
                await self._on_text(text)
            case ControlIn(action=action):
                await self._on_control(action)
            case PlaybackIn(played_ms=played):
                self._played_ms = played
            case PingIn(ts=ts):
                await self._emit(Pong(ts))
            case ToolResultIn(call_id=call_id):
                await self._emit(
                    ErrorOut(
                        "validation_error", f"no tool call {call_id!r} is waiting for a result"
                    )
                )
            case EndIn():
                await self.close("client")

    # ------------------------------------------------------------ input

    async def _on_audio(self, pcm: bytes) -> None:
        if self._paused or not self._listening:
            return
        for frame in self._splitter.push(pcm):
            probability = self.models.vad.speech_probability(frame)
            self._recent.append(frame)
            if self._utterance is not None:
                self._utterance += frame
            signals = self._detector.on_frame(probability, self._clock.now())
            if (
                self._utterance is not None
                and duration_ms(self._utterance, SAMPLE_RATE) > self.engine.max_utterance_ms
            ):
                now = self._clock.now()
                self._detector.reset()
                signals.append(EndOfTurn(now, now))
            for signal in signals:
                await self._on_signal(signal)

    async def _poll_loop(self) -> None:
        while True:
            await self._clock.sleep(self.engine.poll_interval_s)
            if self._paused or not self._listening:
                continue
            for signal in self._detector.poll(self._clock.now()):
                await self._on_signal(signal)

    async def _on_signal(self, signal: TurnSignal) -> None:
        match signal:
            case SpeechStart():
                self._utterance = bytearray(b"".join(self._recent))
                self._timeline = TurnTimeline()
                if self._stt_task:
                    self._stt_task.cancel()
                    self._stt_task = None
                await self._emit(SpeechStarted())
                if self._response is not None:
                    await self._cancel_response(announce=True)
            case Speculate(speech_end_at=end):
                self._timeline.speech_end = end
                self._start_stt()
            case SpeechResumed():
                if self._stt_task:
                    self._stt_task.cancel()
                    self._stt_task = None
            case EndOfTurn(speech_end_at=end, decided_at=decided):
                self._timeline.speech_end = end
                self._timeline.end_of_turn = decided
                await self._emit(SpeechStopped())
                if self._stt_task is None:
                    self._start_stt()
                stt, timeline = self._stt_task, self._timeline
                self._stt_task, self._utterance = None, None
                assert stt is not None
                self._start_agent_turn(self._new_turn_id(), timeline, transcription=stt)

    def _start_stt(self) -> None:
        audio = bytes(self._utterance or b"")
        self._timeline.stt_start = self._clock.now()
        self._stt_task = asyncio.create_task(
            self.models.stt.transcribe(audio, language=self.agent.language), name="parley-stt"
        )

    async def _on_text(self, text: str) -> None:
        await self._cancel_response(announce=True)
        self._start_agent_turn(self._new_turn_id(), TurnTimeline(), user_text=text)

    async def _on_control(self, action: str) -> None:
        if action == "interrupt":
            await self._cancel_response(announce=True)
        elif action in ("stop_listening", "start_listening"):
            self._listening = action == "start_listening"
            self._reset_listening()
        elif action in ("pause", "resume"):
            self._paused = action == "pause"
            if self._paused:
                await self._cancel_response(announce=True)
            self._reset_listening()
        await self._emit(ControlAck(action))  # type: ignore[arg-type]

    def _reset_listening(self) -> None:
        self._detector.reset()
        self._splitter.reset()
        self._utterance = None
        if self._stt_task:
            self._stt_task.cancel()
            self._stt_task = None

    # ------------------------------------------------------------ agent turns

    def _new_turn_id(self) -> str:
        self._turns += 1
        return f"turn_{self._turns}"

    def _start_agent_turn(
        self,
        turn_id: str,
        timeline: TurnTimeline | None,
        *,
        transcription: asyncio.Task[str] | None = None,
        user_text: str | None = None,
        first_message: str | None = None,
    ) -> None:
        turn = _AgentTurn(turn_id)
        turn.task = asyncio.create_task(
            self._run_exchange(turn, timeline, transcription, user_text, first_message),
            name=f"parley-{turn_id}",
        )
        self._response = turn

    async def _run_exchange(
        self,
        turn: _AgentTurn,
        timeline: TurnTimeline | None,
        transcription: asyncio.Task[str] | None,
        user_text: str | None,
        first_message: str | None,
    ) -> None:
        started = self._wallclock()
        try:
            if transcription is not None:
                user_text = await transcription
                if timeline is not None:
                    timeline.stt_done = self._clock.now()
                if _NOT_SPEECH.match(user_text):
                    log.info("utterance without words ignored", extra=self._log_extra(turn))
                    self._response = None
                    return
            if user_text is not None:
                await self._emit(TranscriptOut("user", user_text, True, turn.turn_id))
                self.context.add_user(user_text)
                await self._record(
                    TurnRecord(turn.turn_id, "user", user_text, started, self._wallclock())
                )
                await self._speak(
                    turn, self._llm_tokens(), timeline or TurnTimeline(), measured=True
                )
            else:
                await self._speak(turn, _one(first_message or ""), TurnTimeline(), measured=False)
        except asyncio.CancelledError:
            if turn.finished:
                raise
            if transcription is not None:
                transcription.cancel()
            heard = " ".join(turn.spoken)
            if heard or turn.audio_sent:
                self.context.add_agent(heard, interrupted=True)
                await self._record(
                    TurnRecord(turn.turn_id, "agent", heard, started, self._wallclock(), True)
                )
            raise
        except Exception as exc:
            log.exception("agent turn failed", extra=self._log_extra(turn))
            with contextlib.suppress(Exception):
                await self._emit(
                    ErrorOut("internal_error", f"the agent could not answer: {type(exc).__name__}")
                )
        finally:
            if self._response is turn:
                self._response = None

    async def _llm_tokens(self) -> AsyncIterator[str]:
        async for token in self.models.llm.stream(
            self.context.messages(),
            max_tokens=self.engine.llm_max_tokens,
            temperature=self.engine.llm_temperature,
        ):
            yield token

    async def _speak(
        self,
        turn: _AgentTurn,
        tokens: AsyncIterator[str],
        timeline: TurnTimeline,
        *,
        measured: bool,
    ) -> None:
        clauses: asyncio.Queue[str | None] = asyncio.Queue()
        timeline.llm_start = self._clock.now()
        tts_idle = asyncio.Event()
        tts_idle.set()
        producer = asyncio.create_task(
            self._aggregate(tokens, clauses, timeline, tts_idle, turn.generated)
        )
        voice = self.models.tts.voice(self.agent.voice_id)
        seq = 0
        try:
            while (clause := await clauses.get()) is not None:
                resampler = StreamResampler(voice.sample_rate, SAMPLE_RATE)
                pending = b""
                tts_idle.clear()
                try:
                    async for pcm in self.models.tts.synthesize(clause, voice_id=voice.id):
                        if timeline.first_tts_audio is None:
                            timeline.first_tts_audio = self._clock.now()
                        pending += resampler.push(pcm)
                        pending, seq = await self._send_audio(
                            turn, pending, seq, timeline, flush=False
                        )
                finally:
                    tts_idle.set()
                pending += resampler.push(b"", last=True)
                _, seq = await self._send_audio(turn, pending, seq, timeline, flush=True)
                turn.spoken.append(clause)
                await self._emit(TranscriptOut("agent", " ".join(turn.spoken), False, turn.turn_id))
            await producer
        finally:
            producer.cancel()
        text = " ".join(turn.spoken)
        timeline.turn_end = self._clock.now()
        # The LLM's own words (not the cleaned-up spoken text) keep its prompt cache valid.
        self.context.add_agent("".join(turn.generated) or text)
        turn.finished = True  # from here on, closing the session waits instead of cancelling
        latency = timeline.latency_ms()
        now = self._wallclock()
        await self._record(TurnRecord(turn.turn_id, "agent", text, now, now, False, latency))
        await self._emit(TranscriptOut("agent", text, True, turn.turn_id))
        if measured:
            await self._emit(MetricsOut(turn.turn_id, latency))
        await self._emit(AgentTurnEnd(turn.turn_id))

    async def _aggregate(
        self,
        tokens: AsyncIterator[str],
        out: asyncio.Queue[str | None],
        timeline: TurnTimeline,
        tts_idle: asyncio.Event,
        generated: list[str],
    ) -> None:
        """LLM tokens → clauses. Pauses while TTS synthesizes: speech already queued for
        the user comes first, and generation catches up while that audio plays."""
        aggregator = ClauseAggregator()
        try:
            async for token in tokens:
                generated.append(token)
                await tts_idle.wait()
                if timeline.llm_first_token is None:
                    timeline.llm_first_token = self._clock.now()
                for clause in aggregator.push(token):
                    if timeline.first_clause is None:
                        timeline.first_clause = self._clock.now()
                    await out.put(clause)
            for clause in aggregator.flush():
                if timeline.first_clause is None:
                    timeline.first_clause = self._clock.now()
                await out.put(clause)
        finally:
            await out.put(None)

    async def _send_audio(
        self, turn: _AgentTurn, pcm: bytes, seq: int, timeline: TurnTimeline, *, flush: bool
    ) -> tuple[bytes, int]:
        while len(pcm) >= OUT_CHUNK_BYTES or (flush and pcm):
            piece, pcm = pcm[:OUT_CHUNK_BYTES], pcm[OUT_CHUNK_BYTES:]
            await self._emit(AudioOut(piece, turn.turn_id, seq))
            if timeline.first_audio_sent is None:
                timeline.first_audio_sent = self._clock.now()
            turn.audio_sent = True
            seq += 1
        return pcm, seq

    async def _cancel_response(self, *, announce: bool) -> None:
        turn = self._response
        if turn is None:
            return
        self._response = None
        assert turn.task is not None
        if not turn.finished:
            turn.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await turn.task
        if announce and turn.audio_sent and not turn.finished:
            await self._emit(Interruption(turn.turn_id))

    async def _record(self, record: TurnRecord) -> None:
        if self._observer is None:
            return
        try:
            await self._observer.on_turn(record)
        except Exception:
            log.exception("could not store turn", extra={"session_id": self.conversation_id})

    def _log_extra(self, turn: _AgentTurn) -> dict[str, str]:
        return {"session_id": self.conversation_id, "turn_id": turn.turn_id}


async def _one(text: str) -> AsyncIterator[str]:
    yield text
