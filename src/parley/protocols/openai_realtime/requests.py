"""``response.create`` parameters (GA or beta) → what one response should be."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from parley.protocols.openai_realtime.audio import FROM_BETA, AudioFormat
from parley.protocols.openai_realtime.client_events import BetaResponseParam, ResponseParam
from parley.protocols.openai_realtime.errors import RealtimeError
from parley.protocols.openai_realtime.session_settings import (
    SessionSettings,
    Voices,
    check_tool_choice,
    engine_tool_choice,
    parse_tool_choice,
)


@dataclass(frozen=True, slots=True)
class ResponseRequest:
    """One response's settings: the session's, with the request's overrides."""

    instructions: str | None
    tool_choice: str | None
    modality: Literal["audio", "text"]
    output_format: AudioFormat
    voice: str
    max_output_tokens: int | str
    metadata: dict[str, str] | None


def _unsupported(param: str, why: str) -> RealtimeError:
    return RealtimeError(why, code="invalid_value", param=f"response.{param}")


def response_request(
    p: ResponseParam | BetaResponseParam | None, settings: SessionSettings, voices: Voices
) -> ResponseRequest:
    """Check a ``response.create``'s parameters against what Parley can do."""
    request = ResponseRequest(
        instructions=None,
        tool_choice=None,
        modality=settings.modality,
        output_format=settings.output_format,
        voice=settings.voice,
        max_output_tokens=settings.max_output_tokens,
        metadata=None,
    )
    if p is None:
        return request
    if p.conversation not in (None, "auto"):
        raise _unsupported(
            "conversation", "out-of-band responses are not supported: 'conversation' must be 'auto'"
        )
    if p.input:
        raise _unsupported(
            "input", "custom response input is not supported: responses use the conversation"
        )
    if p.tools:
        raise _unsupported(
            "tools", "per-response tools are not supported: set 'tools' with session.update"
        )
    choice = None
    if p.tool_choice is not None:
        parsed = parse_tool_choice(p.tool_choice, "response.tool_choice")
        check_tool_choice(parsed, settings.tools, "response.tool_choice")
        choice = engine_tool_choice(parsed)
    modality, fmt, voice, tokens = (
        request.modality,
        request.output_format,
        p.voice if isinstance(p, BetaResponseParam) else None,
        request.max_output_tokens,
    )
    if isinstance(p, ResponseParam):
        if p.prompt is not None:
            raise _unsupported("prompt", "stored prompts are not supported: send 'instructions'")
        if p.output_modalities is not None:
            modality = p.output_modalities[0]
        out = p.audio.output if p.audio is not None else None
        if out is not None and out.format is not None:
            fmt = out.format.type
        voice = out.voice if out is not None else None
        tokens = p.max_output_tokens or tokens
    else:
        if p.modalities is not None:
            modality = "audio" if "audio" in p.modalities else "text"
        if p.output_audio_format is not None:
            fmt = FROM_BETA[p.output_audio_format]
        tokens = p.max_response_output_tokens or tokens
    name = request.voice
    if voice is not None:
        where = (
            "response.voice" if isinstance(p, BetaResponseParam) else "response.audio.output.voice"
        )
        name, engine_voice = voices.resolve(voice, where)
        if engine_voice != settings.engine_voice:
            raise _unsupported(
                "voice", "a response cannot change the voice: set it with session.update"
            )
    return ResponseRequest(
        instructions=p.instructions,
        tool_choice=choice,
        modality=modality,
        output_format=fmt,
        voice=name,
        max_output_tokens=tokens,
        metadata=p.metadata,
    )
