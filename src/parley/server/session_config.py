"""What a stored agent means to the engine: its :class:`AgentConfig`, the engine knobs
with its overrides applied, and its tools. Server settings fill what the agent leaves
unset."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter

from parley.audio.pcm import FRAME_MS
from parley.core.agent import AgentConfig, EngineConfig
from parley.core.turns import TurnConfig
from parley.errors import SessionError, ValidationError
from parley.providers.llm.base import ToolSpec
from parley.server.state import ServerState
from parley.storage import AgentRecord, SessionRecord
from parley.tools.definitions import (
    WEB_SEARCH_TOOL,
    AnyTool,
    ToolDefinition,
    tool_spec,
    variable_sources,
)
from parley.tools.variables import MissingVariables, check_filled, fill, session_variables

_TOOLS: TypeAdapter[list[AnyTool]] = TypeAdapter(list[ToolDefinition])


def agent_config(
    record: AgentRecord,
    state: ServerState,
    *,
    first_message: str | None = None,
    overrides: Mapping[str, float | str] | None = None,
    session: SessionRecord | None = None,
) -> AgentConfig:
    """Engine view of a stored agent; turn settings it does not set come from the server.

    ``first_message`` (a session's ``initial_message``) replaces the agent's own;
    ``overrides`` (per conversation) win over the agent's turn settings. The
    ``{{variables}}`` of the system prompt and first message are filled from
    ``session`` (a missing one is a ``SessionError``; without a session, left as they are).
    """
    d = state.settings.turns
    s = {**record.settings, **(overrides or {})}

    def pick(name: str) -> float:
        return float(s.get(name, getattr(d, name)))

    prompt, first = record.system_prompt, first_message or record.first_message
    if session is not None:
        values = session_values(record, session.id, session.metadata)
        try:
            prompt = fill(prompt, values, where="system_prompt")
            first = None if first is None else fill(first, values, where="first_message")
        except MissingVariables as exc:
            raise SessionError(str(exc)) from None
    return AgentConfig(
        agent_id=record.id,
        system_prompt=prompt,
        voice_id=record.voice_id,
        first_message=first,
        language=record.language,
        max_turns=record.max_turns,
        turns=TurnConfig(
            vad_threshold=pick("vad_threshold"),
            end_of_turn_silence_ms=pick("end_of_turn_silence_ms"),
            min_speech_ms=float(d.min_speech_ms),
            speculative_stt_after_ms=float(d.speculative_stt_after_ms),
            interrupt_min_speech_ms=pick("interrupt_threshold") * FRAME_MS,
            detection="silence"
            if s.get("turn_detection", d.turn_detection) == "silence"
            else "model",
            complete_silence_ms=float(d.turn_complete_silence_ms),
            incomplete_silence_ms=float(d.turn_incomplete_silence_ms),
            model_threshold=d.turn_model_threshold,
        ),
        idle_timeout_ms=pick("idle_timeout_ms"),
        idle_prompts=int(pick("idle_prompts")),
        tools=tool_specs(record),
    )


def tool_definitions(tools: list[dict[str, Any]] | None) -> list[AnyTool]:
    """An agent's stored ``tools`` as definitions (legacy ``function`` tools are client
    tools)."""
    return _TOOLS.validate_python(tools or [])


def tool_specs(record: AgentRecord) -> tuple[ToolSpec, ...]:
    """What the LLM is told about the agent's tools (never URLs, headers or numbers)."""
    specs = [tool_spec(d) for d in tool_definitions(record.tools)]
    return (*specs, WEB_SEARCH_TOOL) if record.web_search else tuple(specs)


def session_values(agent: AgentRecord, session_id: str, metadata: dict[str, Any]) -> dict[str, str]:
    """The values of a session's ``{{variables}}``: its metadata and the built-ins
    (``session_id``, ``agent_id``, ``now``, ``caller_number`` on phone calls)."""
    caller = metadata.get("from") if "call_sid" in metadata else None
    return session_variables(
        metadata, session_id=session_id, agent_id=agent.id, now=datetime.now(UTC),
        caller_number=caller if isinstance(caller, str) else None,
    )  # fmt: skip


def check_variables(
    agent: AgentRecord, metadata: dict[str, Any], first_message: str | None = None
) -> None:
    """Every ``{{variable}}`` of the agent's texts and webhooks must have a value in a
    session with ``metadata`` (422 ``validation_error`` naming each missing one)."""
    texts = {
        "system_prompt": agent.system_prompt,
        "first_message": first_message or agent.first_message,
        **variable_sources(tool_definitions(agent.tools)),
    }
    try:
        check_filled(texts, session_values(agent, "ses_new", metadata))
    except MissingVariables as exc:
        raise ValidationError(str(exc), param="metadata") from None


def engine_config(record: AgentRecord, state: ServerState) -> EngineConfig:
    """Server engine knobs with the agent's provider overrides applied."""
    m, o = state.settings.models, record.provider_overrides
    return EngineConfig(
        llm_max_tokens=int(o.get("llm_max_tokens") or m.llm_max_tokens),
        llm_temperature=float(o.get("llm_temperature", m.llm_temperature)),
        history_messages=m.history_messages,
        speculative_reply=m.speculative_reply,
    )
