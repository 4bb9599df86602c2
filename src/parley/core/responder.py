"""Agent turns: what the agent answers and how it is spoken.

The :class:`Responder` takes a committed user turn (or a request to speak), lets the
agent layer's hooks decide, asks the LLM, speaks the reply clause by clause through an
:class:`AgentSpeaker`, hands tool calls to the client or the server's runner, and
records what the user actually heard in the conversation and in storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, Protocol

from parley.core.agent import AgentConfig, AgentLayer, EngineConfig, SessionModels
from parley.core.clock import Clock
from parley.core.context import ConversationContext
from parley.core.endpointing import has_words, is_backchannel, silence_target_ms
from parley.core.events import (
    CitationsOut,
    EndReason,
    LanguageOut,
    MetricsOut,
    Role,
    ServerEvent,
    ServerToolOut,
    ToolCallOut,
    TranscriptOut,
    UserTurnDropped,
)
from parley.core.exchange import Exchange, ExchangeLifecycle, Stage, Suspended
from parley.core.hooks import (
    ClauseOutcome,
    Filler,
    HookChain,
    Interim,
    ToolOutcome,
    TurnInfo,
    UserTurnOutcome,
    still_running,
)
from parley.core.language import ReplyLanguage
from parley.core.metrics import TurnTimeline
from parley.core.records import TurnRecord
from parley.core.speaker import AgentSpeaker, ClauseReview, TokenFeed
from parley.core.tool_ledger import ToolLedger
from parley.core.turn_log import TurnLog
from parley.core.upkeep import Say, Upkeep
from parley.languages.packs import LanguagePack, pack_or_default
from parley.providers.llm.base import ChatMessage, ToolCall
from parley.providers.stt.base import Transcript
from parley.providers.tts.base import Voice

log = logging.getLogger(__name__)

Emit = Callable[[ServerEvent], Awaitable[None]]
FillerSay = Callable[[str], Awaitable[None]]


class SessionHost(Protocol):
    """What the responder asks of the session it works for."""

    def new_turn_id(self) -> str:
        """The id of the next turn."""
        ...

    async def close(self, reason: EndReason, *, notify: bool = True) -> None:
        """End the session."""
        ...

    async def tool_result(self, call_id: str, output: Any, *, respond: bool = True) -> None:
        """A server-run tool's result: into the conversation, then (with ``respond``)
        the agent goes on."""
        ...

    def background(self, work: Awaitable[Any], name: str) -> None:
        """Run ``work`` as a task that ends with the session."""
        ...

    def log_extra(self, turn_id: str | None = None) -> dict[str, str]:
        """Fields that identify the session (and turn) in log lines."""
        ...


@dataclass(frozen=True, slots=True)
class SessionParts:
    """The parts of one session that its responder works with."""

    session_id: str
    models: SessionModels
    engine: EngineConfig
    context: ConversationContext
    exchanges: ExchangeLifecycle
    ledger: ToolLedger
    turn_log: TurnLog
    upkeep: Upkeep
    emit: Emit
    clock: Clock
    wallclock: Callable[[], datetime]


class Responder:
    """Runs the agent turns of one session."""

    def __init__(
        self, host: SessionHost, parts: SessionParts, agent: AgentConfig, layer: AgentLayer
    ) -> None:
        self._host, p = host, parts
        self._session_id = p.session_id
        self.agent = agent
        """The agent's settings (replaced when the session is reconfigured)."""
        self.models, self.engine = p.models, p.engine
        self.voice = p.models.tts.voice(agent.voice_id)
        """The agent's own voice (``voice_id``): that of languages without their own."""
        self.language = reply_language(agent, self.voice)
        self._hooks, self._tools = HookChain(layer.hooks, p.clock), layer.tools
        self._context, self._exchanges, self._ledger = p.context, p.exchanges, p.ledger
        self._turn_log, self._upkeep = p.turn_log, p.upkeep
        self._emit, self._clock, self._wallclock = p.emit, p.clock, p.wallclock
        self._output_open = asyncio.Event()
        """Cleared while output is paused."""
        self._output_open.set()
        self._extra = host.log_extra
        self.paused = False
        """Output is frozen (control ``pause``): a new speaker starts paused."""
        self._next_line: Say | None = None
        """What a hook asked to say once the current reply is over."""

    async def truncate(self, turn_id: str, audio_end_ms: int) -> bool:
        """The client played only ``audio_end_ms`` of agent turn ``turn_id``: keep only
        what was heard. False if no such turn has audio to cut."""
        r, suspended = self._exchanges.current, self._exchanges.suspended
        if r is not None and r.turn_id == turn_id and r.speaker is not None:
            r.speaker.report_playback(audio_end_ms)
            await self._exchanges.stop(status="interrupted", announce=False)
            await self._exchanges.end_suspended(interrupted=True)
            return True
        if suspended is not None and suspended.turn_id == turn_id:
            suspended.speaker.report_playback(audio_end_ms)
            await self._exchanges.end_suspended(interrupted=True)
            return True
        heard = self._turn_log.heard(turn_id, audio_end_ms)
        if heard is None or not self._context.truncate_agent(turn_id, heard):
            return False
        await self._turn_log.truncated(turn_id, heard)
        return True

    def pause(self, paused: bool) -> None:
        """Freeze (or unfreeze) the agent's output; the user's hearing clock stops too."""
        self.paused = paused
        current = self._exchanges.current
        speaker = current.speaker if current is not None else None
        if paused:
            self._output_open.clear()
            if speaker is not None:
                speaker.pause()
        else:
            if speaker is not None:
                speaker.resume()
            self._output_open.set()

    def speculative_transcript(self, text: str, timeline: TurnTimeline) -> None:
        """The user paused after ``text``: the hooks may start early work."""
        self._hooks.speculative_transcript(self.info(""), text, timeline.hooks)

    def info(self, turn_id: str, exchange: Exchange | None = None) -> TurnInfo:
        """Which turn the hooks are asked about (their marks go to ``exchange``)."""
        language = self._language_of(exchange)
        if exchange is None:
            return TurnInfo(self._session_id, self.agent.agent_id, turn_id, language)
        return TurnInfo(
            self._session_id, self.agent.agent_id, turn_id, language,
            exchange.safety, exchange.citations, exchange.timeline.hooks,
        )  # fmt: skip

    def _language_of(self, exchange: Exchange | None) -> str:
        """The language ``exchange`` answers in (the conversation's when not set)."""
        if exchange is None or exchange.language is None:
            return self.language.current
        return exchange.language

    def heard_pack(self, transcript: Transcript) -> LanguagePack:
        """The language pack for the caller's words: that of their detected language,
        else the conversation's."""
        return pack_or_default(transcript.language or self.language.current)

    def voice_for(self, language: str) -> Voice:
        """The voice the agent speaks ``language`` with."""
        return self.models.tts.voice(self.agent.voices.get(language) or self.agent.voice_id)

    def _told_language(self, exchange: Exchange) -> str | None:
        """The language the LLM is told to answer in (None for an English-only agent)."""
        return None if self.agent.english_only else self._language_of(exchange)

    async def _flush_marks(self, exchange: Exchange) -> None:
        """Tell the client what the hooks did in ``exchange`` since the last time (not
        before a speculative exchange is committed: the user may still go on)."""
        if exchange.commit is not None and not exchange.commit.is_set():
            return
        while exchange.safety_sent < len(exchange.safety):
            mark = exchange.safety[exchange.safety_sent]
            exchange.safety_sent += 1
            await self._emit(mark)

    async def _record(self, exchange: Exchange, role: Role, text: str, **fields: Any) -> TurnRecord:
        """``role``'s turn of ``exchange`` as storage gets it: its words after the store
        hooks, with what content safety did about them."""
        if self._hooks.hooks:
            text = await self._hooks.store(self.info(exchange.turn_id), role, text)
        marks = tuple(m for m in exchange.safety if m.role == role)
        started = fields.pop("started", None) or self._wallclock()
        cited = tuple(exchange.citations) if role == "agent" else ()
        return TurnRecord(
            exchange.turn_id, role, text, started, self._wallclock(), safety=marks,
            citations=cited, **fields,
        )  # fmt: skip

    def say(self, say: Say) -> Exchange:
        """Speak a fixed line (greeting, idle check-in, goodbye) as an agent turn."""
        exchange = Exchange(self._host.new_turn_id(), TurnTimeline())

        async def speak() -> None:
            await self._speak(exchange, _one(say.text), measured=False)
            if say.then_end is not None:
                self._exchanges.release(exchange)
                await self._host.close(say.then_end)

        self._exchanges.start(exchange, speak())
        return exchange

    async def answer_speech(self, exchange: Exchange, stt: Awaitable[Transcript]) -> None:
        transcript = await stt
        text, heard = transcript.text, self.heard_pack(transcript)
        exchange.heard_language = transcript.language
        exchange.heard_probability = transcript.language_probability
        timeline = exchange.timeline
        timeline.stt_done = timeline.stt_done or self._clock.now()
        suspended = self._exchanges.suspended
        if not has_words(text, pack=heard) or (
            suspended is not None and is_backchannel(text, pack=heard)
        ):
            words = len(text.split())  # never the words themselves: they may be personal
            log.info("no new turn (%d words)", words, extra=self._extra(exchange.turn_id))
            await self._emit(UserTurnDropped(exchange.turn_id))
            if suspended is not None:
                await self._resume(exchange)
            elif exchange.requested:  # the client asked for an answer all the same
                exchange.stage = Stage.ANSWERING
                await self.reply(exchange)
            return
        exchange.language = self.language.preview(
            transcript.language, transcript.language_probability
        )
        if exchange.commit is not None:
            await self.answer(exchange, text)
            return
        base = self.agent.turns.end_of_turn_silence_ms
        target = silence_target_ms(text, base, pack=heard)
        if timeline.speech_end is not None:
            wait_s = target / 1000.0 - (self._clock.now() - timeline.speech_end)
            if wait_s > 0 and target > base:
                exchange.stage = Stage.HOLDING
                await self._clock.sleep(wait_s)
        exchange.stage = Stage.ANSWERING
        await self._exchanges.end_suspended(interrupted=True)
        await self.answer(exchange, text)

    async def answer(self, exchange: Exchange, text: str) -> None:
        """A user turn: the hooks decide, the turn joins the conversation, and (unless
        only transcribing) the agent answers. A speculative exchange prepares the reply
        now and releases its audio at end of turn (or is cancelled if the user goes on).
        A filler line said while a hook holds the turn starts the agent turn early (in a
        speculative exchange, once the turn has ended)."""
        feed, release = TokenFeed(), asyncio.Event()
        speaking = None
        if exchange.reply:
            reply = self._speak(exchange, feed.stream(), measured=True, release=release)
            speaking = asyncio.create_task(reply)

        async def filler(line: str) -> None:
            feed.say(line)
            if exchange.commit is None:
                await self._exchanges.open_turn(exchange)
                release.set()

        try:
            outcome = await self._decide(exchange, text, filler if speaking else None)
            if speaking is not None:
                user: ChatMessage = {"role": "user", "content": outcome.text}
                context = self._context.messages(
                    exchange.instructions, language=self._told_language(exchange)
                )
                messages = [*context, user]
                feed.then(self._reply_tokens(exchange, outcome, messages))
            if exchange.commit is not None:
                await exchange.commit.wait()
                exchange.stage = Stage.ANSWERING
            await self._flush_marks(exchange)
            await self._user_turn(exchange, outcome.text, outcome.shown, text)
            if speaking is None:
                return
            await self._exchanges.open_turn(exchange)
            release.set()
            await speaking
        finally:
            await _cancelled(speaking)
        if outcome.end is not None:
            self._exchanges.release(exchange)
            await self._host.close(outcome.end)
            return
        await self._after_reply()

    async def _decide(
        self, exchange: Exchange, text: str, filler: FillerSay | None
    ) -> UserTurnOutcome:
        """Run the user-turn hooks on ``text``."""
        info, timings = self.info(exchange.turn_id, exchange), exchange.timeline.hooks
        async for step in self._hooks.user_turn(info, text, timings):
            if isinstance(step, Filler):
                if filler is not None:
                    await filler(step.text)
                continue
            return step
        return UserTurnOutcome(text)

    async def reply(self, exchange: Exchange) -> None:
        await self._speak(exchange, self._llm_tokens(exchange), measured=True)
        await self._after_reply()

    async def _user_turn(self, exchange: Exchange, text: str, shown: str, said: str) -> None:
        """The user turn joins the conversation: ``text`` for the LLM, ``shown`` to the
        client, ``said`` (the words as heard) to storage through the store hooks."""
        started = self._wallclock()
        self._upkeep.user_turn()
        heard, sure = exchange.heard_language, exchange.heard_probability
        switch = self.language.heard(heard, sure)
        if switch is not None:
            self._upkeep.pack = pack_or_default(switch.language)
            event = LanguageOut(
                switch.language, switch.previous, exchange.turn_id, switch.probability
            )
            await self._emit(event)
        await self._emit(TranscriptOut("user", shown, True, exchange.turn_id, heard, sure))
        self._context.add_user(text, turn_id=exchange.turn_id)
        record = await self._record(
            exchange, "user", said, started=started, language=heard, language_probability=sure
        )
        await self._turn_log.turn(replace(record, ended_at=started))

    async def _after_reply(self) -> None:
        say, self._next_line = self._next_line, None
        if say is None:
            say = self._upkeep.after_reply()
        if say is not None:
            self.say(say)

    async def _resume(self, exchange: Exchange) -> None:
        """A false interruption: say the rest of the suspended turn."""
        suspended = self._exchanges.take_suspended()
        assert suspended is not None
        heard, rest = suspended.speaker.heard(), suspended.speaker.unheard()
        if not rest:
            await self.suspended_over(suspended, False)
            return
        exchange.stage = Stage.ANSWERING
        exchange.safety.extend(suspended.safety)  # already told to the client
        exchange.citations.extend(suspended.citations)
        exchange.safety_sent = len(exchange.safety)
        await self._speak(exchange, _one(rest), measured=False, heard_before=heard)

    async def suspended_over(self, suspended: Suspended, interrupted: bool) -> None:
        """A suspended turn is over: the conversation and storage keep what was heard."""
        heard = suspended.speaker.heard()
        self._turn_log.keep_marks(suspended.turn_id, suspended.speaker.marks)
        if heard:
            self._context.add_agent(heard, interrupted=interrupted, turn_id=suspended.turn_id)
        latency = suspended.timeline.latency_ms()
        stored = heard
        if self._hooks.hooks:
            stored = await self._hooks.store(self.info(suspended.turn_id), "agent", heard)
        marks = tuple(m for m in suspended.safety if m.role == "agent")
        record = TurnRecord(
            suspended.turn_id, "agent", stored, suspended.started, self._wallclock(),
            interrupted, latency, safety=marks, citations=suspended.citations,
            language=self.language.current,
        )  # fmt: skip
        await self._turn_log.agent_turn(record, suspended.tool_calls)

    def _reply_tokens(
        self,
        exchange: Exchange,
        outcome: UserTurnOutcome,
        messages: list[ChatMessage] | None = None,
    ) -> AsyncIterator[str]:
        """The reply to a user turn: the hooks' fixed answer, or the LLM's."""
        if outcome.answer is not None:
            return _one(outcome.answer)
        return self._llm_tokens(exchange, messages)

    async def _llm_tokens(
        self, exchange: Exchange, messages: list[ChatMessage] | None = None
    ) -> AsyncIterator[str]:
        """The reply's text; the tool calls the model makes are kept in ``exchange``."""
        messages = messages or self._context.messages(
            exchange.instructions, language=self._told_language(exchange)
        )
        if self._hooks.hooks:
            info = self.info(exchange.turn_id, exchange)
            messages = await self._hooks.context(info, messages, exchange.timeline.hooks)
            await self._flush_marks(exchange)
        exchange.timeline.llm_start = self._clock.now()
        async for item in self.models.llm.stream(
            messages,
            max_tokens=self.engine.llm_max_tokens,
            temperature=self.engine.llm_temperature,
            tools=self.agent.tools,
            tool_choice=exchange.tool_choice or self.agent.tool_choice,
        ):
            if isinstance(item, ToolCall):  # a model may call several tools at once
                exchange.tool_calls.append(item)
            elif not exchange.tool_calls:
                yield item

    def _review(self, exchange: Exchange) -> ClauseReview | None:
        """The clause hooks for this exchange's speaker (None without hooks)."""
        if not self._hooks.hooks:
            return None
        info, timings = self.info(exchange.turn_id, exchange), exchange.timeline.hooks

        async def review(clause: str, interim: Interim | None) -> ClauseOutcome:
            outcome = await self._hooks.clause(info, clause, timings, interim)
            await self._flush_marks(exchange)
            return outcome

        return review

    async def _speak(
        self,
        exchange: Exchange,
        tokens: AsyncIterator[str],
        *,
        measured: bool,
        heard_before: str = "",
        release: asyncio.Event | None = None,
    ) -> None:
        speaker = AgentSpeaker(
            turn_id=exchange.turn_id,
            tts=self.models.tts,
            voice=self.voice_for(self._language_of(exchange)),
            pack=pack_or_default(self._language_of(exchange)),
            emit=self._emit,
            clock=self._clock,
            timeline=exchange.timeline,
            output_open=self._output_open,
            lead_ms=self.engine.output_lead_ms,
            release=release,
            review=self._review(exchange),
        )
        if self.paused:
            speaker.pause()
        exchange.speaker = speaker
        if release is None:
            await self._exchanges.open_turn(exchange)
        await speaker.speak(tokens)
        text, calls, turn_id = speaker.spoken(), exchange.tool_calls, exchange.turn_id
        started = exchange.started_at or self._wallclock()
        exchange.timeline.turn_end = self._clock.now()
        latency = exchange.timeline.latency_ms()
        if exchange.citations:
            await self._emit(CitationsOut(turn_id, tuple(exchange.citations)))
        if text or not calls:
            language = self._language_of(exchange)
            await self._emit(TranscriptOut("agent", text, True, turn_id, language))
        if measured:
            await self._emit(MetricsOut(turn_id, latency))
        full = f"{heard_before} {speaker.said() if measured else text}".strip()
        if calls:  # the call goes into the conversation before its result can come back
            self._context.add_agent(full, turn_id=turn_id)
            for call in calls:
                await self._call_tool(exchange, call)
        await self._exchanges.close_turn(exchange, "tool_call" if calls else "completed")
        exchange.stage = Stage.PLAYING
        await speaker.wait_played()
        self._turn_log.keep_marks(turn_id, speaker.marks)
        if not calls:
            self._context.add_agent(full, turn_id=turn_id)
        record_text = f"{heard_before} {text}".strip()
        record = await self._record(
            exchange, "agent", record_text, started=started, latency_ms=latency,
            language=self._language_of(exchange),
        )  # fmt: skip
        exchange.recorded = True  # a close from here on must not store it again
        await self._turn_log.agent_turn(record, calls)
        self._upkeep.agent_done()
        if measured and self._hooks.hooks:
            info = self.info(turn_id, exchange)
            line = self._hooks.agent_turn(info, full, calls)
            await self._flush_marks(exchange)
            if line is not None:
                self._next_line = Say(line.text, then_end=line.end)

    async def _call_tool(self, exchange: Exchange, call: ToolCall) -> None:
        """Record the call; the client runs it, or the server's tool runner does (its
        result comes once the turn that made the call is over)."""
        self._context.add_tool_call(
            call.call_id, call.name, call.arguments, turn_id=exchange.turn_id
        )
        self._ledger.expect(call, exchange.turn_id)
        if not self._tools.runs_on_server(call.name):
            await self._emit(ToolCallOut(call.call_id, call.name, call.arguments, exchange.turn_id))
            return
        silent = not exchange.speaker or not exchange.speaker.spoken()
        self._host.background(self._run_tool(exchange, call, silent), f"parley-tool-{call.call_id}")

    async def _run_tool(self, exchange: Exchange, call: ToolCall, silent: bool) -> None:
        """Run a server-side tool call; if it runs long and the turn that made it said
        nothing, the agent says the runner's filler meanwhile. Then the result goes into
        the conversation and the agent goes on (or says the tool's line and ends)."""
        started = self._clock.now()
        running = asyncio.ensure_future(self._tools.run(call, self.info(exchange.turn_id)))
        filler = None
        try:
            line = self._tools.filler(call.name, self._language_of(exchange))
            slow = await still_running(self._clock, running, self._tools.filler_after_ms)
            if slow and line and silent:
                if exchange.task is not None:
                    await asyncio.wait([exchange.task])
                filler = self.say(Say(line))
            outcome = await running
        except Exception as exc:
            log.exception("tool failed", extra=self._extra(exchange.turn_id))
            text = f"the tool {call.name} failed: {type(exc).__name__}"
            outcome = ToolOutcome({"error": text}, ok=False)
        finally:
            running.cancel()
        took = round((self._clock.now() - started) * 1000.0, 1)
        status: Literal["ok", "error"] = "ok" if outcome.ok else "error"
        await self._emit(ServerToolOut(exchange.turn_id, call.call_id, call.name, status, took))
        for task in (exchange.task, filler.task if filler else None):
            if task is not None:
                await asyncio.wait([task])
        await self._tool_done(call, outcome)

    async def _tool_done(self, call: ToolCall, outcome: ToolOutcome) -> None:
        """A server-run call's result goes into the conversation; the agent goes on, or
        says the tool's line (then runs its ``after`` and ends the session if asked)."""
        if outcome.transfer is not None:
            await self._emit(outcome.transfer)
        if outcome.say is None:
            await self._host.tool_result(call.call_id, outcome.output)
            return
        await self._host.tool_result(call.call_id, outcome.output, respond=False)
        if outcome.after is None:
            self.say(Say(outcome.say, then_end=outcome.end))
            return
        said = self.say(Say(outcome.say))
        if said.task is not None:
            await asyncio.wait([said.task])
        await outcome.after()
        if outcome.end is not None:
            await self._host.close(outcome.end)


async def _one(text: str) -> AsyncIterator[str]:
    yield text


async def _cancelled(task: asyncio.Task[None] | None) -> None:
    """Cancel ``task`` (if still running) and wait for it to end."""
    if task is not None and not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def reply_language(agent: AgentConfig, voice: Voice) -> ReplyLanguage:
    """The reply language of a new conversation with ``agent``, whose own voice is
    ``voice``: an ``auto`` agent starts in its voice's language and may switch to any
    language it has a voice for."""
    own = voice.speaks()
    return ReplyLanguage(agent.language, own[0], {*agent.voices, *own})
