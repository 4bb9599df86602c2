"""Scripted stand-ins for the models, to test the engine's turn-taking in isolation.

They are deliberately simple and deterministic; they are never used by the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import numpy as np

from parley.core.events import Role, SafetyAction, SafetyKind
from parley.core.hooks import (
    ALLOW,
    Allow,
    Answer,
    ClauseDecision,
    ToolOutcome,
    ToolRunner,
    TurnHook,
    TurnInfo,
    UserTurnDecision,
)
from parley.providers.llm.base import ChatMessage, LanguageModel, ToolCall, ToolChoice, ToolSpec
from parley.providers.stt.base import SpeechToText, Transcript
from parley.providers.tts.base import TextToSpeech, Voice
from parley.providers.turn.base import TurnModel
from parley.providers.vad.base import VoiceActivityDetector


class ManualClock:
    """A clock that only moves when the test calls :meth:`advance`."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self._now + seconds, fut))
        await fut

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose time has come."""
        self._now += seconds
        due = [(t, f) for t, f in self._sleepers if t <= self._now + 1e-9]
        self._sleepers = [(t, f) for t, f in self._sleepers if t > self._now + 1e-9]
        for _, fut in due:
            if not fut.done():
                fut.set_result(None)


class LoudnessVAD(VoiceActivityDetector):
    """Speech probability 0.9 for frames with any sample above ``level``, else 0.0."""

    def __init__(self, level: int = 1000) -> None:
        self.level = level
        self.frames = 0

    def speech_probability(self, frame: bytes) -> float:
        self.frames += 1
        return 0.9 if np.abs(np.frombuffer(frame, dtype="<i2")).max() > self.level else 0.0

    def reset(self) -> None:
        self.frames = 0


class ScriptedSTT(SpeechToText):
    """Returns the scripted transcripts in order (repeating the last); records each call
    and the language asked for (``hints``).

    Each call waits for ``gate`` when one is set, so a test decides when STT finishes.
    ``detected`` scripts the language each call reports, detected with probability
    ``probability``; without it a call reports the language asked for (none for ``auto``).
    """

    name = "scripted-stt"

    def __init__(self, *texts: str, detected: Sequence[str] = (), probability: float = 0.9) -> None:
        self.texts = list(texts) or [""]
        self.detected, self.probability = list(detected), probability
        self.calls: list[bytes] = []
        self.hints: list[str] = []
        self.gate: asyncio.Event | None = None

    async def transcribe(self, pcm: bytes, *, language: str = "en") -> Transcript:
        index = len(self.calls)
        self.calls.append(pcm)
        self.hints.append(language)
        if self.gate is not None:
            await self.gate.wait()
        text = self.texts[min(index, len(self.texts) - 1)]
        if self.detected:
            heard = self.detected[min(index, len(self.detected) - 1)]
            return Transcript(text, language=heard, language_probability=self.probability)
        return Transcript(text, language=None if language == "auto" else language)


class ScriptedTurnModel(TurnModel):
    """Returns the scripted "finished" probabilities in order (repeating the last);
    records the audio of each call. With ``gate`` set, each call waits for it; with
    ``fail`` set, each call raises."""

    name = "scripted-turn"

    def __init__(self, *probabilities: float) -> None:
        self.probabilities = list(probabilities) or [1.0]
        self.calls: list[bytes] = []
        self.gate: asyncio.Event | None = None
        self.fail = False

    async def finished_probability(self, pcm: bytes) -> float:
        index = len(self.calls)
        self.calls.append(pcm)
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise RuntimeError("scripted turn model failure")
        return self.probabilities[min(index, len(self.probabilities) - 1)]


class ScriptedLLM(LanguageModel):
    """Streams a scripted reply word by word; records the messages it was given.

    A reply is words, a tool call, or ``(words, call)``: words spoken before the call.
    With ``gate`` set, it waits for the gate before every token from ``pause_after`` on.
    """

    name = "scripted-llm"

    def __init__(self, *replies: str | ToolCall | tuple[str, ToolCall]) -> None:
        self.replies: list[str | ToolCall | tuple[str, ToolCall]] = list(replies) or ["OK."]
        self.requests: list[list[ChatMessage]] = []
        self.tool_requests: list[tuple[tuple[ToolSpec, ...], ToolChoice]] = []
        self.prefills: list[list[ChatMessage]] = []
        self.gate: asyncio.Event | None = None
        self.pause_after = 1

    async def prefill(self, messages: list[ChatMessage]) -> None:
        self.prefills.append(list(messages))

    async def stream(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        tools: Sequence[ToolSpec] = (),
        tool_choice: ToolChoice = "auto",
    ) -> AsyncIterator[str | ToolCall]:
        index = len(self.requests)
        self.requests.append(list(messages))
        self.tool_requests.append((tuple(tools), tool_choice))
        reply = self.replies[min(index, len(self.replies) - 1)]
        words, call = (
            ("", reply)
            if isinstance(reply, ToolCall)
            else reply
            if isinstance(reply, tuple)
            else (reply, None)
        )
        for i, word in enumerate(words.split(" ") if words else []):
            if i >= self.pause_after and self.gate is not None:
                await self.gate.wait()
            await asyncio.sleep(0)
            yield word if i == 0 else " " + word
        if call is not None:
            await asyncio.sleep(0)
            yield call


class ToneTTS(TextToSpeech):
    """Speaks every clause as a 440 Hz tone of 60 ms per character at 22.05 kHz."""

    name = "tone-tts"
    SAMPLE_RATE = 22050

    def __init__(self, *languages: str) -> None:
        self.spoken: list[str] = []
        self.voiced: list[tuple[str, str]] = []
        """(voice id, text) of every clause."""
        self._languages = languages

    def voices(self) -> list[Voice]:
        """``tone`` (English), and ``tone-<code>`` for each of the ``languages``."""
        extra = [Voice(f"tone-{c}", f"Tone {c}", c, self.SAMPLE_RATE) for c in self._languages]
        return [Voice("tone", "Tone", "en", self.SAMPLE_RATE), *extra]

    async def synthesize(self, text: str, *, voice_id: str) -> AsyncIterator[bytes]:
        self.spoken.append(text)
        self.voiced.append((voice_id, text))
        n = int(self.SAMPLE_RATE * 0.06 * len(text))
        t = np.arange(n) / self.SAMPLE_RATE
        await asyncio.sleep(0)
        yield (np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2").tobytes()


class ScriptedHook(TurnHook):
    """A turn hook whose decisions a test sets; it records every call.

    ``user_turn`` maps the user's text to a decision (default: allow); ``clauses`` maps a
    clause's text to a decision; ``passage``, when set, is added to the LLM's context as
    a system message before the last user message; ``agent_turn`` maps the agent's words
    to a line to say next; ``store`` maps words to what is stored. With ``mark`` (kind,
    action, detail), every decision that is not "allow" is marked on the turn.
    """

    def __init__(
        self,
        name: str = "scripted",
        *,
        user_turn: Callable[[str], UserTurnDecision] | None = None,
        clauses: dict[str, ClauseDecision] | None = None,
        passage: str | None = None,
        agent_turn: Callable[[str], Answer | None] | None = None,
        store: Callable[[str], str] | None = None,
        mark: tuple[SafetyKind, SafetyAction, str] | None = None,
    ) -> None:
        self.name = name
        self._user_turn = user_turn
        self._clauses = clauses or {}
        self._passage = passage
        self._agent_turn = agent_turn
        self._store = store
        self._mark = mark
        self.agent_turns: list[str] = []
        self.user_turns: list[str] = []
        self.speculative: list[str] = []
        self.contexts: list[list[ChatMessage]] = []
        self.clauses: list[str] = []

    def _marked(self, turn: TurnInfo, decision: Any, role: Role) -> None:
        if self._mark is not None and not isinstance(decision, Allow):
            kind, action, detail = self._mark
            turn.mark(kind, action, detail, policy_id="pol_scripted", role=role)

    async def on_user_turn(self, turn: TurnInfo, text: str) -> UserTurnDecision:
        self.user_turns.append(text)
        decision = self._user_turn(text) if self._user_turn else ALLOW
        self._marked(turn, decision, "user")
        return decision

    def on_speculative_transcript(self, turn: TurnInfo, text: str) -> None:
        self.speculative.append(text)

    async def on_context(self, turn: TurnInfo, messages: list[ChatMessage]) -> list[ChatMessage]:
        self.contexts.append(list(messages))
        if self._passage is None:
            return messages
        note: ChatMessage = {"role": "system", "content": self._passage}
        return [*messages[:-1], note, messages[-1]]

    async def on_clause(self, turn: TurnInfo, clause: str) -> ClauseDecision:
        self.clauses.append(clause)
        decision = self._clauses.get(clause, ALLOW)
        self._marked(turn, decision, "agent")
        return decision

    def on_agent_turn(
        self, turn: TurnInfo, text: str, tool_calls: Sequence[ToolCall]
    ) -> Answer | None:
        self.agent_turns.append(text)
        return self._agent_turn(text) if self._agent_turn else None

    async def on_store(self, turn: TurnInfo, role: Role, text: str) -> str:
        return self._store(text) if self._store else text


class ScriptedToolRunner(ToolRunner):
    """Runs the tools named in ``outputs`` on the server, returning the scripted output
    (a :class:`ToolOutcome` as it is, an exception instance is raised instead) once
    ``gate`` is set (if given), with ``filler`` said if that takes long; other tools go to
    the client."""

    def __init__(
        self,
        outputs: dict[str, Any],
        *,
        gate: asyncio.Event | None = None,
        filler: str | None = None,
    ) -> None:
        self.outputs, self.gate, self._filler = outputs, gate, filler
        self.calls: list[ToolCall] = []

    def runs_on_server(self, name: str) -> bool:
        return name in self.outputs

    def filler(self, name: str, language: str | None = None) -> str | None:
        return self._filler

    async def run(self, call: ToolCall, turn: TurnInfo) -> ToolOutcome:
        self.calls.append(call)
        await (self.gate.wait() if self.gate else asyncio.sleep(0))
        output = self.outputs[call.name]
        if isinstance(output, Exception):
            raise output
        return output if isinstance(output, ToolOutcome) else ToolOutcome(output)
