"""Client events of the Realtime protocol (GA shapes, and the beta shapes of the events
whose payload differs) and their decoding from a WebSocket frame.

Models are strict: unknown parameters, missing required ones and wrong types are
rejected with the parameter's path, as the Realtime API does.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from parley.protocols.openai_realtime.errors import RealtimeError, from_pydantic

NonNegative = Annotated[int, Field(ge=0)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
MaxTokens = Annotated[int, Field(ge=1, le=4096)] | Literal["inf"]
Modality = Literal["audio", "text"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _Event(_Strict):
    event_id: str | None = None


# ---------------------------------------------------------------- session (GA)


class FormatParam(_Strict):
    """``{"type": "audio/pcm", "rate": 24000}``, ``{"type": "audio/pcmu"}``, ..."""

    type: Literal["audio/pcm", "audio/pcmu", "audio/pcma"]
    rate: Literal[24000] | None = None


class TurnDetectionParam(_Strict):
    """``server_vad`` or ``semantic_vad`` (both run on Parley's VAD, see docs)."""

    type: Literal["server_vad", "semantic_vad"]
    threshold: Probability | None = None
    prefix_padding_ms: NonNegative | None = None
    silence_duration_ms: NonNegative | None = None
    create_response: bool | None = None
    interrupt_response: bool | None = None
    idle_timeout_ms: NonNegative | None = None
    eagerness: Literal["low", "medium", "high", "auto"] | None = None


class AudioInputParam(_Strict):
    format: FormatParam | None = None
    transcription: dict[str, Any] | None = None
    noise_reduction: dict[str, Any] | None = None
    turn_detection: TurnDetectionParam | None = None


class AudioOutputParam(_Strict):
    format: FormatParam | None = None
    voice: Any = None
    speed: Annotated[float, Field(ge=0.25, le=1.5)] | None = None


class AudioParam(_Strict):
    input: AudioInputParam | None = None
    output: AudioOutputParam | None = None


class ToolParam(_Strict):
    """A function tool (the only kind Parley runs)."""

    type: Literal["function"] = "function"
    name: Annotated[str, Field(min_length=1, max_length=64)]
    description: str | None = None
    parameters: dict[str, Any] | None = None


class SessionParam(_Strict):
    """``session.update`` ``session`` (GA)."""

    type: Literal["realtime"] | None = None
    model: str | None = None
    instructions: str | None = None
    output_modalities: Annotated[list[Modality], Field(min_length=1, max_length=1)] | None = None
    audio: AudioParam | None = None
    tools: list[ToolParam] | None = None
    tool_choice: Any = None
    max_output_tokens: MaxTokens | None = None
    include: list[str] | None = None
    tracing: Any = None
    truncation: Any = None
    prompt: Any = None
    reasoning: Any = None
    parallel_tool_calls: bool | None = None


# ---------------------------------------------------------------- session (beta)


class BetaTurnDetectionParam(_Strict):
    type: Literal["server_vad", "semantic_vad"] = "server_vad"
    threshold: Probability | None = None
    prefix_padding_ms: NonNegative | None = None
    silence_duration_ms: NonNegative | None = None
    create_response: bool | None = None
    interrupt_response: bool | None = None
    idle_timeout_ms: NonNegative | None = None
    eagerness: Literal["low", "medium", "high", "auto"] | None = None


BetaFormat = Literal["pcm16", "g711_ulaw", "g711_alaw"]


class BetaSessionParam(_Strict):
    """``session.update`` ``session`` (beta, ``OpenAI-Beta: realtime=v1``)."""

    model: str | None = None
    modalities: Annotated[list[Modality], Field(min_length=1, max_length=2)] | None = None
    instructions: str | None = None
    voice: Any = None
    input_audio_format: BetaFormat | None = None
    output_audio_format: BetaFormat | None = None
    input_audio_transcription: dict[str, Any] | None = None
    input_audio_noise_reduction: dict[str, Any] | None = None
    turn_detection: BetaTurnDetectionParam | None = None
    tools: list[ToolParam] | None = None
    tool_choice: Any = None
    temperature: float | None = None
    max_response_output_tokens: MaxTokens | None = None
    speed: Annotated[float, Field(ge=0.25, le=1.5)] | None = None
    tracing: Any = None
    client_secret: Any = None


# ---------------------------------------------------------------- items


class ContentParam(_Strict):
    type: Literal[
        "input_text",
        "input_audio",
        "input_image",
        "output_text",
        "output_audio",
        "text",
        "audio",
        "item_reference",
    ]
    text: str | None = None
    audio: str | None = None
    transcript: str | None = None
    id: str | None = None
    image_url: str | None = None
    detail: str | None = None


class ItemParam(_Strict):
    """A conversation item as a client sends it (checked further by kind)."""

    type: Literal["message", "function_call", "function_call_output", "item_reference"]
    id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    object: Literal["realtime.item"] | None = None
    status: Literal["completed", "incomplete", "in_progress"] | None = None
    role: Literal["user", "assistant", "system"] | None = None
    content: list[ContentParam] | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    output: str | None = None


# ---------------------------------------------------------------- responses


class ResponseAudioOutputParam(_Strict):
    format: FormatParam | None = None
    voice: Any = None


class ResponseAudioParam(_Strict):
    output: ResponseAudioOutputParam | None = None


class ResponseParam(_Strict):
    """``response.create`` ``response`` (GA)."""

    instructions: str | None = None
    tool_choice: Any = None
    tools: list[Any] | None = None
    output_modalities: Annotated[list[Modality], Field(min_length=1, max_length=1)] | None = None
    audio: ResponseAudioParam | None = None
    conversation: str | None = None
    input: list[Any] | None = None
    metadata: dict[str, str] | None = None
    max_output_tokens: MaxTokens | None = None
    prompt: Any = None
    reasoning: Any = None
    parallel_tool_calls: bool | None = None


class BetaResponseParam(_Strict):
    """``response.create`` ``response`` (beta)."""

    instructions: str | None = None
    tool_choice: Any = None
    tools: list[Any] | None = None
    modalities: Annotated[list[Modality], Field(min_length=1, max_length=2)] | None = None
    voice: Any = None
    output_audio_format: BetaFormat | None = None
    conversation: str | None = None
    input: list[Any] | None = None
    metadata: dict[str, str] | None = None
    temperature: float | None = None
    max_response_output_tokens: MaxTokens | None = None


# ---------------------------------------------------------------- events


class SessionUpdate(_Event):
    type: Literal["session.update"]
    session: SessionParam


class BetaSessionUpdate(_Event):
    type: Literal["session.update"]
    session: BetaSessionParam


class BufferAppend(_Event):
    type: Literal["input_audio_buffer.append"]
    audio: str


class BufferCommit(_Event):
    type: Literal["input_audio_buffer.commit"]


class BufferClear(_Event):
    type: Literal["input_audio_buffer.clear"]


class ItemCreate(_Event):
    type: Literal["conversation.item.create"]
    previous_item_id: str | None = None
    item: ItemParam


class ItemTruncate(_Event):
    type: Literal["conversation.item.truncate"]
    item_id: str
    content_index: NonNegative
    audio_end_ms: NonNegative


class ItemDelete(_Event):
    type: Literal["conversation.item.delete"]
    item_id: str


class ItemRetrieve(_Event):
    type: Literal["conversation.item.retrieve"]
    item_id: str


class ResponseCreate(_Event):
    type: Literal["response.create"]
    response: ResponseParam | None = None


class BetaResponseCreate(_Event):
    type: Literal["response.create"]
    response: BetaResponseParam | None = None


class ResponseCancel(_Event):
    type: Literal["response.cancel"]
    response_id: str | None = None


ClientMessage = (
    SessionUpdate
    | BetaSessionUpdate
    | BufferAppend
    | BufferCommit
    | BufferClear
    | ItemCreate
    | ItemTruncate
    | ItemDelete
    | ItemRetrieve
    | ResponseCreate
    | BetaResponseCreate
    | ResponseCancel
)

_COMMON: dict[str, type[_Event]] = {
    "input_audio_buffer.append": BufferAppend,
    "input_audio_buffer.commit": BufferCommit,
    "input_audio_buffer.clear": BufferClear,
    "conversation.item.create": ItemCreate,
    "conversation.item.truncate": ItemTruncate,
    "conversation.item.delete": ItemDelete,
    "conversation.item.retrieve": ItemRetrieve,
    "response.cancel": ResponseCancel,
}
GA_EVENTS: dict[str, type[_Event]] = {
    "session.update": SessionUpdate,
    "response.create": ResponseCreate,
    **_COMMON,
}
BETA_EVENTS: dict[str, type[_Event]] = {
    "session.update": BetaSessionUpdate,
    "response.create": BetaResponseCreate,
    **_COMMON,
}
UNSUPPORTED = {
    "output_audio_buffer.clear": "output_audio_buffer.clear is for WebRTC and SIP "
    "connections; on a WebSocket the client drops its own queued audio",
    "transcription_session.update": "transcription sessions are not supported; this "
    "endpoint runs conversations",
}


def decode(frame: str | bytes, *, beta: bool, max_frame_bytes: int) -> ClientMessage:
    """One client frame → a validated event; raises :class:`RealtimeError`."""
    if isinstance(frame, bytes):
        raise RealtimeError(
            "binary frames are not supported: send JSON text frames", code="invalid_json"
        )
    size = len(frame) if frame.isascii() else len(frame.encode("utf-8"))
    if size > max_frame_bytes:
        raise RealtimeError(
            f"event of {size} bytes exceeds this server's limit of {max_frame_bytes} bytes; "
            "send audio in smaller appends",
            code="event_too_large",
        )
    try:
        raw = json.loads(frame)
    except (ValueError, RecursionError) as exc:
        detail = (
            f"{exc.msg} at position {exc.pos}" if isinstance(exc, json.JSONDecodeError) else exc
        )
        raise RealtimeError(f"the event is not valid JSON: {detail}", code="invalid_json") from None
    if not isinstance(raw, dict):
        raise RealtimeError("an event must be a JSON object", code="invalid_json")
    event_id = raw.get("event_id") if isinstance(raw.get("event_id"), str) else None
    kind = raw.get("type")
    if kind is None:
        raise RealtimeError(
            "missing required parameter 'type'",
            code="missing_required_parameter",
            param="type",
            event_id=event_id,
        )
    if isinstance(kind, str) and kind in UNSUPPORTED:
        raise RealtimeError(
            UNSUPPORTED[kind], code="unsupported_event", param="type", event_id=event_id
        )
    events = BETA_EVENTS if beta else GA_EVENTS
    model = events.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise RealtimeError(
            f"invalid value {str(kind)[:60]!r} for 'type': supported events are "
            + ", ".join(sorted(events)),
            code="invalid_value",
            param="type",
            event_id=event_id,
        )
    try:
        message: ClientMessage = model.model_validate(raw)  # type: ignore[assignment]
    except pydantic.ValidationError as exc:
        raise from_pydantic(exc, event_id=event_id) from None
    except RecursionError:
        raise RealtimeError("the event is nested too deeply", code="invalid_value") from None
    return message
