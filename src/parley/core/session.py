"""VoiceSession: one conversation. Composes VAD → turn-taking → STT → LLM → TTS and owns
the cancellation of an agent turn when the user barges in.

The session knows nothing about sockets or JSON: events come in through
:meth:`VoiceSession.handle` and go out through the ``emit`` coroutine it was given.

Barge-in is two-step. Speech of ``interrupt_min_speech_ms`` while the agent is audible
suspends the agent at once (``interruption``: the client drops queued audio). When the
user's utterance is transcribed, real words end the agent's turn where the user stopped
hearing it; a backchannel ("mhm") or a noise without words resumes the agent where it
stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from parley.audio.pcm import FRAME_MS, SAMPLE_RATE, FrameSplitter, duration_ms
from parley.core.agent import AgentConfig, EngineConfig, SessionModels, SessionObserver
from parley.core.clock import Clock
from parley.core.context import ConversationContext
from parley.core.endpointing import has_words, is_backchannel, silence_target_ms
from parley.core.events import (
    AgentTurnEnd,
    AgentTurnStart,
    AgentTurnStatus,
    AudioIn,
    ClearIn,
    ClientEvent,
    CommitIn,
    Connected,
    ControlAck,
    ControlAction,
    ControlIn,
    EndIn,
    EndReason,
    ErrorOut,
    ForgetIn,
    Interruption,
    MetricsOut,
    PingIn,
    PlaybackIn,
    Pong,
    ReconfigureIn,
    RespondIn,
    ServerEvent,
    SessionEnded,
    SpeechStarted,
    SpeechStopped,
    TextIn,
    ToolCallOut,
    ToolResultIn,
    TranscriptOut,
    TruncateIn,
    UserTurnDropped,
)
from parley.core.metrics import TurnTimeline
from parley.core.records import ToolCallRecord, TurnRecord
from parley.core.speaker import AgentSpeaker, ClauseMark, heard_text
from parley.core.turns import (
    EndOfTurn,
    Speculate,
    SpeechResumed,
    SpeechStart,
    TurnDetector,
    TurnSignal,
)
from parley.providers.llm.base import ChatMessage, ToolCall, ToolChoice

log = logging.getLogger(__name__)

Emit = Callable[[ServerEvent], Awaitable[None]]

IDLE_PROMPT = "Are you still there?"
IDLE_GOODBYE = "It seems you have stepped away. Goodbye for now!"
MAX_TURNS_GOODBYE = "We have reached the end of our time for this conversation. Goodbye!"
MIN_COMMIT_MS = 100.0
"""A committed user turn needs at least this much audio."""
PAST_TURNS_KEPT = 16
"""Agent turns whose clause timing is kept, so a client can still truncate them."""


class _Stage(Enum):
    SPECULATING = "speculating"  # reply prepared during the user's pause, not yet released
    TRANSCRIBING = "transcribing"  # waiting for STT; nothing said to the client yet
    HOLDING = "holding"  # transcript suggests more is coming; waiting a little longer
    ANSWERING = "answering"  # user turn committed, agent reply in progress
    PLAYING = "playing"  # all audio sent, the client is still playing it


@dataclass
class _Exchange:
    """One agent turn in progress (with the user turn that caused it, if any)."""

    turn_id: str
    timeline: TurnTimeline
    stage: _Stage = _Stage.ANSWERING
    utterance: bytes = b""
    speaker: AgentSpeaker | None = None
    task: asyncio.Task[None] | None = None
    commit: asyncio.Event | None = None
    """Set at end of turn for a speculative exchange; audio waits for it."""
    reply: bool = True
    """Answer once the user turn is in (false: transcribe only)."""
    requested: bool = False
    """The client asked for the answer (RespondIn): it comes even if the turn is dropped."""
    instructions: str | None = None
    tool_choice: ToolChoice | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    started: bool = False
    """``agent_turn_start`` was sent; an ``agent_turn_end`` is owed."""
    started_at: datetime | None = None
    """Wall-clock time the agent turn began speaking."""
    finished: bool = False


@dataclass(frozen=True, slots=True)
class _Suspended:
    """An agent turn cut by user speech, until we know whether the user took the turn."""

    turn_id: str
    speaker: AgentSpeaker
    timeline: TurnTimeline
    started: datetime
    tool_calls: tuple[ToolCall, ...] = ()


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
        self._voice = models.tts.voice(agent.voice_id)
        self._detector = TurnDetector(agent.turns)
        self._splitter = FrameSplitter()
        self._recent: deque[bytes] = deque(maxlen=max(1, int(self.engine.preroll_ms / FRAME_MS)))
        self._utterance: bytearray | None = None
        self._timeline = TurnTimeline()
        self._stt_task: asyncio.Task[str] | None = None
        self._response: _Exchange | None = None
        self._suspended: _Suspended | None = None
        self._poller: asyncio.Task[None] | None = None
        self._prefill: asyncio.Task[None] | None = None
        self._output_open = asyncio.Event()
        self._output_open.set()
        self._turns = 0
        self._user_turns = 0
        self._listening = True
        self._paused = False
        self._last_activity = clock.now()
        self._idle_prompts_used = 0
        self._input_ms = 0.0
        self._pending_input = bytearray()
        """User audio not yet committed (turn_detection off)."""
        self._tool_waiting: dict[str, str] = {}
        """Tool calls waiting for a result: call id → turn id."""
        self._stored_calls: dict[str, str] = {}
        """Tool calls of stored agent turns, without a result yet: call id → turn id."""
        self._early_outputs: dict[str, Any] = {}
        """Tool results that came before their agent turn was stored: call id → output."""
        self._past_marks: OrderedDict[str, list[ClauseMark]] = OrderedDict()
        self.ended: EndReason | None = None
        self.ended_event = asyncio.Event()
        """Set once the session is over (also when it ends itself: idle, max_turns)."""

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Announce the session, start the turn timer and speak the first message."""
        await self._emit(Connected(self.conversation_id, self.agent.agent_id))
        self._poller = asyncio.create_task(self._poll_loop(), name="parley-turn-poll")
        prefix = self.context.messages()
        if self.agent.first_message:
            self._say(self.agent.first_message)
            prefix.append({"role": "assistant", "content": self.agent.first_message})
        self._prefill = asyncio.create_task(self.models.llm.prefill(prefix), name="parley-prefill")

    async def close(self, reason: EndReason, *, notify: bool = True) -> None:
        """End the session: cancel every task, store what the user heard, say why."""
        if self.ended is not None:
            return
        self.ended = reason
        if self._poller and self._poller is not asyncio.current_task():
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        for task in (self._stt_task, self._prefill):
            if task and not task.done():
                task.cancel()
        await self._stop_response(merge_audio=False, announce=False, end_turn=False)
        await self._end_suspended(interrupted=True)
        if self._observer is not None:
            try:
                await self._observer.on_end(reason)
            except Exception:
                log.exception("could not store session end", extra=self._extra())
        if notify:
            with contextlib.suppress(Exception):
                await self._emit(SessionEnded(reason))
        self.ended_event.set()

    async def handle(self, event: ClientEvent) -> None:
        """Process one client event (never blocks on model inference)."""
        if self.ended is not None:
            return
        match event:
            case AudioIn(pcm=pcm):
                await self._on_audio(pcm)
            case TextIn(text=text, respond=respond):
                await self._on_text(text, respond=respond)
            case CommitIn():
                await self._on_commit()
            case ClearIn():
                self._pending_input.clear()
                if self.agent.turn_detection:
                    self._reset_listening()
            case RespondIn(instructions=instructions, tool_choice=choice):
                await self._on_respond(instructions, choice)
            case TruncateIn(turn_id=turn_id, audio_end_ms=end_ms):
                await self._on_truncate(turn_id, end_ms)
            case ForgetIn(turn_id=turn_id):
                if not self.context.forget(turn_id):
                    await self._emit(ErrorOut("validation_error", f"no turn {turn_id!r}"))
            case ReconfigureIn(agent=agent):
                await self._reconfigure(agent)
            case ControlIn(action=action):
                await self._on_control(action)
            case PlaybackIn(played_ms=played):
                speaker = self._audible_speaker()
                if speaker is not None:
                    speaker.report_playback(played)
            case PingIn(ts=ts):
                await self._emit(Pong(ts))
            case ToolResultIn(call_id=call_id, output=output, respond=respond):
                await self._on_tool_result(call_id, output, respond=respond)
            case EndIn():
                await self.close("client")

    # ------------------------------------------------------------ input

    async def _on_audio(self, pcm: bytes) -> None:
        if self._paused or not self._listening:
            return
        self._input_ms += duration_ms(pcm, SAMPLE_RATE)
        if not self.agent.turn_detection:
            self._pending_input += pcm
            limit = int(self.engine.max_utterance_ms * SAMPLE_RATE / 1000) * 2
            if len(self._pending_input) > limit:
                del self._pending_input[: len(self._pending_input) - limit]
            return
        for frame in self._splitter.push(pcm):
            probability = self.models.vad.speech_probability(frame)
            self._recent.append(frame)
            if self._utterance is not None:
                self._utterance += frame
            self._detector.agent_speaking = self._audible_speaker() is not None
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
            if self._paused or not self._listening or not self.agent.turn_detection:
                continue
            for signal in self._detector.poll(self._clock.now()):
                await self._on_signal(signal)
            await self._check_idle()

    async def _on_signal(self, signal: TurnSignal) -> None:
        match signal:
            case SpeechStart():
                await self._on_speech_start()
            case Speculate(speech_end_at=end):
                self._timeline.speech_end = end
                self._start_stt()
            case SpeechResumed():
                await self._drop_speculation()
                if self._stt_task:
                    self._stt_task.cancel()
                    self._stt_task = None
            case EndOfTurn(speech_end_at=end, decided_at=decided):
                self._timeline.speech_end = end
                self._timeline.end_of_turn = decided
                end_ms = max(0.0, self._input_ms - (self._clock.now() - end) * 1000.0)
                speculation = self._speculation()
                if speculation is not None and speculation.commit is not None:
                    await self._emit(SpeechStopped(end_ms, speculation.turn_id))
                    speculation.utterance = bytes(self._utterance or b"")
                    self._stt_task, self._utterance = None, None
                    speculation.stage = _Stage.TRANSCRIBING
                    speculation.commit.set()
                    return
                await self._drop_speculation()
                # a reply the client asked for while the user spoke gives way to this turn
                await self._stop_response(merge_audio=False, status="interrupted")
                turn_id = self._new_turn_id()
                await self._emit(SpeechStopped(end_ms, turn_id))
                if self._stt_task is None:
                    self._start_stt()
                stt, timeline = self._stt_task, self._timeline
                audio = bytes(self._utterance or b"")
                self._stt_task, self._utterance = None, None
                assert stt is not None
                exchange = _Exchange(turn_id, timeline, _Stage.TRANSCRIBING, audio)
                exchange.reply = self.agent.auto_respond
                self._run(exchange, self._answer_speech(exchange, stt))

    async def _on_speech_start(self) -> None:
        self._touch()
        held = await self._stop_response(merge_audio=True, status="interrupted")
        self._utterance = bytearray(held + b"".join(self._recent))
        self._timeline = TurnTimeline()
        if self._stt_task:
            self._stt_task.cancel()
            self._stt_task = None
        onset_ms = self._input_ms - self.agent.turns.min_speech_ms
        await self._emit(SpeechStarted(max(0.0, onset_ms)))

    def _start_stt(self) -> None:
        audio = bytes(self._utterance or b"")
        self._timeline.stt_start = self._clock.now()
        stt = asyncio.create_task(
            self.models.stt.transcribe(audio, language=self.agent.language), name="parley-stt"
        )
        stt.add_done_callback(self._on_speculative_transcript)
        self._stt_task = stt

    def _on_speculative_transcript(self, task: asyncio.Task[str]) -> None:
        """A finished question may end the turn sooner than the default silence, and a
        transcript that looks complete starts the reply before the turn has ended."""
        if task is not self._stt_task or task.cancelled() or task.exception() is not None:
            return
        text, base = task.result(), self.agent.turns.end_of_turn_silence_ms
        target = silence_target_ms(text, base)
        self._detector.silence_target_ms = min(target, base)
        if (
            self.engine.speculative_reply
            and self._detector.in_speech
            and target <= base
            and has_words(text)
            and self._response is None
            and self._suspended is None
            and not self._paused
            and self.agent.auto_respond
        ):
            exchange = _Exchange(
                self._new_turn_id(), self._timeline, _Stage.SPECULATING, commit=asyncio.Event()
            )
            self._run(exchange, self._answer_speech(exchange, task))

    def _speculation(self) -> _Exchange | None:
        r = self._response
        return r if r is not None and r.stage is _Stage.SPECULATING else None

    async def _drop_speculation(self) -> None:
        """The user went on speaking: the prepared reply was never heard."""
        if self._speculation() is not None:
            await self._stop_response(merge_audio=False, announce=False)

    async def _on_text(self, text: str, *, respond: bool = True) -> None:
        self._touch()
        if not respond:
            await self._user_turn(_Exchange(self._new_turn_id(), TurnTimeline()), text)
            return
        await self._stop_response(merge_audio=False, status="cancelled")
        await self._end_suspended(interrupted=True)
        exchange = _Exchange(self._new_turn_id(), TurnTimeline())
        self._run(exchange, self._answer_text(exchange, text))

    async def _on_commit(self) -> None:
        """The client ends the user's turn now."""
        self._touch()
        if self.agent.turn_detection:
            if self._utterance is None:
                message = "nothing to commit: the user is not speaking"
                await self._emit(ErrorOut("validation_error", message))
                return
            now = self._clock.now()
            self._detector.reset()
            await self._on_signal(EndOfTurn(now, now))
            return
        audio, self._pending_input = bytes(self._pending_input), bytearray()
        if duration_ms(audio, SAMPLE_RATE) < MIN_COMMIT_MS:
            message = (
                f"nothing to commit: {duration_ms(audio, SAMPLE_RATE):.0f} ms of audio, "
                f"at least {MIN_COMMIT_MS:.0f} ms needed"
            )
            await self._emit(ErrorOut("audio_error", message))
            return
        prior = self._response
        if prior is not None and prior.stage in (_Stage.TRANSCRIBING, _Stage.HOLDING):
            prior_task = prior.task  # an earlier commit still being transcribed goes first
        else:
            prior, prior_task = None, None
            await self._stop_response(merge_audio=False, status="cancelled")
            await self._end_suspended(interrupted=True)
        turn_id = self._new_turn_id()
        await self._emit(SpeechStopped(self._input_ms, turn_id))
        timeline = TurnTimeline(speech_end=self._clock.now())
        timeline.end_of_turn = timeline.speech_end
        timeline.stt_start = timeline.speech_end
        stt = asyncio.create_task(
            self.models.stt.transcribe(audio, language=self.agent.language), name="parley-stt"
        )
        exchange = _Exchange(turn_id, timeline, _Stage.TRANSCRIBING, audio)
        exchange.reply = self.agent.auto_respond
        if prior is not None:  # only the latest turn is answered
            exchange.reply = exchange.reply or prior.reply
            exchange.requested = prior.requested
            exchange.instructions, exchange.tool_choice = prior.instructions, prior.tool_choice
            prior.reply = prior.requested = False
        self._run(exchange, self._after(prior_task, self._answer_speech(exchange, stt)))

    @staticmethod
    async def _after(prior: asyncio.Task[None] | None, work: Awaitable[None]) -> None:
        """Run ``work`` once ``prior`` (an earlier user turn) is done."""
        if prior is not None:
            await asyncio.wait([prior])
        await work

    async def _on_respond(self, instructions: str | None, tool_choice: ToolChoice | None) -> None:
        """Answer now; a user turn still being transcribed is answered once it is in."""
        self._touch()
        pending = self._response
        if pending is not None and pending.stage in (_Stage.TRANSCRIBING, _Stage.HOLDING):
            pending.reply = pending.requested = True
            pending.instructions, pending.tool_choice = instructions, tool_choice
            return
        await self._stop_response(merge_audio=False, status="cancelled")
        await self._end_suspended(interrupted=True)
        exchange = _Exchange(self._new_turn_id(), TurnTimeline())
        exchange.instructions, exchange.tool_choice = instructions, tool_choice
        self._run(exchange, self._reply(exchange))

    async def _on_tool_result(self, call_id: str, output: Any, *, respond: bool) -> None:
        turn_id = self._tool_waiting.pop(call_id, None)
        if turn_id is None:
            message = f"no tool call {call_id!r} is waiting for a result"
            await self._emit(ErrorOut("validation_error", message))
            return
        text = output if isinstance(output, str) else json.dumps(output)
        self.context.add_tool_result(call_id, text, turn_id=turn_id)
        stored_in = self._stored_calls.pop(call_id, None)
        if stored_in is None:
            self._early_outputs[call_id] = output
        else:
            await self._store_tool_output(stored_in, call_id, output)
        if respond and not self._tool_waiting:
            await self._on_respond(None, None)

    async def _on_truncate(self, turn_id: str, audio_end_ms: int) -> None:
        """The client played only ``audio_end_ms`` of agent turn ``turn_id``."""
        r = self._response
        if r is not None and r.turn_id == turn_id and r.speaker is not None:
            r.speaker.report_playback(audio_end_ms)
            await self._stop_response(merge_audio=False, status="interrupted", announce=False)
            await self._end_suspended(interrupted=True)
            return
        if self._suspended is not None and self._suspended.turn_id == turn_id:
            self._suspended.speaker.report_playback(audio_end_ms)
            await self._end_suspended(interrupted=True)
            return
        marks = self._past_marks.get(turn_id)
        heard = None if marks is None else heard_text(marks, audio_end_ms)
        if heard is None or not self.context.truncate_agent(turn_id, heard):
            message = f"no agent turn {turn_id!r} with audio to truncate"
            await self._emit(ErrorOut("validation_error", message))
            return
        if self._observer is not None:
            try:
                await self._observer.on_turn_truncated(turn_id, heard)
            except Exception:
                log.exception("could not store the truncated turn", extra=self._extra(turn_id))

    async def _reconfigure(self, agent: AgentConfig) -> None:
        """New agent settings for the rest of the session."""
        known = {v.id for v in self.models.tts.voices()}
        if agent.voice_id not in known:
            message = f"unknown voice {agent.voice_id!r}; voices: {', '.join(sorted(known))}"
            await self._emit(ErrorOut("validation_error", message))
            return
        voice = self.models.tts.voice(agent.voice_id)
        detection_changed = agent.turn_detection != self.agent.turn_detection
        self.agent, self._voice = agent, voice
        self.context.system_prompt = agent.system_prompt
        if detection_changed or not self._detector.in_speech:
            self._detector = TurnDetector(agent.turns)
            self._reset_listening()
            self._pending_input.clear()

    async def _on_control(self, action: ControlAction) -> None:
        if action == "interrupt":
            await self._stop_response(merge_audio=False, status="cancelled")
            await self._end_suspended(interrupted=True)
        elif action in ("stop_listening", "start_listening"):
            self._listening = action == "start_listening"
            self._reset_listening()
        elif action == "pause" and not self._paused:
            self._paused = True
            self._output_open.clear()
            self._for_speaker(lambda s: s.pause())
            self._reset_listening()
        elif action == "resume" and self._paused:
            self._paused = False
            self._for_speaker(lambda s: s.resume())
            self._output_open.set()
            self._touch()
        await self._emit(ControlAck(action))

    def _for_speaker(self, fn: Callable[[AgentSpeaker], None]) -> None:
        if self._response is not None and self._response.speaker is not None:
            fn(self._response.speaker)

    def _reset_listening(self) -> None:
        self._detector.reset()
        self._splitter.reset()
        self._utterance = None
        if self._stt_task:
            self._stt_task.cancel()
            self._stt_task = None

    async def _check_idle(self) -> None:
        timeout = self.agent.idle_timeout_ms / 1000.0
        if (
            timeout <= 0
            or not self.agent.turn_detection
            or not self.agent.auto_respond
            or self._tool_waiting
            or self._paused
            or self._response is not None
            or self._suspended is not None
            or self._detector.in_speech
            or self._clock.now() - self._last_activity < timeout
        ):
            return
        if self._idle_prompts_used < self.agent.idle_prompts:
            self._idle_prompts_used += 1
            self._say(IDLE_PROMPT)
        else:
            self._say(IDLE_GOODBYE, then_end="idle")

    def _touch(self) -> None:
        """The user did something: restart the idle timer and its check-ins."""
        self._last_activity = self._clock.now()
        self._idle_prompts_used = 0

    # ------------------------------------------------------------ agent turns

    def _new_turn_id(self) -> str:
        self._turns += 1
        return f"turn_{self._turns}"

    def _run(self, exchange: _Exchange, work: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("agent turn failed", extra=self._extra(exchange.turn_id))
                message = f"the agent could not answer: {type(exc).__name__}"
                with contextlib.suppress(Exception):
                    await self._emit(ErrorOut("internal_error", message))
                    await self._finish_turn(exchange, "failed")
            finally:
                if self._response is exchange:
                    self._response = None

        self._response = exchange
        exchange.task = asyncio.create_task(run(), name=f"parley-{exchange.turn_id}")

    def _say(self, text: str, *, then_end: EndReason | None = None) -> None:
        """Speak a fixed line (greeting, idle check-in, goodbye) as an agent turn."""
        exchange = _Exchange(self._new_turn_id(), TurnTimeline())

        async def say() -> None:
            await self._speak(exchange, _one(text), measured=False)
            if then_end is not None:
                if self._response is exchange:
                    self._response = None
                await self.close(then_end)

        self._run(exchange, say())

    async def _answer_speech(self, exchange: _Exchange, stt: asyncio.Task[str]) -> None:
        text = await stt
        timeline = exchange.timeline
        timeline.stt_done = self._clock.now()
        suspended = self._suspended
        if not has_words(text) or (suspended is not None and is_backchannel(text)):
            log.info("no new turn: %r", text[:40], extra=self._extra(exchange.turn_id))
            await self._emit(UserTurnDropped(exchange.turn_id))
            if suspended is not None:
                await self._resume(exchange, suspended)
            elif exchange.requested:  # the client asked for an answer all the same
                exchange.stage = _Stage.ANSWERING
                await self._reply(exchange)
            return
        if exchange.commit is not None:
            await self._answer_speculatively(exchange, text)
            return
        base = self.agent.turns.end_of_turn_silence_ms
        target = silence_target_ms(text, base)
        if timeline.speech_end is not None:
            wait_s = target / 1000.0 - (self._clock.now() - timeline.speech_end)
            if wait_s > 0 and target > base:
                exchange.stage = _Stage.HOLDING
                await self._clock.sleep(wait_s)
        exchange.stage = _Stage.ANSWERING
        await self._end_suspended(interrupted=True)
        await self._user_turn(exchange, text)
        if exchange.reply:
            await self._reply(exchange)

    async def _answer_speculatively(self, exchange: _Exchange, text: str) -> None:
        """Generate and synthesize the reply now; commit the user turn and release the
        audio at end of turn (or be cancelled if the user goes on)."""
        assert exchange.commit is not None
        release = asyncio.Event()
        messages: list[ChatMessage] = [
            *self.context.messages(),
            {"role": "user", "content": text},
        ]
        speaking = asyncio.create_task(
            self._speak(
                exchange, self._llm_tokens(exchange, messages), measured=True, release=release
            )
        )
        try:
            await exchange.commit.wait()
            exchange.stage = _Stage.ANSWERING
            await self._user_turn(exchange, text)
            await self._start_turn(exchange)
            release.set()
            await speaking
        finally:
            speaking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await speaking
        await self._after_reply()

    async def _answer_text(self, exchange: _Exchange, text: str) -> None:
        await self._user_turn(exchange, text)
        await self._reply(exchange)

    async def _reply(self, exchange: _Exchange) -> None:
        await self._speak(exchange, self._llm_tokens(exchange), measured=True)
        await self._after_reply()

    async def _user_turn(self, exchange: _Exchange, text: str) -> None:
        started = self._wallclock()
        self._user_turns += 1
        await self._emit(TranscriptOut("user", text, True, exchange.turn_id))
        self.context.add_user(text, turn_id=exchange.turn_id)
        await self._record(TurnRecord(exchange.turn_id, "user", text, started, started))

    async def _after_reply(self) -> None:
        if self._user_turns >= self.agent.max_turns:
            self._say(MAX_TURNS_GOODBYE, then_end="max_turns")

    async def _resume(self, exchange: _Exchange, suspended: _Suspended) -> None:
        """A false interruption: say the rest of the suspended turn."""
        self._suspended = None
        heard, rest = suspended.speaker.heard(), suspended.speaker.unheard()
        if not rest:
            await self._finish_record(suspended.turn_id, heard, suspended, interrupted=False)
            return
        exchange.stage = _Stage.ANSWERING
        await self._speak(exchange, _one(rest), measured=False, heard_before=heard)

    async def _llm_tokens(
        self, exchange: _Exchange, messages: list[ChatMessage] | None = None
    ) -> AsyncIterator[str]:
        """The reply's text; a tool call the model makes is kept in ``exchange``."""
        async for item in self.models.llm.stream(
            messages or self.context.messages(exchange.instructions),
            max_tokens=self.engine.llm_max_tokens,
            temperature=self.engine.llm_temperature,
            tools=self.agent.tools,
            tool_choice=exchange.tool_choice or self.agent.tool_choice,
        ):
            if isinstance(item, ToolCall):
                exchange.tool_calls.append(item)
                return
            yield item

    async def _start_turn(self, exchange: _Exchange) -> None:
        if not exchange.started:
            exchange.started = True
            await self._emit(AgentTurnStart(exchange.turn_id))

    async def _finish_turn(self, exchange: _Exchange, status: AgentTurnStatus) -> None:
        """Send the ``agent_turn_end`` owed for a started turn (once)."""
        if exchange.started and not exchange.finished:
            exchange.finished = True
            await self._emit(AgentTurnEnd(exchange.turn_id, status))

    def _keep_marks(self, turn_id: str, marks: list[ClauseMark]) -> None:
        self._past_marks[turn_id] = list(marks)
        while len(self._past_marks) > PAST_TURNS_KEPT:
            self._past_marks.popitem(last=False)

    async def _speak(
        self,
        exchange: _Exchange,
        tokens: AsyncIterator[str],
        *,
        measured: bool,
        heard_before: str = "",
        release: asyncio.Event | None = None,
    ) -> None:
        started = exchange.started_at = self._wallclock()
        speaker = AgentSpeaker(
            turn_id=exchange.turn_id,
            tts=self.models.tts,
            voice=self._voice,
            emit=self._emit,
            clock=self._clock,
            timeline=exchange.timeline,
            output_open=self._output_open,
            lead_ms=self.engine.output_lead_ms,
            release=release,
        )
        if self._paused:
            speaker.pause()
        exchange.speaker = speaker
        if release is None:
            await self._start_turn(exchange)
        await speaker.speak(tokens)
        text = speaker.spoken()
        exchange.timeline.turn_end = self._clock.now()
        latency = exchange.timeline.latency_ms()
        calls = exchange.tool_calls
        if text or not calls:
            await self._emit(TranscriptOut("agent", text, True, exchange.turn_id))
        if measured:
            await self._emit(MetricsOut(exchange.turn_id, latency))
        # The LLM's own words (not the cleaned-up spoken text) keep its prompt cache valid.
        full = f"{heard_before} {''.join(speaker.generated) if measured else text}".strip()
        if calls:  # the call goes into the conversation before its result can come back
            self.context.add_agent(full, turn_id=exchange.turn_id)
            for call in calls:
                self.context.add_tool_call(
                    call.call_id, call.name, call.arguments, turn_id=exchange.turn_id
                )
                self._tool_waiting[call.call_id] = exchange.turn_id
                await self._emit(
                    ToolCallOut(call.call_id, call.name, call.arguments, exchange.turn_id)
                )
        await self._finish_turn(exchange, "tool_call" if calls else "completed")
        exchange.stage = _Stage.PLAYING
        await speaker.wait_played()
        self._keep_marks(exchange.turn_id, speaker.marks)
        if not calls:
            self.context.add_agent(full, turn_id=exchange.turn_id)
        record_text = f"{heard_before} {text}".strip()
        await self._record_agent(
            TurnRecord(
                exchange.turn_id, "agent", record_text, started, self._wallclock(), False, latency
            ),
            calls,
        )
        self._last_activity = self._clock.now()  # the idle timer runs from here

    def _audible_speaker(self) -> AgentSpeaker | None:
        """The speaker of the agent turn the user may be hearing now."""
        r = self._response
        if r is None or r.speaker is None or not r.speaker.audio_sent:
            return None
        return r.speaker if r.stage in (_Stage.ANSWERING, _Stage.PLAYING) else None

    async def _stop_response(
        self,
        *,
        merge_audio: bool,
        announce: bool = True,
        status: AgentTurnStatus = "cancelled",
        end_turn: bool = True,
    ) -> bytes:
        """Cancel the current exchange. An audible agent turn is suspended (the client is
        told to drop its audio, unless not ``announce``); a user turn still being
        transcribed or held gives its audio back when ``merge_audio`` (the user goes on
        with the same turn). A started agent turn ends with ``status`` (not when the
        whole session is closing: ``end_turn`` false)."""
        exchange = self._response
        if exchange is None or exchange.task is None:
            return b""
        self._response = None
        if exchange.task is not asyncio.current_task():
            exchange.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await exchange.task
        speaker = exchange.speaker
        if speaker is not None and speaker.audio_sent:
            if announce:
                await self._emit(Interruption(exchange.turn_id))
            if end_turn:
                await self._finish_turn(exchange, status)
            await self._end_suspended(interrupted=True)
            started = exchange.started_at or self._wallclock()
            self._suspended = _Suspended(
                exchange.turn_id, speaker, exchange.timeline, started, tuple(exchange.tool_calls)
            )
            return b""
        if end_turn:
            await self._finish_turn(exchange, status)
        if merge_audio and exchange.stage in (_Stage.TRANSCRIBING, _Stage.HOLDING):
            return exchange.utterance
        return b""

    async def _end_suspended(self, *, interrupted: bool) -> None:
        """The user took the turn: keep only what they heard of the suspended agent turn."""
        suspended, self._suspended = self._suspended, None
        if suspended is None:
            return
        heard = suspended.speaker.heard()
        self._keep_marks(suspended.turn_id, suspended.speaker.marks)
        await self._finish_record(suspended.turn_id, heard, suspended, interrupted=interrupted)

    async def _finish_record(
        self, turn_id: str, heard: str, suspended: _Suspended, *, interrupted: bool
    ) -> None:
        if heard:
            self.context.add_agent(heard, interrupted=interrupted, turn_id=turn_id)
        latency = suspended.timeline.latency_ms()
        record = TurnRecord(
            turn_id, "agent", heard, suspended.started, self._wallclock(), interrupted, latency
        )
        await self._record_agent(record, suspended.tool_calls)

    async def _record_agent(self, record: TurnRecord, calls: Sequence[ToolCall]) -> None:
        """Store an agent turn with the tool calls it made (and any results already in)."""
        tool_calls = tuple(
            ToolCallRecord(
                c.call_id, c.name, dict(c.arguments), self._early_outputs.pop(c.call_id, None)
            )
            for c in calls
        )
        await self._record(replace(record, tool_calls=tool_calls))
        for call in tool_calls:
            if call.output is not None:
                continue
            if call.call_id in self._early_outputs:  # came while the turn was being stored
                output = self._early_outputs.pop(call.call_id)
                await self._store_tool_output(record.turn_id, call.call_id, output)
            else:
                self._stored_calls[call.call_id] = record.turn_id

    async def _store_tool_output(self, turn_id: str, call_id: str, output: Any) -> None:
        if self._observer is None:
            return
        try:
            await self._observer.on_tool_output(turn_id, call_id, output)
        except Exception:
            log.exception("could not store a tool result", extra=self._extra(turn_id))

    async def _record(self, record: TurnRecord) -> None:
        if self._observer is None:
            return
        try:
            await self._observer.on_turn(record)
        except Exception:
            log.exception("could not store turn", extra=self._extra(record.turn_id))

    def _extra(self, turn_id: str | None = None) -> dict[str, str]:
        extra = {"session_id": self.conversation_id}
        if turn_id:
            extra["turn_id"] = turn_id
        return extra


async def _one(text: str) -> AsyncIterator[str]:
    yield text
