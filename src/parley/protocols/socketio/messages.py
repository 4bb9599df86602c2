"""The Socket.IO events a client emits: their names and payloads, typed."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from parley.audio.pcm import SAMPLE_RATE
from parley.core.events import ControlAction

NAMESPACE = "/v1/audio/agent"
"""The Socket.IO namespace of the voice agent."""
PROTOCOL_VERSION = "1"
CLIENT_EVENTS = ("start_session", "audio_chunk", "control", "end_session", "text", "tool_result")
"""Events a client may emit."""
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8_000, 48_000


def _not_bool(value: Any) -> Any:
    """JSON ``true`` is not a number."""
    if isinstance(value, bool):
        raise ValueError("Input should be a number, not a boolean")
    return value


_NoBool = BeforeValidator(_not_bool)


class EventPayload(BaseModel):
    """The payload object of a client event (unknown fields are ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


class StartSessionPayload(EventPayload):
    """``start_session``: a stored agent, or an ad-hoc one, and per-session settings."""

    agent_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")] | None = None
    voice: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    language: Annotated[str, Field(pattern=r"^([a-z]{2}(-[A-Z]{2})?|auto)$")] | None = None
    instructions: Annotated[str, Field(min_length=1, max_length=20_000)] | None = None
    first_message: Annotated[str, Field(max_length=2000)] | None = None
    vad_threshold: Annotated[float, Field(gt=0, allow_inf_nan=False), _NoBool] | None = None
    interrupt_threshold: Annotated[int, Field(ge=1, le=50), _NoBool] | None = None
    resume_token: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    """Continue the conversation of an earlier ``session_started`` (after a reconnect)."""


class AudioChunkPayload(EventPayload):
    """``audio_chunk``: PCM16 at any supported rate."""

    audio: Any
    """Base64 text, or raw bytes (a Socket.IO binary attachment)."""
    format: str = "pcm16"
    sample_rate: Annotated[int, Field(ge=MIN_SAMPLE_RATE, le=MAX_SAMPLE_RATE), _NoBool] = (
        SAMPLE_RATE
    )


class ControlPayload(EventPayload):
    """``control``: pause, resume, mute, ..."""

    action: ControlAction


class TextPayload(EventPayload):
    """``text``: a typed user turn."""

    text: Annotated[str, Field(min_length=1)]


class ToolResultPayload(EventPayload):
    """``tool_result``: the output of a client-side tool call."""

    call_id: Annotated[str, Field(min_length=1, max_length=200)]
    output: Any = None


PAYLOADS: dict[str, type[EventPayload]] = {
    "start_session": StartSessionPayload,
    "audio_chunk": AudioChunkPayload,
    "control": ControlPayload,
    "text": TextPayload,
    "tool_result": ToolResultPayload,
}
"""The payload model of each client event that has one (``end_session`` has none)."""


def payload_size(value: Any, limit: int) -> int:
    """About how many bytes ``value`` takes as JSON; counting stops once over ``limit``."""
    total, stack = 0, [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str):
            total += 2 + (
                len(item) if item.isascii() else len(item.encode("utf-8", "surrogatepass"))
            )
        elif isinstance(item, bytes | bytearray | memoryview):
            total += len(item)
        elif isinstance(item, dict):
            total += 2
            for key, sub in item.items():
                stack.append(key)
                stack.append(sub)
        elif isinstance(item, list | tuple):
            total += 2 + len(item)
            stack.extend(item)
        else:
            total += 8
    return total
