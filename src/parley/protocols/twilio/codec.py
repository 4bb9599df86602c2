"""One Twilio stream's codec: the caller's side (:mod:`.decode`) and ours (:mod:`.encode`)."""

from __future__ import annotations

from parley.core.events import ClientEvent, EndIn, PlaybackIn, ServerEvent
from parley.errors import ValidationError
from parley.protocols.twilio.decode import CallerInput, stream_start
from parley.protocols.twilio.encode import FRAME_BYTES, MEDIA_FRAME_MS, TwilioEncoder
from parley.protocols.twilio.messages import (
    ConnectedMessage,
    DtmfMessage,
    MarkMessage,
    MediaMessage,
    StartMessage,
    StopMessage,
    StreamStart,
    TwilioMessage,
    parse_message,
)


class TwilioCodec:
    """Parses Twilio messages, converts audio both ways, places marks in the agent's
    audio and turns their echoes into playback reports, and gathers DTMF digits into
    user turns.

    ``mark_every_ms``: besides clause boundaries and the end of each agent turn, a mark
    goes after every this much audio (finer playback reports, exact barge-in truncation).
    ``dtmf_pause_ms``: digits are sent to the agent on ``#`` or once this much caller
    audio passed without another key press.
    """

    def __init__(
        self,
        *,
        max_frame_bytes: int = 256 * 1024,
        mark_every_ms: int = 100,
        dtmf_pause_ms: int = 2000,
        max_digits: int = 32,
    ) -> None:
        self.max_frame_bytes = max_frame_bytes
        self.mark_every_bytes = max(1, mark_every_ms // MEDIA_FRAME_MS) * FRAME_BYTES
        self.stream: StreamStart | None = None
        self._caller = CallerInput(dtmf_pause_ms=dtmf_pause_ms, max_digits=max_digits)
        self._out: TwilioEncoder | None = None

    def parse(self, frame: str | bytes) -> TwilioMessage:
        """One WebSocket frame as a typed message; ValidationError saying what is wrong."""
        return parse_message(frame, max_bytes=self.max_frame_bytes)

    def begin(self, msg: StartMessage) -> StreamStart:
        """Take the stream's ``start``: check its audio format, remember its ``streamSid``."""
        if self.stream is not None:
            raise ValidationError("the stream has already started", param="event")
        self.stream = stream_start(msg)
        self._out = TwilioEncoder(self.stream.stream_sid, mark_every_bytes=self.mark_every_bytes)
        return self.stream

    def decode(self, frame: str | bytes) -> list[ClientEvent]:
        """Parse one frame and return the engine events it makes (often none)."""
        return self.events(self.parse(frame))

    def events(self, msg: TwilioMessage) -> list[ClientEvent]:
        """The engine events of one parsed message."""
        if isinstance(msg, ConnectedMessage):
            return []
        if isinstance(msg, StartMessage):
            self.begin(msg)
            return []
        if self._out is None:
            raise ValidationError(f"{msg.event} before start: the stream has not started")
        match msg:
            case MediaMessage(media=media):
                return self._caller.media(media)
            case DtmfMessage(dtmf=dtmf):
                return self._caller.dtmf(dtmf.digit)
            case MarkMessage(mark=mark):
                played = self._out.played(mark.name)
                return [] if played is None else [PlaybackIn(played)]
            case StopMessage():
                return [EndIn()]
        raise ValidationError("unsupported message")  # pragma: no cover - union is closed

    def encode(self, event: ServerEvent) -> list[str]:
        """The outbound messages (JSON text frames) for one engine event; none before
        the stream started, and most events have none on a phone call."""
        return [] if self._out is None else self._out.encode(event)
