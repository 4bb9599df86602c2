"""Received Socket.IO events → a :class:`StartSession` request or an engine event."""

from __future__ import annotations

from typing import Any

import pydantic

from parley.audio.pcm import SAMPLE_RATE, check_pcm16
from parley.audio.wire import WireDecoder
from parley.core.events import AudioIn, ClientEvent, ControlIn, EndIn, ToolResultIn
from parley.errors import AudioError, PayloadTooLargeError, ValidationError
from parley.protocols.common_events import text_in
from parley.protocols.json_frames import decode_base64, first_error
from parley.protocols.socketio.messages import (
    CLIENT_EVENTS,
    PAYLOADS,
    AudioChunkPayload,
    ControlPayload,
    EventPayload,
    StartSessionPayload,
    TextPayload,
    ToolResultPayload,
    payload_size,
)
from parley.protocols.socketio.session import StartSession, start_session


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class SocketIOCodec:
    """Decodes the events of one Socket.IO connection. It keeps the resampler of the
    client's audio stream (call :meth:`reset_audio` when a new session starts)."""

    def __init__(self, *, max_frame_bytes: int = 256 * 1024, max_text_chars: int = 4000) -> None:
        self.max_frame_bytes = max_frame_bytes
        self.max_text_chars = max_text_chars
        self._audio: WireDecoder | None = None

    def reset_audio(self) -> None:
        """Forget the audio stream's resampler state."""
        self._audio = None

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
            raise PayloadTooLargeError(
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
            message = PAYLOADS[event].model_validate(payload)
        except pydantic.ValidationError as exc:
            raise first_error(exc, prefix=f"{event}: ", fallback="payload") from None
        return self._to_event(message, payload)

    def _to_event(self, message: EventPayload, raw: dict[str, Any]) -> StartSession | ClientEvent:
        match message:
            case StartSessionPayload():
                return start_session(message, raw)
            case AudioChunkPayload():
                return AudioIn(self._pcm(message))
            case ControlPayload(action=action):
                return ControlIn(action)
            case TextPayload(text=text):
                return text_in(text, max_chars=self.max_text_chars, prefix="text: ")
            case ToolResultPayload(call_id=call_id, output=output):
                return ToolResultIn(call_id, output)
        raise ValidationError("unsupported event")  # pragma: no cover - the table is closed

    def _pcm(self, chunk: AudioChunkPayload) -> bytes:
        """The chunk's audio as engine PCM16 16 kHz."""
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
            pcm = decode_base64(chunk.audio, what="audio_chunk: audio", param="audio")
        check_pcm16(pcm)
        if chunk.sample_rate == SAMPLE_RATE:
            return pcm
        if self._audio is None or self._audio.rate != chunk.sample_rate:
            self._audio = WireDecoder("pcm16", chunk.sample_rate)
        return self._audio.decode(pcm)
