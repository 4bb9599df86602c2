"""What a stored agent means to the engine: its :class:`AgentConfig`, the engine knobs
with its overrides applied, and its tools. Server settings fill what the agent leaves
unset."""

from __future__ import annotations

from typing import Any

from parley.audio.pcm import FRAME_MS
from parley.core.agent import AgentConfig, EngineConfig
from parley.core.turns import TurnConfig
from parley.providers.llm.base import ToolSpec
from parley.server.state import ServerState
from parley.storage import AgentRecord


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
