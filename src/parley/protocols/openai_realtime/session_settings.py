"""The Realtime session's settings: merged from ``session.update`` (GA or beta shape),
reported in ``session.created``/``session.updated`` and turned into the engine's
:class:`~parley.core.session.AgentConfig`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from parley.core.agent import AgentConfig
from parley.protocols.openai_realtime.audio import (
    BETA_NAMES,
    FROM_BETA,
    AudioFormat,
    format_object,
)
from parley.protocols.openai_realtime.client_events import (
    BetaSessionParam,
    BetaTurnDetectionParam,
    FormatParam,
    SessionParam,
    ToolParam,
    TurnDetectionParam,
)
from parley.protocols.openai_realtime.errors import RealtimeError
from parley.providers.llm.base import ToolSpec

OPENAI_VOICES = frozenset(
    {"alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar"}
    | {"fable", "onyx", "nova"}
)
"""OpenAI's voice names: each speaks with the agent's own voice."""
BETA_MODELS = frozenset(
    {
        "gpt-realtime",
        "gpt-realtime-2025-08-28",
        "gpt-4o-realtime-preview",
        "gpt-4o-realtime-preview-2024-10-01",
        "gpt-4o-realtime-preview-2024-12-17",
        "gpt-4o-realtime-preview-2025-06-03",
        "gpt-4o-mini-realtime-preview",
        "gpt-4o-mini-realtime-preview-2024-12-17",
    }
)
"""The model names the beta session object may carry."""
EAGERNESS_SILENCE_MS = {"low": 1000.0, "high": 300.0}
"""End-of-turn silence for ``semantic_vad`` eagerness (medium/auto: the agent's own)."""
TOOL_MODES = ("auto", "none", "required")
Modality = Literal["audio", "text"]


@dataclass(frozen=True, slots=True)
class TurnDetection:
    """Server turn detection as reported to the client."""

    type: Literal["server_vad", "semantic_vad"] = "server_vad"
    threshold: float = 0.5
    prefix_padding_ms: int = 320
    silence_duration_ms: int = 500
    create_response: bool = True
    interrupt_response: bool = True
    idle_timeout_ms: int | None = None
    eagerness: str = "auto"

    def wire(self) -> dict[str, Any]:
        """The ``turn_detection`` object."""
        if self.type == "semantic_vad":
            return {
                "type": "semantic_vad",
                "eagerness": self.eagerness,
                "create_response": self.create_response,
                "interrupt_response": self.interrupt_response,
            }
        fields = {
            "type": "server_vad",
            "threshold": self.threshold,
            "prefix_padding_ms": self.prefix_padding_ms,
            "silence_duration_ms": self.silence_duration_ms,
            "create_response": self.create_response,
            "interrupt_response": self.interrupt_response,
        }
        if self.idle_timeout_ms is not None:
            fields["idle_timeout_ms"] = self.idle_timeout_ms
        return fields


@dataclass(frozen=True, slots=True)
class Voices:
    """The voices a session may pick: Parley's installed voice ids, and OpenAI's names,
    which all mean the agent's own voice ``default``."""

    default: str
    installed: tuple[str, ...]

    def resolve(self, value: Any, param: str) -> tuple[str, str]:
        """``(name reported to the client, Parley voice id)`` for a requested voice."""
        name = value.get("id") if isinstance(value, dict) and len(value) == 1 else value
        if not isinstance(name, str) or not name:
            raise RealtimeError(
                f'invalid value for {param!r}: a voice name or {{"id": ...}}',
                code="invalid_type",
                param=param,
            )
        if name in self.installed:
            return name, name
        if name in OPENAI_VOICES:
            return name, self.default
        choices = ", ".join([*self.installed, *sorted(OPENAI_VOICES)])
        raise RealtimeError(
            f"invalid value {name!r} for {param!r}: voices are {choices}",
            code="invalid_value",
            param=param,
        )


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """What ``session.updated`` reports; :meth:`agent` makes the engine's view of it."""

    model: str
    voice: str
    engine_voice: str
    instructions: str | None = None
    """``None``: the agent's stored prompt (not revealed to the client)."""
    input_format: AudioFormat = "audio/pcm"
    output_format: AudioFormat = "audio/pcm"
    modality: Modality = "audio"
    turn_detection: TurnDetection | None = TurnDetection()
    tools: tuple[dict[str, Any], ...] = ()
    tool_choice: str | dict[str, str] = "auto"
    max_output_tokens: int | str = "inf"
    transcription: dict[str, Any] | None = None
    noise_reduction: dict[str, Any] | None = None
    speed: float | None = None
    temperature: float | None = None
    default_detection: TurnDetection = TurnDetection()
    """The agent's own turn detection: what a ``turn_detection`` object leaves out."""

    # ------------------------------------------------------------ engine view

    def agent(self, base: AgentConfig) -> AgentConfig:
        """``base`` (the session's current engine settings) with these applied."""
        td = self.turn_detection
        turns = base.turns
        idle = base.idle_timeout_ms
        if td is not None:
            silence = float(td.silence_duration_ms)
            if td.type == "semantic_vad":
                silence = EAGERNESS_SILENCE_MS.get(td.eagerness, turns.end_of_turn_silence_ms)
            turns = dataclasses.replace(
                turns,
                vad_threshold=min(0.95, max(0.05, td.threshold)),
                end_of_turn_silence_ms=min(5000.0, max(100.0, silence)),
                detection="model" if td.type == "semantic_vad" else "silence",
            )
            idle = float(td.idle_timeout_ms or 0)
        return dataclasses.replace(
            base,
            system_prompt=base.system_prompt if self.instructions is None else self.instructions,
            voice_id=self.engine_voice,
            turn_detection=td is not None,
            auto_respond=td is not None and td.create_response,
            turns=turns,
            idle_timeout_ms=idle,
            tools=tuple(tool_spec(t) for t in self.tools),
            tool_choice=engine_tool_choice(self.tool_choice),
        )

    # ------------------------------------------------------------ wire views

    def ga(self) -> dict[str, Any]:
        """The GA session object."""
        session: dict[str, Any] = {
            "type": "realtime",
            "model": self.model,
            "output_modalities": [self.modality],
        }
        if self.instructions is not None:
            session["instructions"] = self.instructions
        audio_in: dict[str, Any] = {
            "format": format_object(self.input_format),
            "transcription": self.transcription,
            "noise_reduction": self.noise_reduction,
            "turn_detection": self.turn_detection.wire() if self.turn_detection else None,
        }
        audio_out: dict[str, Any] = {
            "format": format_object(self.output_format),
            "voice": self.voice,
        }
        if self.speed is not None:
            audio_out["speed"] = self.speed
        session["audio"] = {"input": audio_in, "output": audio_out}
        session["tools"] = list(self.tools)
        session["tool_choice"] = self.tool_choice
        session["max_output_tokens"] = self.max_output_tokens
        return session

    def beta(self, session_id: str) -> dict[str, Any]:
        """The beta session object."""
        session: dict[str, Any] = {"id": session_id}
        if self.model in BETA_MODELS:
            session["model"] = self.model
        session["modalities"] = ["text", "audio"] if self.modality == "audio" else ["text"]
        if self.instructions is not None:
            session["instructions"] = self.instructions
        choice = self.tool_choice
        session |= {
            "voice": self.voice,
            "input_audio_format": BETA_NAMES[self.input_format],
            "output_audio_format": BETA_NAMES[self.output_format],
            "input_audio_transcription": self.transcription,
            "input_audio_noise_reduction": self.noise_reduction,
            "turn_detection": self.turn_detection.wire() if self.turn_detection else None,
            "tools": list(self.tools),
            "tool_choice": choice if isinstance(choice, str) else choice["name"],
            "max_response_output_tokens": self.max_output_tokens,
        }
        if self.speed is not None:
            session["speed"] = self.speed
        if self.temperature is not None:
            session["temperature"] = self.temperature
        return session


def initial_settings(
    agent: AgentConfig, *, model: str, voices: Voices, prefix_padding_ms: int
) -> SessionSettings:
    """The settings a session starts with: the agent's voice, turn settings and tools."""
    turns = agent.turns
    detection = TurnDetection(
        type="semantic_vad" if turns.detection == "model" else "server_vad",
        threshold=round(turns.vad_threshold, 3),
        prefix_padding_ms=prefix_padding_ms,
        silence_duration_ms=round(turns.end_of_turn_silence_ms),
        create_response=agent.auto_respond,
    )
    choice = agent.tool_choice
    return SessionSettings(
        model=model,
        voice=agent.voice_id,
        engine_voice=voices.default,
        turn_detection=detection if agent.turn_detection else None,
        default_detection=detection,
        tools=tuple(tool_wire(t) for t in agent.tools),
        tool_choice=choice if choice in TOOL_MODES else {"type": "function", "name": choice},
    )


# ---------------------------------------------------------------- session.update


def apply_ga(settings: SessionSettings, p: SessionParam, voices: Voices) -> SessionSettings:
    """Merge a GA ``session.update``: only the parameters sent change."""
    changes: dict[str, Any] = {}
    sent = p.model_fields_set
    if p.prompt is not None:
        raise RealtimeError(
            "stored prompts are not supported: send 'instructions'",
            code="invalid_value",
            param="session.prompt",
        )
    if "instructions" in sent:
        changes["instructions"] = p.instructions or ""
    if p.output_modalities is not None:
        changes["modality"] = p.output_modalities[0]
    if p.max_output_tokens is not None:
        changes["max_output_tokens"] = p.max_output_tokens
    if p.audio is not None and p.audio.input is not None:
        a = p.audio.input
        given = a.model_fields_set
        if a.format is not None:
            changes["input_format"] = _format(a.format)
        if "transcription" in given:
            changes["transcription"] = a.transcription
        if "noise_reduction" in given:
            changes["noise_reduction"] = a.noise_reduction
        if "turn_detection" in given:
            changes["turn_detection"] = _detection(settings, a.turn_detection)
    if p.audio is not None and p.audio.output is not None:
        o = p.audio.output
        if o.format is not None:
            changes["output_format"] = _format(o.format)
        if o.voice is not None:
            voice, engine_voice = voices.resolve(o.voice, "session.audio.output.voice")
            changes |= {"voice": voice, "engine_voice": engine_voice}
        if o.speed is not None:
            changes["speed"] = o.speed
    return _tools(settings, changes, p.tools, p.tool_choice, "tool_choice" in sent)


def apply_beta(settings: SessionSettings, p: BetaSessionParam, voices: Voices) -> SessionSettings:
    """Merge a beta ``session.update``: only the parameters sent change."""
    changes: dict[str, Any] = {}
    sent = p.model_fields_set
    if "instructions" in sent:
        changes["instructions"] = p.instructions or ""
    if p.modalities is not None:
        changes["modality"] = "audio" if "audio" in p.modalities else "text"
    if p.voice is not None:
        voice, engine_voice = voices.resolve(p.voice, "session.voice")
        changes |= {"voice": voice, "engine_voice": engine_voice}
    if p.input_audio_format is not None:
        changes["input_format"] = FROM_BETA[p.input_audio_format]
    if p.output_audio_format is not None:
        changes["output_format"] = FROM_BETA[p.output_audio_format]
    if "input_audio_transcription" in sent:
        changes["transcription"] = p.input_audio_transcription
    if "input_audio_noise_reduction" in sent:
        changes["noise_reduction"] = p.input_audio_noise_reduction
    if "turn_detection" in sent:
        changes["turn_detection"] = _detection(settings, p.turn_detection)
    if p.max_response_output_tokens is not None:
        changes["max_output_tokens"] = p.max_response_output_tokens
    if p.speed is not None:
        changes["speed"] = p.speed
    if p.temperature is not None:
        changes["temperature"] = p.temperature
    return _tools(settings, changes, p.tools, p.tool_choice, "tool_choice" in sent)


def _format(f: FormatParam) -> AudioFormat:
    return f.type


def _detection(
    settings: SessionSettings, td: TurnDetectionParam | BetaTurnDetectionParam | None
) -> TurnDetection | None:
    if td is None:
        return None
    base = settings.default_detection
    values = {k: v for k, v in td.model_dump().items() if v is not None and k != "type"}
    if td.type == "semantic_vad":
        values.setdefault("eagerness", "auto")
    return dataclasses.replace(base, type=td.type, **values)


def _tools(
    settings: SessionSettings,
    changes: dict[str, Any],
    tools: list[ToolParam] | None,
    choice: Any,
    choice_sent: bool,
) -> SessionSettings:
    if tools is not None:
        changes["tools"] = tuple(tool_wire(tool_spec(t.model_dump())) for t in tools)
    if choice_sent:
        changes["tool_choice"] = parse_tool_choice(choice, "session.tool_choice")
    updated = dataclasses.replace(settings, **changes)
    check_tool_choice(updated.tool_choice, updated.tools, "session.tool_choice")
    return updated


# ---------------------------------------------------------------- tools


def tool_spec(tool: dict[str, Any]) -> ToolSpec:
    """The engine's spec of a wire function tool."""
    return ToolSpec(
        name=str(tool["name"]),
        description=str(tool.get("description") or ""),
        parameters=dict(tool.get("parameters") or {"type": "object", "properties": {}}),
    )


def tool_wire(spec: ToolSpec) -> dict[str, Any]:
    """A function tool as the session object lists it."""
    return {
        "type": "function",
        "name": spec.name,
        "description": spec.description,
        "parameters": spec.parameters,
    }


def parse_tool_choice(value: Any, param: str) -> str | dict[str, str]:
    """``auto``/``none``/``required`` or ``{"type": "function", "name": ...}``."""
    if value is None:
        return "auto"
    if isinstance(value, str) and value in TOOL_MODES:
        return value
    if (
        isinstance(value, dict)
        and value.get("type") == "function"
        and isinstance(value.get("name"), str)
        and set(value) == {"type", "name"}
    ):
        return {"type": "function", "name": value["name"]}
    raise RealtimeError(
        f"invalid value for {param!r}: 'auto', 'none', 'required' or "
        '{"type": "function", "name": ...} (MCP tools are not supported)',
        code="invalid_value",
        param=param,
    )


def check_tool_choice(
    choice: str | dict[str, str], tools: tuple[dict[str, Any], ...], param: str
) -> None:
    """A forced function must be one of the session's tools."""
    if isinstance(choice, dict) and choice["name"] not in {t["name"] for t in tools}:
        raise RealtimeError(
            f"{param!r} names function {choice['name']!r}, which is not among the session's tools",
            code="invalid_value",
            param=param,
        )


def engine_tool_choice(choice: str | dict[str, str]) -> str:
    """The engine's tool choice: a mode or the forced tool's name."""
    return choice if isinstance(choice, str) else choice["name"]
