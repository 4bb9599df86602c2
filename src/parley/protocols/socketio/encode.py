"""Engine events → the Socket.IO events a session emits: ``(event name, payload)`` pairs."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from parley.audio.pcm import SAMPLE_RATE
from parley.core.events import (
    AgentTurnEnd,
    AudioOut,
    Connected,
    ErrorOut,
    ServerEvent,
    SessionEnded,
    SpeechStarted,
    SpeechStopped,
    TranscriptOut,
)
from parley.errors import ParleyError
from parley.protocols.common_events import common_event, transcript_language
from parley.protocols.socketio.messages import PROTOCOL_VERSION
from parley.protocols.socketio.session import EffectiveSettings

Payload = dict[str, Any]
Outbound = list[tuple[str, Payload]]


@dataclass
class SessionEncoder:
    """Encodes the engine events of one session; counts each agent turn's audio chunks
    for its ``audio_end``."""

    settings: EffectiveSettings
    _chunks: dict[str, int] = field(default_factory=dict)

    def encode(self, event: ServerEvent) -> Outbound:
        """The Socket.IO events (name, payload) for one engine event, in order."""
        common = common_event(event)
        if common is not None:
            return [common]
        match event:
            case Connected():
                started = {**self.settings.payload(), "resumed": event.resumed}
                if event.resume_token:
                    started["resume_token"] = event.resume_token
                return [("session_started", started)]
            case AudioOut():
                self._chunks[event.turn_id] = self._chunks.get(event.turn_id, 0) + 1
                audio = base64.b64encode(event.pcm).decode("ascii")
                return [
                    (
                        "audio_chunk",
                        {
                            "audio": audio,
                            "format": "pcm16",
                            "sample_rate": SAMPLE_RATE,
                            "turn_id": event.turn_id,
                            "seq": event.seq,
                        },
                    )
                ]
            case TranscriptOut():
                name = "transcription" if event.role == "user" else "response"
                text = {"text": event.text, "is_final": event.final, "turn_id": event.turn_id}
                return [(name, {**text, **transcript_language(event)})]
            case AgentTurnEnd():
                total = self._chunks.pop(event.turn_id, 0)
                end = {"total_chunks": total, "turn_id": event.turn_id, "status": event.status}
                return [("audio_end", end)]
            case SpeechStarted():
                return [("speech_started", {"audio_ms": event.audio_ms})]
            case SpeechStopped():
                return [("speech_stopped", {"audio_ms": event.audio_ms, "turn_id": event.turn_id})]
            case ErrorOut():
                return [("error", error_payload(event.code, event.message))]
            case SessionEnded():
                self._chunks.clear()
                ended: dict[str, Any] = {
                    "session_id": self.settings.session_id,
                    "status": "ended",
                    "reason": event.reason,
                }
                if event.resume_within_s is not None:
                    ended |= {"resumable": True, "resume_within_s": event.resume_within_s}
                return [("session_ended", ended)]
        raise TypeError(f"not a server event: {event!r}")  # pragma: no cover


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
