"""The closed set of typed events that flow into and out of a voice session.

Protocol codecs translate wire messages to these events and back; the engine never
sees JSON, base64 or sockets. Audio inside events is always PCM16 LE mono at
:data:`SAMPLE_RATE`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

SAMPLE_RATE = 16_000
"""Sample rate of all audio inside the engine, in Hz."""

ControlAction = Literal["interrupt", "start_listening", "stop_listening", "pause", "resume"]
CONTROL_ACTIONS: tuple[ControlAction, ...] = (
    "interrupt",
    "start_listening",
    "stop_listening",
    "pause",
    "resume",
)
Role = Literal["user", "agent"]
EndReason = Literal["client", "max_turns", "expired", "agent_deleted", "idle", "error"]


# ---------------------------------------------------------------- client → session


@dataclass(frozen=True, slots=True)
class AudioIn:
    """A chunk of the user's microphone audio (PCM16 LE, 16 kHz, mono)."""

    pcm: bytes


@dataclass(frozen=True, slots=True)
class TextIn:
    """A typed user turn."""

    text: str


@dataclass(frozen=True, slots=True)
class ControlIn:
    """A control command."""

    action: ControlAction


@dataclass(frozen=True, slots=True)
class PlaybackIn:
    """How many ms of the current agent turn's audio the client has actually played."""

    played_ms: int


@dataclass(frozen=True, slots=True)
class ToolResultIn:
    """The client's answer to a ``tool_call``."""

    call_id: str
    output: Any


@dataclass(frozen=True, slots=True)
class PingIn:
    """Keepalive; ``ts`` is echoed back in the pong."""

    ts: Any = None


@dataclass(frozen=True, slots=True)
class EndIn:
    """The client ends the conversation."""


ClientEvent = AudioIn | TextIn | ControlIn | PlaybackIn | ToolResultIn | PingIn | EndIn


# ---------------------------------------------------------------- session → client


@dataclass(frozen=True, slots=True)
class AudioFormat:
    """Describes the PCM audio on the wire."""

    encoding: str = "pcm16"
    sample_rate: int = SAMPLE_RATE
    channels: int = 1


@dataclass(frozen=True, slots=True)
class Connected:
    """The session is ready."""

    conversation_id: str
    agent_id: str
    audio_format: AudioFormat = field(default_factory=AudioFormat)


@dataclass(frozen=True, slots=True)
class AudioOut:
    """A chunk of agent speech; ``seq`` counts chunks within the turn from 0."""

    pcm: bytes
    turn_id: str
    seq: int


@dataclass(frozen=True, slots=True)
class TranscriptOut:
    """Text of a user or agent turn."""

    role: Role
    text: str
    final: bool
    turn_id: str


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """The user started speaking."""


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    """The user's end of turn was detected."""


@dataclass(frozen=True, slots=True)
class Interruption:
    """The agent turn was interrupted: the client drops its queued agent audio."""

    turn_id: str


@dataclass(frozen=True, slots=True)
class AgentTurnEnd:
    """All audio of the agent turn has been sent."""

    turn_id: str


@dataclass(frozen=True, slots=True)
class ToolCallOut:
    """The agent asks the client to run a tool."""

    call_id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class MetricsOut:
    """Per-turn latency breakdown in milliseconds (``None`` where not applicable)."""

    turn_id: str
    latency_ms: dict[str, float | None]


@dataclass(frozen=True, slots=True)
class ControlAck:
    """A control command was carried out."""

    action: ControlAction
    status: str = "executed"


@dataclass(frozen=True, slots=True)
class Pong:
    """Answer to a ping."""

    ts: Any = None


@dataclass(frozen=True, slots=True)
class ErrorOut:
    """A non-fatal (unless followed by SessionEnded) error with a shared error code."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class SessionEnded:
    """The session is over."""

    reason: EndReason


ServerEvent = (
    Connected
    | AudioOut
    | TranscriptOut
    | SpeechStarted
    | SpeechStopped
    | Interruption
    | AgentTurnEnd
    | ToolCallOut
    | MetricsOut
    | ControlAck
    | Pong
    | ErrorOut
    | SessionEnded
)
