"""The Twilio Media Streams messages a stream receives, typed, and their parsing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from parley.errors import ValidationError
from parley.protocols.json_frames import first_error, frame_object

MULAW_ENCODING = "audio/x-mulaw"
MESSAGE_TYPES = ("connected", "start", "media", "dtmf", "mark", "stop")


class _Msg(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class MediaFormat(_Msg):
    """``start.mediaFormat``."""

    encoding: str
    sample_rate: int = Field(alias="sampleRate")
    channels: int = 1


class StartInfo(_Msg):
    """``start.start``: the stream's metadata and the TwiML's custom parameters."""

    stream_sid: Annotated[str, Field(min_length=1, max_length=128)] = Field(alias="streamSid")
    call_sid: Annotated[str, Field(max_length=128)] = Field("", alias="callSid")
    account_sid: Annotated[str, Field(max_length=128)] = Field("", alias="accountSid")
    tracks: list[str] = Field(default_factory=list)
    custom_parameters: dict[str, str] = Field(default_factory=dict, alias="customParameters")
    media_format: MediaFormat = Field(alias="mediaFormat")


class ConnectedMessage(_Msg):
    """The first message of a stream."""

    event: Literal["connected"]
    protocol: str = ""
    version: str = ""


class StartMessage(_Msg):
    """Stream metadata, sent once after ``connected``."""

    event: Literal["start"]
    start: StartInfo


class MediaPayload(_Msg):
    """``media.media``: base64 μ-law audio of one track."""

    payload: str
    track: str = "inbound"


class MediaMessage(_Msg):
    """A chunk of the caller's audio (20 ms from Twilio)."""

    event: Literal["media"]
    media: MediaPayload


class DtmfPayload(_Msg):
    """``dtmf.dtmf``: one key press."""

    digit: Annotated[str, Field(pattern=r"^[0-9*#A-D]$")]
    track: str = "inbound_track"


class DtmfMessage(_Msg):
    """The caller pressed a key."""

    event: Literal["dtmf"]
    dtmf: DtmfPayload


class MarkPayload(_Msg):
    """``mark.mark``."""

    name: Annotated[str, Field(min_length=1, max_length=256)]


class MarkMessage(_Msg):
    """A mark we sent, echoed once the audio before it was played (or cleared)."""

    event: Literal["mark"]
    mark: MarkPayload


class StopMessage(_Msg):
    """The stream ends (the caller hung up, or the call moved on)."""

    event: Literal["stop"]


TwilioMessage = (
    ConnectedMessage | StartMessage | MediaMessage | DtmfMessage | MarkMessage | StopMessage
)
_ADAPTER: TypeAdapter[Any] = TypeAdapter(Annotated[TwilioMessage, Field(discriminator="event")])


@dataclass(frozen=True, slots=True)
class StreamStart:
    """What a ``start`` message tells: the stream, the call and the custom parameters."""

    stream_sid: str
    call_sid: str
    account_sid: str
    parameters: dict[str, str] = field(default_factory=dict)


def parse_message(frame: str | bytes, *, max_bytes: int) -> TwilioMessage:
    """One WebSocket frame as a typed message; ValidationError saying what is wrong."""
    raw = frame_object(
        frame,
        max_bytes=max_bytes,
        binary_hint="the Twilio stream protocol sends JSON text frames",
    )
    kind = raw.get("event")
    if not isinstance(kind, str) or kind not in MESSAGE_TYPES:
        expected = f"expected one of {', '.join(MESSAGE_TYPES)}"
        if kind is None:
            raise ValidationError(f"missing event; {expected}", param="event")
        shown = str(kind)[:40] if isinstance(kind, str | int | float) else type(kind).__name__
        raise ValidationError(f"unknown event {shown!r}; {expected}", param="event")
    try:
        msg: TwilioMessage = _ADAPTER.validate_python(raw)
    except pydantic.ValidationError as exc:
        raise first_error(exc, prefix=f"{kind}: ", skip=1, fallback="message") from None
    return msg
