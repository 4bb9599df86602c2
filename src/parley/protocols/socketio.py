"""Socket.IO voice-agent protocol (docs/socketio.md): Socket.IO events ⇄ engine events.

Sans-I/O: :class:`SocketIOCodec` turns one received event (its name and arguments) into
a :class:`StartSession` request or an engine :data:`~parley.core.events.ClientEvent`;
:class:`SessionEncoder` turns engine events into ``(event name, payload)`` pairs to emit.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Annotated, Any

import pydantic
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from parley.audio.pcm import FRAME_MS, SAMPLE_RATE, check_pcm16
from parley.audio.resample import StreamResampler
from parley.core.agent import AgentConfig
from parley.core.events import (
    AgentTurnEnd,
    AgentTurnStart,
    AudioIn,
    AudioOut,
    ClientEvent,
    Connected,
    ControlAck,
    ControlAction,
    ControlIn,
    EndIn,
    ErrorOut,
    Interruption,
    MetricsOut,
    Pong,
    ServerEvent,
    SessionEnded,
    SpeechStarted,
    SpeechStopped,
    TextIn,
    ToolCallOut,
    ToolResultIn,
    TranscriptOut,
    UserTurnDropped,
)
from parley.errors import AudioError, ParleyError, ValidationError

NAMESPACE = "/v1/audio/agent"
"""The Socket.IO namespace of the voice agent."""
PROTOCOL_VERSION = "1"
CLIENT_EVENTS = ("start_session", "audio_chunk", "control", "end_session", "text", "tool_result")
"""Events a client may emit."""
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8_000, 48_000
AUDIO_FORMAT = {"encoding": "pcm16", "sample_rate": SAMPLE_RATE, "channels": 1}
LEGACY_VAD_NOTE = (
    "vad_threshold {value:g} is read as a legacy energy level (values of 1 or more); "
    "Parley's vad_threshold is a speech probability between 0 and 1, so the agent's "
    "own setting ({effective:g}) is used"
)
VAD_RANGE = (0.05, 0.95)
"""Speech probabilities the turn detector supports; others are moved into this range."""

Payload = dict[str, Any]
Outbound = list[tuple[str, Payload]]


def _not_bool(value: Any) -> Any:
    """JSON ``true`` is not a number."""
    if isinstance(value, bool):
        raise ValueError("Input should be a number, not a boolean")
    return value


_NoBool = BeforeValidator(_not_bool)


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


class _StartSession(_Payload):
    agent_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")] | None = None
    voice: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    language: Annotated[str, Field(pattern=r"^([a-z]{2}(-[A-Z]{2})?|auto)$")] | None = None
    instructions: Annotated[str, Field(min_length=1, max_length=20_000)] | None = None
    first_message: Annotated[str, Field(max_length=2000)] | None = None
    vad_threshold: Annotated[float, Field(gt=0, allow_inf_nan=False), _NoBool] | None = None
    interrupt_threshold: Annotated[int, Field(ge=1, le=50), _NoBool] | None = None


class _AudioChunk(_Payload):
    audio: Any
    """Base64 text, or raw bytes (a Socket.IO binary attachment)."""
    format: str = "pcm16"
    sample_rate: Annotated[int, Field(ge=MIN_SAMPLE_RATE, le=MAX_SAMPLE_RATE), _NoBool] = (
        SAMPLE_RATE
    )


class _Control(_Payload):
    action: ControlAction


class _Text(_Payload):
    text: Annotated[str, Field(min_length=1)]


class _ToolResult(_Payload):
    call_id: Annotated[str, Field(min_length=1, max_length=200)]
    output: Any = None


_MODELS: dict[str, type[_Payload]] = {
    "start_session": _StartSession,
    "audio_chunk": _AudioChunk,
    "control": _Control,
    "text": _Text,
    "tool_result": _ToolResult,
}


@dataclass(frozen=True, slots=True)
class StartSession:
    """A validated ``start_session``: what the client asked for, in Parley's units.

    ``agent_id`` None means an ad-hoc agent on top of the server's default agent.
    ``vad_threshold`` is a speech probability (None: the agent's own); ``notes`` say
    which requested values were read differently or ignored.
    """

    agent_id: str | None = None
    voice: str | None = None
    language: str | None = None
    instructions: str | None = None
    first_message: str | None = None
    vad_threshold: float | None = None
    interrupt_threshold: int | None = None
    legacy_vad_threshold: float | None = None
    """A ``vad_threshold`` of 1 or more (an energy level of the product Parley replaces):
    not used, the agent's own setting applies."""
    notes: tuple[str, ...] = ()

    @property
    def ad_hoc(self) -> bool:
        """True when no stored agent is named."""
        return self.agent_id is None

    def turn_overrides(self) -> dict[str, float]:
        """Per-session turn settings, in the names of the agents API."""
        overrides: dict[str, float] = {}
        if self.vad_threshold is not None:
            overrides["vad_threshold"] = self.vad_threshold
        if self.interrupt_threshold is not None:
            overrides["interrupt_threshold"] = float(self.interrupt_threshold)
        return overrides


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


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


class SocketIOCodec:
    """Decodes the events of one Socket.IO connection. It keeps the resampler of the
    client's audio stream (call :meth:`reset_audio` when a new session starts)."""

    def __init__(self, *, max_frame_bytes: int = 256 * 1024, max_text_chars: int = 4000) -> None:
        self.max_frame_bytes = max_frame_bytes
        self.max_text_chars = max_text_chars
        self._resampler: StreamResampler | None = None
        self._resampler_rate = SAMPLE_RATE

    def reset_audio(self) -> None:
        """Forget the audio stream's resampler state."""
        self._resampler, self._resampler_rate = None, SAMPLE_RATE

    def decode(self, event: Any, *args: Any) -> StartSession | ClientEvent:
        """One received event: ``event`` is its name, ``args`` its arguments (one payload
        object, or none). Raises ValidationError or AudioError saying what is wrong."""
        if not isinstance(event, str):
            raise ValidationError(f"an event name must be a string, got {_short(event)}")
        if event not in CLIENT_EVENTS:
            raise ValidationError(
                f"unknown event {_short(event)}; expected one of {', '.join(CLIENT_EVENTS)}",
                param="event",
            )
        if len(args) > 1:
            raise ValidationError(f"{event}: send one payload object, got {len(args)} arguments")
        payload = args[0] if args else None
        size = payload_size(payload, self.max_frame_bytes)
        if size > self.max_frame_bytes:
            raise ValidationError(
                f"{event}: the payload exceeds the limit of {self.max_frame_bytes} bytes"
            )
        if event == "end_session":
            if payload is not None and not isinstance(payload, dict):
                raise ValidationError("end_session: the payload must be an object or nothing")
            return EndIn()
        if payload is None and event == "start_session":
            payload = {}
        if not isinstance(payload, dict):
            raise ValidationError(
                f"{event}: the payload must be an object, got {type(payload).__name__}"
            )
        try:
            message = _MODELS[event].model_validate(payload)
        except pydantic.ValidationError as exc:
            err = exc.errors()[0]
            name = ".".join(str(p) for p in err["loc"]) or "payload"
            text = err["msg"].removeprefix("Value error, ")
            raise ValidationError(f"{event}: {name}: {text}", param=name) from None
        return self._to_event(message, payload)

    def _to_event(self, message: _Payload, raw: dict[str, Any]) -> StartSession | ClientEvent:
        match message:
            case _StartSession():
                return _start_session(message, raw)
            case _AudioChunk():
                return AudioIn(self._audio(message))
            case _Control(action=action):
                return ControlIn(action)
            case _Text(text=text):
                if len(text) > self.max_text_chars:
                    raise ValidationError(
                        f"text: text of {len(text)} characters exceeds the limit of "
                        f"{self.max_text_chars}",
                        param="text",
                    )
                return TextIn(text)
            case _ToolResult(call_id=call_id, output=output):
                return ToolResultIn(call_id, output)
        raise ValidationError("unsupported event")  # pragma: no cover - the table is closed

    def _audio(self, chunk: _AudioChunk) -> bytes:
        if chunk.format.lower() != "pcm16":
            raise AudioError(
                f"audio_chunk: format {_short(chunk.format)} is not supported; send 'pcm16' "
                "(16-bit little-endian mono PCM)",
                param="format",
            )
        if isinstance(chunk.audio, bytes):
            pcm = chunk.audio
        elif not isinstance(chunk.audio, str):
            raise ValidationError(
                "audio_chunk: audio: must be a base64 string (or binary), got "
                f"{type(chunk.audio).__name__}",
                param="audio",
            )
        else:
            try:
                pcm = base64.b64decode(chunk.audio, validate=True)
            except (binascii.Error, ValueError):
                raise AudioError("audio_chunk: audio is not valid base64", param="audio") from None
        check_pcm16(pcm)
        if chunk.sample_rate == SAMPLE_RATE:
            return pcm
        if self._resampler is None or self._resampler_rate != chunk.sample_rate:
            self._resampler = StreamResampler(chunk.sample_rate, SAMPLE_RATE)
            self._resampler_rate = chunk.sample_rate
        return self._resampler.push(pcm)


def _start_session(message: _StartSession, raw: dict[str, Any]) -> StartSession:
    notes: list[str] = []
    unknown = sorted(str(k) for k in raw if k not in _StartSession.model_fields)
    if unknown:
        notes.append(f"unknown fields ignored: {', '.join(unknown)}")
    vad, legacy = message.vad_threshold, None
    if vad is not None and vad >= 1:
        vad, legacy = None, vad
    elif vad is not None and not VAD_RANGE[0] <= vad <= VAD_RANGE[1]:
        clamped = min(max(vad, VAD_RANGE[0]), VAD_RANGE[1])
        notes.append(
            f"vad_threshold {vad:g} is outside the supported {VAD_RANGE[0]:g}-{VAD_RANGE[1]:g}; "
            f"{clamped:g} is used"
        )
        vad = clamped
    language = message.language
    if language == "auto":
        notes.append("language auto-detection is not available; the agent's language is used")
        language = None
    if message.agent_id is not None:
        ignored = [
            name
            for name in ("voice", "language", "instructions", "first_message")
            if getattr(message, name) is not None
        ]
        if ignored:
            notes.append(
                f"{', '.join(ignored)} ignored: a stored agent ({message.agent_id}) keeps its "
                "own; only vad_threshold and interrupt_threshold apply per session"
            )
    return StartSession(
        agent_id=message.agent_id,
        voice=message.voice,
        language=language,
        instructions=message.instructions,
        first_message=message.first_message,
        vad_threshold=vad,
        interrupt_threshold=message.interrupt_threshold,
        legacy_vad_threshold=legacy,
        notes=tuple(notes),
    )


@dataclass(frozen=True, slots=True)
class EffectiveSettings:
    """What a session runs with, as ``session_started`` reports it."""

    session_id: str
    agent_id: str
    ad_hoc: bool
    voice: str
    language: str
    vad_threshold: float
    interrupt_threshold: int
    end_of_turn_silence_ms: float
    notes: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        session_id: str,
        agent: AgentConfig,
        *,
        ad_hoc: bool,
        request: StartSession | None = None,
    ) -> EffectiveSettings:
        """The settings of engine config ``agent``, with the notes of ``request``."""
        vad = agent.turns.vad_threshold
        notes = list(request.notes) if request else []
        if request is not None and request.legacy_vad_threshold is not None:
            notes.insert(
                0, LEGACY_VAD_NOTE.format(value=request.legacy_vad_threshold, effective=vad)
            )
        return cls(
            session_id=session_id,
            agent_id=agent.agent_id,
            ad_hoc=ad_hoc,
            voice=agent.voice_id,
            language=agent.language,
            vad_threshold=vad,
            interrupt_threshold=round(agent.turns.interrupt_min_speech_ms / FRAME_MS),
            end_of_turn_silence_ms=agent.turns.end_of_turn_silence_ms,
            notes=tuple(notes),
        )

    def payload(self) -> Payload:
        """The ``session_started`` payload."""
        return {
            "status": "started",
            "session_id": self.session_id,
            "agent_id": self.agent_id,
            "ad_hoc": self.ad_hoc,
            "voice": self.voice,
            "language": self.language,
            "vad_threshold": self.vad_threshold,
            "interrupt_threshold": self.interrupt_threshold,
            "end_of_turn_silence_ms": self.end_of_turn_silence_ms,
            "audio_format": dict(AUDIO_FORMAT),
            "notes": list(self.notes),
        }


@dataclass
class SessionEncoder:
    """Encodes the engine events of one session; counts each agent turn's audio chunks
    for its ``audio_end``."""

    settings: EffectiveSettings
    _chunks: dict[str, int] = field(default_factory=dict)

    def encode(self, event: ServerEvent) -> Outbound:
        """The Socket.IO events (name, payload) for one engine event, in order."""
        match event:
            case Connected():
                return [("session_started", self.settings.payload())]
            case AudioOut():
                self._chunks[event.turn_id] = self._chunks.get(event.turn_id, 0) + 1
                return [
                    (
                        "audio_chunk",
                        {
                            "audio": base64.b64encode(event.pcm).decode("ascii"),
                            "format": "pcm16",
                            "sample_rate": SAMPLE_RATE,
                            "turn_id": event.turn_id,
                            "seq": event.seq,
                        },
                    )
                ]
            case TranscriptOut(role="user"):
                return [("transcription", _text(event))]
            case TranscriptOut():
                return [("response", _text(event))]
            case AgentTurnEnd():
                total = self._chunks.pop(event.turn_id, 0)
                return [
                    (
                        "audio_end",
                        {"total_chunks": total, "turn_id": event.turn_id, "status": event.status},
                    )
                ]
            case Interruption():
                return [("interruption", {"turn_id": event.turn_id})]
            case AgentTurnStart():
                return [("agent_turn_start", {"turn_id": event.turn_id})]
            case SpeechStarted():
                return [("speech_started", {"audio_ms": event.audio_ms})]
            case SpeechStopped():
                return [("speech_stopped", {"audio_ms": event.audio_ms, "turn_id": event.turn_id})]
            case UserTurnDropped():
                return [("user_turn_dropped", {"turn_id": event.turn_id})]
            case ToolCallOut():
                return [
                    (
                        "tool_call",
                        {
                            "call_id": event.call_id,
                            "name": event.name,
                            "arguments": event.arguments,
                            "turn_id": event.turn_id,
                        },
                    )
                ]
            case MetricsOut():
                return [("metrics", {"turn_id": event.turn_id, "latency_ms": event.latency_ms})]
            case ControlAck():
                return [("control_ack", {"action": event.action, "status": event.status})]
            case Pong():
                return [("pong", {"ts": event.ts})]
            case ErrorOut():
                return [("error", error_payload(event.code, event.message))]
            case SessionEnded():
                self._chunks.clear()
                return [
                    (
                        "session_ended",
                        {
                            "session_id": self.settings.session_id,
                            "status": "ended",
                            "reason": event.reason,
                        },
                    )
                ]
        raise TypeError(f"not a server event: {event!r}")  # pragma: no cover


def _text(event: TranscriptOut) -> Payload:
    return {"text": event.text, "is_final": event.final, "turn_id": event.turn_id}


def error_payload(code: str, message: str, param: str | None = None) -> Payload:
    """The ``error`` event's payload: ``type`` is the shared error code."""
    payload: Payload = {"type": code, "message": message}
    if param is not None:
        payload["param"] = param
    return payload


def error_event(exc: ParleyError) -> tuple[str, Payload]:
    """The ``error`` event for an exception."""
    return "error", error_payload(exc.code, exc.message, exc.param)


def connected_payload(sid: str, voice: str | None) -> Payload:
    """The ``connected`` payload, sent once the credentials are checked."""
    return {
        "status": "connected",
        "sid": sid,
        "voice": voice,
        "protocol_version": PROTOCOL_VERSION,
        "message": "connected to Parley; send start_session to begin a conversation",
    }
