"""The closed set of typed events that flow into and out of a voice session.

Protocol codecs translate wire messages to these events and back; the engine never
sees JSON, base64 or sockets. Audio inside events is always PCM16 LE mono at
:data:`SAMPLE_RATE`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from parley.audio.pcm import SAMPLE_RATE
from parley.providers.llm.base import ToolChoice

ControlAction = Literal["interrupt", "start_listening", "stop_listening", "pause", "resume"]
CONTROL_ACTIONS: tuple[ControlAction, ...] = (
    "interrupt",
    "start_listening",
    "stop_listening",
    "pause",
    "resume",
)
Role = Literal["user", "agent"]
AgentTurnStatus = Literal["completed", "interrupted", "cancelled", "tool_call", "failed"]
EndReason = Literal[
    "client",
    "max_turns",
    "expired",
    "agent_deleted",
    "idle",
    "error",
    "policy_violation",
    "loop_detected",
    "agent_ended",
    "transferred",
    "server_shutdown",
]
SafetyKind = Literal["blocked_term", "pii", "criterion", "loop"]
SafetyAction = Literal["replaced", "redacted", "blocked", "flagged", "steered", "said", "ended"]


# ---------------------------------------------------------------- client → session


@dataclass(frozen=True, slots=True)
class AudioIn:
    """A chunk of the user's microphone audio (PCM16 LE, 16 kHz, mono)."""

    pcm: bytes


@dataclass(frozen=True, slots=True)
class TextIn:
    """A typed user turn; with ``respond`` false it only joins the conversation."""

    text: str
    respond: bool = True


@dataclass(frozen=True, slots=True)
class CommitIn:
    """End the user's turn now with the audio received since the last turn (for clients
    that detect turns themselves). Audio without words makes no turn."""


@dataclass(frozen=True, slots=True)
class ClearIn:
    """Drop the user audio received since the last turn."""


@dataclass(frozen=True, slots=True)
class RespondIn:
    """Start an agent turn now from the conversation so far (any turn in progress is
    cancelled first). ``instructions`` replace the system prompt for this turn only;
    ``tool_choice`` overrides the agent's for this turn."""

    instructions: str | None = None
    tool_choice: ToolChoice | None = None


@dataclass(frozen=True, slots=True)
class TruncateIn:
    """The client played only the first ``audio_end_ms`` of agent turn ``turn_id``: the
    conversation keeps only what was heard."""

    turn_id: str
    audio_end_ms: int


@dataclass(frozen=True, slots=True)
class ForgetIn:
    """Remove turn ``turn_id`` (user, agent and tool messages) from the conversation."""

    turn_id: str


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
    """The client's answer to a ``tool_call``; with ``respond`` the agent goes on at once,
    otherwise it waits for a :class:`RespondIn`."""

    call_id: str
    output: Any
    respond: bool = True


@dataclass(frozen=True, slots=True)
class PingIn:
    """Keepalive; ``ts`` is echoed back in the pong."""

    ts: Any = None


@dataclass(frozen=True, slots=True)
class EndIn:
    """The client ends the conversation."""


@dataclass(frozen=True, slots=True)
class ReconfigureIn:
    """Replace the session's agent settings (prompt, voice, turn detection, tools) from
    the next turn on. ``agent`` is a :class:`parley.core.session.AgentConfig`."""

    agent: Any


ClientEvent = (
    AudioIn
    | TextIn
    | CommitIn
    | ClearIn
    | RespondIn
    | TruncateIn
    | ForgetIn
    | ReconfigureIn
    | ControlIn
    | PlaybackIn
    | ToolResultIn
    | PingIn
    | EndIn
)


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
    resume_token: str | None = None
    """Reconnects to this conversation after a dropped connection (once; the server's
    edge issues it, the engine passes it on)."""
    resumed: bool = False
    """True when this connection continues an earlier one of the same conversation."""


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
    language: str | None = None
    """The language of the turn: detected for a user turn, the reply language for an
    agent turn (None when unknown)."""
    language_probability: float | None = None
    """How sure speech-to-text is of a user turn's ``language``."""


@dataclass(frozen=True, slots=True)
class LanguageOut:
    """The agent now answers in ``language`` (it answered in ``previous``)."""

    language: str
    previous: str
    turn_id: str
    """The user turn that made the switch."""
    probability: float


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """The user started speaking, ``audio_ms`` into the session's input audio."""

    audio_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    """The user's end of turn was detected (speech ended ``audio_ms`` into the input
    audio); the user turn, if it has words, will be ``turn_id``."""

    audio_ms: float = 0.0
    turn_id: str = ""


@dataclass(frozen=True, slots=True)
class TurnPrediction:
    """The end-of-turn model's verdict on a pause in the user's speech (turn detection
    ``model``): ``finished`` decides how much more silence ends the turn."""

    probability: float
    finished: bool
    wait_ms: float
    """The silence, from the end of speech, that now ends the turn."""
    took_ms: float
    """From the pause to the verdict (the model's queue and inference)."""


@dataclass(frozen=True, slots=True)
class UserTurnDropped:
    """Committed user audio ``turn_id`` had no words (or only a backchannel while the
    agent spoke): no user turn was made."""

    turn_id: str


@dataclass(frozen=True, slots=True)
class AgentTurnStart:
    """An agent turn begins; its audio, transcript and tool calls carry ``turn_id``."""

    turn_id: str


@dataclass(frozen=True, slots=True)
class Interruption:
    """The agent turn was interrupted: the client drops its queued agent audio."""

    turn_id: str


@dataclass(frozen=True, slots=True)
class AgentTurnEnd:
    """The agent turn is over: ``completed`` (all its audio has been sent),
    ``interrupted`` (barge-in), ``cancelled`` (client interrupt, text or a new response)
    ``tool_call`` (it ended by calling a tool and waits for the result) or ``failed``."""

    turn_id: str
    status: AgentTurnStatus = "completed"


@dataclass(frozen=True, slots=True)
class ToolCallOut:
    """The agent asks the client to run a tool."""

    call_id: str
    name: str
    arguments: dict[str, Any]
    turn_id: str = ""


@dataclass(frozen=True, slots=True)
class MetricsOut:
    """Per-turn latency breakdown in milliseconds (``None`` where not applicable)."""

    turn_id: str
    latency_ms: dict[str, float | None]


@dataclass(frozen=True, slots=True)
class SafetyOut:
    """Content safety changed or flagged what was said in turn ``turn_id``: ``kind`` of
    check, ``action`` taken, on whose words (``role``). ``detail`` names the rule (a
    criterion, an entity type, a term's position), never the words themselves."""

    turn_id: str
    kind: SafetyKind
    action: SafetyAction
    detail: str
    policy_id: str | None = None
    role: Role = "agent"

    def as_json(self) -> dict[str, Any]:
        """The stored form (on the turn, so without ``turn_id``)."""
        return {
            "kind": self.kind,
            "action": self.action,
            "detail": self.detail,
            "policy_id": self.policy_id,
            "role": self.role,
        }


@dataclass(frozen=True, slots=True)
class Citation:
    """A knowledge-base passage an agent turn was grounded in."""

    chunk_id: int
    document_id: str
    knowledge_base_id: str
    title: str
    heading: str
    score: float

    def as_json(self) -> dict[str, Any]:
        """The stored and sent form."""
        return {
            "chunk_id": self.chunk_id,
            "document_id": self.document_id,
            "knowledge_base_id": self.knowledge_base_id,
            "title": self.title,
            "heading": self.heading,
            "score": self.score,
        }


@dataclass(frozen=True, slots=True)
class CitationsOut:
    """The passages agent turn ``turn_id`` was given to answer from."""

    turn_id: str
    citations: tuple[Citation, ...]


@dataclass(frozen=True, slots=True)
class ServerToolOut:
    """The server ran tool call ``call_id`` of turn ``turn_id``: ``ok`` or ``error``
    (the result itself went to the LLM), in ``duration_ms``."""

    turn_id: str
    call_id: str
    name: str
    status: Literal["ok", "error"]
    duration_ms: float


@dataclass(frozen=True, slots=True)
class TransferOut:
    """The agent hands the caller to ``phone_number`` (``destination`` names it); on
    calls the server cannot redirect itself, the client does it."""

    turn_id: str
    destination: str
    phone_number: str


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
    resume_within_s: float | None = None
    """Set when the client may resume the conversation (its ``resume_token``) within
    this many seconds: the server is shutting down, another replica will take it."""


ServerEvent = (
    Connected
    | AudioOut
    | TranscriptOut
    | LanguageOut
    | SpeechStarted
    | SpeechStopped
    | TurnPrediction
    | UserTurnDropped
    | AgentTurnStart
    | Interruption
    | AgentTurnEnd
    | ToolCallOut
    | MetricsOut
    | SafetyOut
    | CitationsOut
    | ServerToolOut
    | TransferOut
    | ControlAck
    | Pong
    | ErrorOut
    | SessionEnded
)
