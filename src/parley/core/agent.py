"""What a session is told about the agent it plays, the engine's knobs, the models it
uses, and who hears about its finished turns. Protocol codecs and the server import
these; none of them needs the session itself."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from parley.core.events import EndReason
from parley.core.hooks import CLIENT_TOOLS, ToolRunner, TurnHook
from parley.core.records import TurnRecord
from parley.core.turns import TurnConfig
from parley.languages import AUTO, base_code
from parley.providers.llm.base import LanguageModel, ToolChoice, ToolSpec
from parley.providers.stt.base import SpeechToText
from parley.providers.tts.base import TextToSpeech
from parley.providers.turn.base import TurnModel
from parley.providers.vad.base import VoiceActivityDetector


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """What the engine needs to know about the agent it plays."""

    agent_id: str
    system_prompt: str
    voice_id: str
    first_message: str | None = None
    language: str = "en"
    """The reply language: a code (always answer in it, whatever the caller speaks) or
    ``auto`` (the caller's; see :class:`~parley.core.language.ReplyLanguage`)."""
    voices: Mapping[str, str] = field(default_factory=dict)
    """The voice of each language the agent may answer in (``voice_id`` for the others);
    with ``auto``, also the languages it may switch to."""
    max_turns: int = 50
    turns: TurnConfig = field(default_factory=TurnConfig)
    idle_timeout_ms: float = 15000.0
    """User silence after the agent finished before it checks in; 0 disables."""
    idle_prompts: int = 2
    tools: tuple[ToolSpec, ...] = ()
    """Functions the agent may call; the client runs them (``tool_call``)."""
    tool_choice: ToolChoice = "auto"
    turn_detection: bool = True
    """The server ends user turns from voice activity (and detects barge-in). False:
    only :class:`~parley.core.events.CommitIn` ends a user turn."""
    auto_respond: bool = True
    """Answer every user turn at once; False: wait for a
    :class:`~parley.core.events.RespondIn`."""

    @property
    def english_only(self) -> bool:
        """True for an agent that answers in English only: its callers are heard by an
        English speech model and its LLM is not told a language."""
        return base_code(self.language) == "en"

    @property
    def stt_language(self) -> str:
        """What speech-to-text is asked for: ``en``, or ``auto`` (any caller language is
        understood, even by an agent that always answers in one)."""
        return "en" if self.english_only else AUTO


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Engine knobs shared by all sessions of a server."""

    llm_max_tokens: int = 96
    llm_temperature: float = 0.3
    history_messages: int = 12
    poll_interval_s: float = 0.02
    preroll_ms: float = 320.0
    max_utterance_ms: float = 28_000.0
    output_lead_ms: float = 500.0
    """How far agent audio is sent ahead of real-time playback."""
    speculative_reply: bool = True
    """Start the LLM and TTS on the speculative transcript during the end-of-turn
    silence; the audio is released at end of turn, or dropped if the user goes on."""


@dataclass(frozen=True, slots=True)
class SessionModels:
    """The models one session uses: shared STT/LLM/TTS, its own VAD state."""

    stt: SpeechToText
    llm: LanguageModel
    tts: TextToSpeech
    vad: VoiceActivityDetector
    turn: TurnModel | None = None
    """The shared end-of-turn model; None: turns end by silence alone."""


class SessionObserver(Protocol):
    """Receives finished turns and the end of the session (storage implements this)."""

    async def on_turn(self, record: TurnRecord) -> None: ...

    async def on_turn_truncated(self, turn_id: str, text: str) -> None:
        """A finished agent turn was heard only up to ``text`` (the client truncated it)."""
        ...

    async def on_tool_output(self, turn_id: str, call_id: str, output: Any) -> None:
        """The client's result of a tool call that stored agent turn ``turn_id`` made."""
        ...

    async def on_end(self, reason: EndReason) -> None: ...


@dataclass(frozen=True, slots=True)
class AgentLayer:
    """The agent-layer parts of one session (see :mod:`parley.core.hooks`): hooks called
    on every turn, in order, and who runs tool calls. Empty: a plain voice pipeline."""

    hooks: tuple[TurnHook, ...] = ()
    tools: ToolRunner = CLIENT_TOOLS
    fixed_lines: frozenset[str] = frozenset()
    """Lines the hooks may make the agent say (fillers, fallbacks): worth synthesizing
    once and keeping."""
