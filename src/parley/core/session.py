"""VoiceSession: one conversation. It orchestrates the parts: the :class:`Listener`
(audio → turn signals), the :class:`ExchangeLifecycle` (the agent turn in progress), the
:class:`Responder` (what the agent says, through the agent layer's hooks), the
:class:`Upkeep` (idle check-ins, turn limit) and the :class:`TurnLog` (storage). It knows
nothing about sockets or JSON: events come in through :meth:`VoiceSession.handle` and go
out through the ``emit`` coroutine it was given.

Barge-in is two-step. Speech of ``interrupt_min_speech_ms`` while the agent is audible
suspends the agent at once (``interruption``: the client drops queued audio). Real words
in the user's utterance then end the agent's turn where the user stopped hearing it; a
backchannel ("mhm") or a noise without words resumes the agent where it stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from parley.audio.pcm import SAMPLE_RATE, duration_ms
from parley.core.agent import AgentConfig, AgentLayer, EngineConfig, SessionModels, SessionObserver
from parley.core.clock import Clock
from parley.core.context import ConversationContext
from parley.core.endpointing import has_words, silence_target_ms
from parley.core.events import (
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
    ToolResultIn,
    TruncateIn,
)
from parley.core.exchange import Exchange, ExchangeLifecycle, Stage
from parley.core.listener import Listener
from parley.core.metrics import TurnTimeline
from parley.core.pause_judge import PauseJudge
from parley.core.records import PastTurn
from parley.core.responder import Responder, SessionParts, reply_language
from parley.core.tool_ledger import ToolLedger
from parley.core.turn_log import TurnLog
from parley.core.turns import EndOfTurn, Speculate, SpeechResumed, SpeechStart, TurnSignal
from parley.core.upkeep import Say, Upkeep
from parley.languages.packs import pack_or_default
from parley.providers.llm.base import ToolChoice
from parley.providers.stt.base import Transcript

log = logging.getLogger(__name__)

Emit = Callable[[ServerEvent], Awaitable[None]]
MIN_COMMIT_MS = 100.0
"""A committed user turn needs at least this much audio."""


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
        layer: AgentLayer | None = None,
        wallclock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.conversation_id = conversation_id
        self.agent = agent
        self.models = models
        self.engine = engine or EngineConfig()
        self.context = ConversationContext(
            agent.system_prompt, max_messages=self.engine.history_messages
        )
        self._emit, self._clock, self._wallclock = emit, clock, wallclock
        self.listener = Listener(
            models.vad,
            agent.turns,
            clock,
            detect_turns=agent.turn_detection,
            preroll_ms=self.engine.preroll_ms,
            max_utterance_ms=self.engine.max_utterance_ms,
        )
        self.judge = PauseJudge(models.turn, agent.turns, self.listener, clock, emit)
        self.ledger = ToolLedger()
        self.turn_log = TurnLog(observer, self.ledger, self.log_extra)
        self.exchanges = ExchangeLifecycle(
            emit,
            on_suspended_end=lambda s, interrupted: self.responder.suspended_over(s, interrupted),
            log_extra=self.log_extra,
            now=wallclock,
        )
        self.upkeep = Upkeep(agent, clock)
        self._timeline = TurnTimeline()
        self._stt_task: asyncio.Task[Transcript] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        """Background work of the session (turn poller, prefill, server-side tools)."""
        self._turns = 0
        self._resumed = False
        self._listening = True
        self._paused = False
        self.ended: EndReason | None = None
        self.ended_event = asyncio.Event()
        """Set once the session is over (also when it ends itself: idle, max_turns)."""
        parts = SessionParts(
            conversation_id, models, self.engine, self.context, self.exchanges, self.ledger,
            self.turn_log, self.upkeep, emit, clock, wallclock,
        )  # fmt: skip
        self.responder = Responder(self, parts, agent, layer or AgentLayer())
        self.upkeep.pack = pack_or_default(self.responder.language.current)

    # ------------------------------------------------------------ lifecycle

    def restore(self, turns: Iterable[PastTurn]) -> None:
        """Continue a conversation from its earlier turns (before :meth:`start`): they go
        back into the LLM's context, and turn ids and the turn count go on after them."""
        for turn in turns:
            if turn.role == "user":
                self.context.add_user(turn.text, turn_id=turn.turn_id)
                self.upkeep.user_turns += 1
            else:
                self.context.add_agent(
                    turn.text, interrupted=turn.interrupted, turn_id=turn.turn_id
                )
                for call in turn.tool_calls:
                    self.context.add_tool_call(
                        call.call_id, call.name, call.arguments, turn_id=turn.turn_id
                    )
                    if call.output is not None:
                        output = (
                            call.output if isinstance(call.output, str) else json.dumps(call.output)
                        )
                        self.context.add_tool_result(call.call_id, output, turn_id=turn.turn_id)
            if turn.role == "agent" and turn.language is not None:
                self.responder.language.restore(turn.language)
                self.upkeep.pack = pack_or_default(self.responder.language.current)
            number = turn.turn_id.removeprefix("turn_")
            if number.isdigit():
                self._turns = max(self._turns, int(number))
        self._resumed = True

    async def start(self, *, resume_token: str | None = None) -> None:
        """Announce the session (with the edge's ``resume_token``), start the turn timer
        and speak the first message (not again in a resumed conversation)."""
        await self._emit(
            Connected(
                self.conversation_id, self.agent.agent_id,
                resume_token=resume_token, resumed=self._resumed,
            )
        )  # fmt: skip
        self.background(self._poll_loop(), "parley-turn-poll")
        prefix = self.context.messages()
        if self.agent.first_message and not self._resumed:
            self.responder.say(Say(self.agent.first_message))
            prefix.append({"role": "assistant", "content": self.agent.first_message})
        self.background(self.models.llm.prefill(prefix), "parley-prefill")

    async def close(
        self, reason: EndReason, *, notify: bool = True, resume_within_s: float | None = None
    ) -> None:
        """End the session: cancel every task, store what the user heard, say why (and,
        with ``resume_within_s``, that the client may resume it within that time)."""
        if self.ended is not None:
            return
        self.ended = reason
        background = [t for t in self._tasks if t is not asyncio.current_task()]
        for task in [*background, self._stt_task]:
            if task is not None:
                task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await self.judge.close()
        await self.exchanges.stop(announce=False, end_turn=False)
        await self.exchanges.end_suspended(interrupted=True)
        await self.turn_log.end(reason)
        if notify:
            with contextlib.suppress(Exception):
                await self._emit(SessionEnded(reason, resume_within_s))
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
                self.listener.clear()
                self._cancel_stt()
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
                if (speaker := self.exchanges.audible()) is not None:
                    speaker.report_playback(played)
            case PingIn(ts=ts):
                await self._emit(Pong(ts))
            case ToolResultIn(call_id=call_id, output=output, respond=respond):
                await self._on_tool_result(call_id, output, respond=respond)
            case EndIn():
                await self.close("client")

    # ------------------------------------------------------------ listening

    async def _on_audio(self, pcm: bytes) -> None:
        if self._paused or not self._listening:
            return
        audible = self.exchanges.audible
        for signal in self.listener.hear(pcm, agent_audible=lambda: audible() is not None):
            await self._on_signal(signal)

    async def _poll_loop(self) -> None:
        while True:
            await self._clock.sleep(self.engine.poll_interval_s)
            if self._paused or not self._listening or not self.agent.turn_detection:
                continue
            for signal in self.listener.poll():
                await self._on_signal(signal)
            busy = self.ledger.waiting or self.exchanges.busy or self.listener.in_speech
            if (say := self.upkeep.idle_check(busy=busy)) is not None:
                self.responder.say(say)

    async def _on_signal(self, signal: TurnSignal) -> None:
        match signal:
            case SpeechStart():
                await self._on_speech_start()
            case Speculate(speech_end_at=end):
                self._timeline.speech_end = end
                self._start_stt()
                self.judge.pause(self.listener.utterance())
            case SpeechResumed():
                await self.exchanges.drop_speculation()
                self._cancel_stt()
            case EndOfTurn(speech_end_at=end, decided_at=decided):
                await self._on_end_of_turn(end, decided)

    async def _on_speech_start(self) -> None:
        self.upkeep.user_active()
        held = await self.exchanges.stop(merge_audio=True, status="interrupted")
        self.listener.prepend(held)
        self._timeline = TurnTimeline()
        self._cancel_stt()
        onset_ms = self.listener.input_ms - self.listener.min_speech_ms
        await self._emit(SpeechStarted(max(0.0, onset_ms)))

    async def _on_end_of_turn(self, speech_end: float, decided: float) -> None:
        self._timeline.speech_end = speech_end
        self._timeline.end_of_turn = decided
        self._timeline.turn_model = self.judge.took_ms
        self.judge.cancel()
        since_end_ms = (self._clock.now() - speech_end) * 1000.0
        end_ms = max(0.0, self.listener.input_ms - since_end_ms)
        speculation = self.exchanges.speculation()
        if speculation is not None and speculation.commit is not None:
            await self._emit(SpeechStopped(end_ms, speculation.turn_id))
            speculation.utterance = self.listener.take_utterance()
            self._stt_task = None
            speculation.stage = Stage.TRANSCRIBING
            speculation.commit.set()
            return
        await self.exchanges.drop_speculation()
        # a reply the client asked for while the user spoke gives way to this turn
        await self.exchanges.stop(status="interrupted")
        turn_id = self.new_turn_id()
        await self._emit(SpeechStopped(end_ms, turn_id))
        if self._stt_task is None:
            self._start_stt()
        stt, timeline = self._stt_task, self._timeline
        audio = self.listener.take_utterance()
        self._stt_task = None
        assert stt is not None
        exchange = Exchange(turn_id, timeline, Stage.TRANSCRIBING, audio)
        exchange.reply = self.agent.auto_respond
        self.exchanges.start(exchange, self.responder.answer_speech(exchange, stt))

    def _start_stt(self) -> None:
        timeline = self._timeline
        timeline.stt_start = self._clock.now()
        stt = asyncio.create_task(self._transcribe(self.listener.utterance()), name="parley-stt")

        def transcribed(task: asyncio.Task[Transcript]) -> None:
            if not task.cancelled():
                timeline.stt_done = self._clock.now()

        stt.add_done_callback(transcribed)
        stt.add_done_callback(self._on_speculative_transcript)
        self._stt_task = stt

    async def _transcribe(self, audio: bytes) -> Transcript:
        return await self.models.stt.transcribe(audio, language=self.agent.stt_language)

    def _cancel_stt(self) -> None:
        self.judge.cancel()
        if self._stt_task is not None:
            self._stt_task.cancel()
            self._stt_task = None

    def _on_speculative_transcript(self, task: asyncio.Task[Transcript]) -> None:
        """A finished question may end the turn sooner than the default silence, and a
        transcript that looks complete starts the reply before the turn has ended."""
        if task is not self._stt_task or task.cancelled() or task.exception() is not None:
            return
        transcript, base = task.result(), self.agent.turns.end_of_turn_silence_ms
        text, pack = transcript.text, self.responder.heard_pack(transcript)
        target = silence_target_ms(text, base, pack=pack)
        self.listener.end_turn_after(self.judge.silence_ms(min(target, base)))
        if has_words(text, pack=pack):
            self.responder.speculative_transcript(text, self._timeline)
        if (
            self.engine.speculative_reply
            and self.listener.in_speech
            and target <= base
            and self.judge.finished is not False
            and has_words(text, pack=pack)
            and not self.exchanges.busy
            and not self._paused
            and self.agent.auto_respond
        ):
            exchange = Exchange(
                self.new_turn_id(), self._timeline, Stage.SPECULATING, commit=asyncio.Event()
            )
            self.exchanges.start(exchange, self.responder.answer_speech(exchange, task))

    def _reset_listening(self) -> None:
        self.listener.reset()
        self._cancel_stt()

    # ------------------------------------------------------------ client requests

    async def _on_text(self, text: str, *, respond: bool = True) -> None:
        self.upkeep.user_active()
        exchange = Exchange(self.new_turn_id(), TurnTimeline(), reply=respond)
        if not respond:
            await self.responder.answer(exchange, text)
            return
        await self.exchanges.stop_all("cancelled")
        self.exchanges.start(exchange, self.responder.answer(exchange, text))

    async def _on_commit(self) -> None:
        """The client ends the user's turn now."""
        self.upkeep.user_active()
        if self.agent.turn_detection:
            end = self.listener.commit()
            if end is None:
                message = "nothing to commit: the user is not speaking"
                await self._emit(ErrorOut("validation_error", message))
                return
            await self._on_signal(end)
            return
        audio = self.listener.take_pending()
        if (ms := duration_ms(audio, SAMPLE_RATE)) < MIN_COMMIT_MS:
            message = (
                f"nothing to commit: {ms:.0f} ms of audio, at least {MIN_COMMIT_MS:.0f} ms needed"
            )
            await self._emit(ErrorOut("audio_error", message))
            return
        prior = self.exchanges.pending_user_turn()  # an earlier commit still being transcribed
        if prior is None:
            await self.exchanges.stop_all("cancelled")
        turn_id = self.new_turn_id()
        await self._emit(SpeechStopped(self.listener.input_ms, turn_id))
        timeline = TurnTimeline(speech_end=self._clock.now())
        timeline.end_of_turn = timeline.stt_start = timeline.speech_end
        stt = asyncio.create_task(self._transcribe(audio), name="parley-stt")
        exchange = Exchange(turn_id, timeline, Stage.TRANSCRIBING, audio)
        exchange.reply = self.agent.auto_respond
        if prior is not None:  # only the latest turn is answered, after the earlier one
            exchange.reply = exchange.reply or prior.reply
            exchange.requested = prior.requested
            exchange.instructions, exchange.tool_choice = prior.instructions, prior.tool_choice
            prior.reply = prior.requested = False
        work = self.responder.answer_speech(exchange, stt)
        self.exchanges.start(exchange, _after(prior.task if prior else None, work))

    async def _on_respond(self, instructions: str | None, tool_choice: ToolChoice | None) -> None:
        """Answer now; a user turn still being transcribed is answered once it is in."""
        self.upkeep.user_active()
        pending = self.exchanges.pending_user_turn()
        if pending is not None:
            pending.reply = pending.requested = True
            pending.instructions, pending.tool_choice = instructions, tool_choice
            return
        await self.exchanges.stop_all("cancelled")
        exchange = Exchange(self.new_turn_id(), TurnTimeline())
        exchange.instructions, exchange.tool_choice = instructions, tool_choice
        self.exchanges.start(exchange, self.responder.reply(exchange))

    async def tool_result(self, call_id: str, output: Any, *, respond: bool = True) -> None:
        """A server-run tool's result: into the conversation, then (with ``respond``)
        the agent goes on."""
        await self._on_tool_result(call_id, output, respond=respond)

    async def _on_tool_result(self, call_id: str, output: Any, *, respond: bool) -> None:
        accepted = self.ledger.accept(call_id, output)
        if accepted is None:
            message = f"no tool call {call_id!r} is waiting for a result"
            await self._emit(ErrorOut("validation_error", message))
            return
        turn_id, stored_in = accepted
        text = output if isinstance(output, str) else json.dumps(output)
        self.context.add_tool_result(call_id, text, turn_id=turn_id)
        if stored_in is not None:
            await self.turn_log.tool_output(stored_in, call_id, output)
        if respond and not self.ledger.waiting:
            await self._on_respond(None, None)

    async def _on_truncate(self, turn_id: str, audio_end_ms: int) -> None:
        """The client played only ``audio_end_ms`` of agent turn ``turn_id``."""
        if not await self.responder.truncate(turn_id, audio_end_ms):
            message = f"no agent turn {turn_id!r} with audio to truncate"
            await self._emit(ErrorOut("validation_error", message))

    async def _reconfigure(self, agent: AgentConfig) -> None:
        """New agent settings for the rest of the session."""
        known = {v.id for v in self.models.tts.voices()}
        if agent.voice_id not in known:
            message = f"unknown voice {agent.voice_id!r}; voices: {', '.join(sorted(known))}"
            await self._emit(ErrorOut("validation_error", message))
            return
        self.responder.voice = self.models.tts.voice(agent.voice_id)
        if (agent.language, agent.voices) != (self.agent.language, self.agent.voices):
            self.responder.language = reply_language(agent, self.responder.voice)
            self.upkeep.pack = pack_or_default(self.responder.language.current)
        self.agent = self.upkeep.agent = self.responder.agent = agent
        self.context.system_prompt = agent.system_prompt
        self.judge.turns = agent.turns
        if self.listener.reconfigure(agent.turns, detect_turns=agent.turn_detection):
            self._cancel_stt()

    async def _on_control(self, action: ControlAction) -> None:
        if action == "interrupt":
            await self.exchanges.stop_all("cancelled")
        elif action in ("stop_listening", "start_listening"):
            self._listening = action == "start_listening"
            self._reset_listening()
        elif action in ("pause", "resume") and self._paused != (action == "pause"):
            self._paused = action == "pause"
            self.responder.pause(self._paused)
            if self._paused:
                self._reset_listening()
            else:
                self.upkeep.user_active()
        await self._emit(ControlAck(action))

    # ------------------------------------------------------------ host of the responder

    def new_turn_id(self) -> str:
        """The id of the next turn."""
        self._turns += 1
        return f"turn_{self._turns}"

    def background(self, work: Awaitable[Any], name: str) -> None:
        """Run ``work`` as a task that ends with the session."""
        task = asyncio.ensure_future(work)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def log_extra(self, turn_id: str | None = None) -> dict[str, str]:
        """Fields that identify the session (and turn) in log lines."""
        extra = {"session_id": self.conversation_id}
        if turn_id:
            extra["turn_id"] = turn_id
        return extra


async def _after(prior: asyncio.Task[None] | None, work: Awaitable[None]) -> None:
    """Run ``work`` once ``prior`` (an earlier user turn) is done."""
    if prior is not None:
        await asyncio.wait([prior])
    await work
