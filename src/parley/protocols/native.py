"""Native WebSocket protocol v1 (docs/protocol.md): JSON text frames, base64 PCM16 audio."""

from __future__ import annotations

import base64
import json
from dataclasses import asdict
from typing import Annotated, Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from parley.audio.pcm import check_pcm16
from parley.core.events import (
    AgentTurnEnd,
    AudioIn,
    AudioOut,
    ClientEvent,
    Connected,
    ControlAction,
    ControlIn,
    EndIn,
    ErrorOut,
    PingIn,
    PlaybackIn,
    ServerEvent,
    SessionEnded,
    SpeechStarted,
    SpeechStopped,
    ToolResultIn,
    TranscriptOut,
)
from parley.errors import ValidationError
from parley.protocols.common_events import common_event, text_in, transcript_language
from parley.protocols.json_frames import decode_base64, first_error, frame_object

PROTOCOL_VERSION = "1"


class _Msg(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Audio(_Msg):
    type: Literal["audio"]
    audio: str


class _Text(_Msg):
    type: Literal["text"]
    text: Annotated[str, Field(min_length=1)]


class _Control(_Msg):
    type: Literal["control"]
    action: ControlAction


class _Playback(_Msg):
    type: Literal["playback"]
    played_ms: Annotated[int, Field(ge=0)]


class _ToolResult(_Msg):
    type: Literal["tool_result"]
    call_id: Annotated[str, Field(min_length=1)]
    output: Any = None


class _Ping(_Msg):
    type: Literal["ping"]
    ts: Any = None


class _End(_Msg):
    type: Literal["end"]


_Inbound = Annotated[
    _Audio | _Text | _Control | _Playback | _ToolResult | _Ping | _End,
    Field(discriminator="type"),
]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(_Inbound)
MESSAGE_TYPES = ("audio", "text", "control", "playback", "tool_result", "ping", "end")


class NativeCodec:
    """Decodes client frames to events and encodes server events to frames."""

    def __init__(self, *, max_frame_bytes: int = 256 * 1024, max_text_chars: int = 4000) -> None:
        self.max_frame_bytes = max_frame_bytes
        self.max_text_chars = max_text_chars

    def decode(self, frame: str | bytes) -> ClientEvent:
        """Parse one WebSocket frame; raise ValidationError or AudioError saying what is wrong."""
        raw = frame_object(
            frame, max_bytes=self.max_frame_bytes, binary_hint="send JSON text frames"
        )
        kind = raw.get("type")
        if kind not in MESSAGE_TYPES:
            raise ValidationError(
                f"unknown message type {kind!r}; expected one of {', '.join(MESSAGE_TYPES)}",
                param="type",
            )
        try:
            msg = _ADAPTER.validate_python(raw)
        except pydantic.ValidationError as exc:
            raise first_error(exc, prefix=f"{kind}: ", skip=1, fallback="message") from None
        return self._to_event(msg)

    def _to_event(self, msg: BaseModel) -> ClientEvent:
        match msg:
            case _Audio(audio=b64):
                pcm = decode_base64(b64, what="audio", param="audio")
                check_pcm16(pcm)
                return AudioIn(pcm)
            case _Text(text=text):
                return text_in(text, max_chars=self.max_text_chars)
            case _Control(action=action):
                return ControlIn(action)
            case _Playback(played_ms=played):
                return PlaybackIn(played)
            case _ToolResult(call_id=call_id, output=output):
                return ToolResultIn(call_id, output)
            case _Ping(ts=ts):
                return PingIn(ts)
            case _End():
                return EndIn()
        raise ValidationError("unsupported message")  # pragma: no cover - union is closed

    def encode(self, event: ServerEvent) -> str:
        """Serialize one server event as a JSON text frame."""
        return json.dumps(self.to_wire(event), separators=(",", ":"))

    @staticmethod
    def to_wire(event: ServerEvent) -> dict[str, Any]:
        """The JSON object for a server event."""
        common = common_event(event)
        if common is not None:
            name, fields = common
            return {"type": name, **fields}
        match event:
            case Connected():
                return {
                    "type": "connected",
                    "protocol_version": PROTOCOL_VERSION,
                    "conversation_id": event.conversation_id,
                    "agent_id": event.agent_id,
                    "audio_format": asdict(event.audio_format),
                    "resumed": event.resumed,
                    **({"resume_token": event.resume_token} if event.resume_token else {}),
                }
            case AudioOut():
                return {
                    "type": "audio",
                    "audio": base64.b64encode(event.pcm).decode("ascii"),
                    "turn_id": event.turn_id,
                    "seq": event.seq,
                }
            case TranscriptOut():
                return {
                    "type": "transcript",
                    "role": event.role,
                    "text": event.text,
                    "final": event.final,
                    "turn_id": event.turn_id,
                    **transcript_language(event),
                }
            case SpeechStarted():
                return {"type": "speech_started"}
            case SpeechStopped():
                return {"type": "speech_stopped", "turn_id": event.turn_id}
            case AgentTurnEnd():
                return {"type": "agent_turn_end", "turn_id": event.turn_id, "status": event.status}
            case ErrorOut():
                return {"type": "error", "code": event.code, "message": event.message}
            case SessionEnded(resume_within_s=None):
                return {"type": "session_ended", "reason": event.reason}
            case SessionEnded():
                return {
                    "type": "session_ended",
                    "reason": event.reason,
                    "resumable": True,
                    "resume_within_s": event.resume_within_s,
                }
        raise TypeError(f"not a server event: {event!r}")  # pragma: no cover
