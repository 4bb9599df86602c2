"""Twilio Media Streams (bidirectional, ``<Connect><Stream>``), sans-I/O (docs/twilio.md).

Inbound JSON messages (``connected``, ``start``, ``media``, ``dtmf``, ``mark``, ``stop``)
become engine events; engine events become outbound ``media``, ``mark`` and ``clear``
messages. Audio is G.711 μ-law at 8 kHz on the wire and PCM16 at 16 kHz in the engine;
outbound audio goes in 20 ms frames. Marks placed in the outbound audio come back when
Twilio has played up to them and are turned into ``PlaybackIn`` reports. Also here: the
webhook signature (``X-Twilio-Signature``) and the TwiML that starts a stream.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit
from xml.sax.saxutils import quoteattr

import numpy as np
import pydantic
import soxr
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from parley.audio.g711 import mulaw_to_pcm16, pcm16_to_mulaw
from parley.audio.pcm import SAMPLE_RATE, duration_ms
from parley.core.events import (
    AgentTurnEnd,
    AgentTurnStart,
    AudioIn,
    AudioOut,
    ClientEvent,
    EndIn,
    Interruption,
    PlaybackIn,
    ServerEvent,
    TextIn,
    TranscriptOut,
)
from parley.errors import AudioError, ValidationError
from parley.protocols.json_frames import frame_object

MULAW_RATE = 8000
"""Sample rate of Twilio stream audio, in Hz."""
MULAW_ENCODING = "audio/x-mulaw"
FRAME_MS = 20
FRAME_BYTES = MULAW_RATE * FRAME_MS // 1000
"""One outbound media message: 20 ms of μ-law, one byte per sample."""
MULAW_SILENCE = b"\xff"
MESSAGE_TYPES = ("connected", "start", "media", "dtmf", "mark", "stop")
_MAX_MARKS = 4096
"""Outbound marks remembered until echoed (older ones are forgotten)."""


# ---------------------------------------------------------------- inbound messages


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


# ---------------------------------------------------------------- audio


class LookaheadResampler:
    """Streaming soxr (HQ) resampling that holds back only ``lookahead_ms`` of input.

    soxr's own stream resampler works in blocks and delays 8 kHz input by about 100 ms
    when fed 20 ms frames; this one resamples a sliding window with ``lookahead_ms`` of
    context on each side and emits the middle, which matches resampling the whole stream
    at once (within 2 LSB) while every 20 ms frame comes out 10 ms later.
    """

    def __init__(self, from_rate: int, to_rate: int, lookahead_ms: float = 10.0) -> None:
        g = math.gcd(from_rate, to_rate)
        self._from, self._to = from_rate, to_rate
        self._in_step, self._out_step = from_rate // g, to_rate // g
        context = int(from_rate * lookahead_ms / 1000)
        self._context = -(-context // self._in_step) * self._in_step
        self._buf = np.zeros(0, dtype="<i2")
        self._done = 0
        """Samples at the start of ``_buf`` already resampled (left context only)."""

    def push(self, pcm: bytes, *, last: bool = False) -> bytes:
        """Resample the next PCM16 chunk; ``last=True`` flushes what is held back."""
        buf = np.concatenate([self._buf, np.frombuffer(pcm, dtype="<i2")])
        if last:
            end = len(buf)
        else:  # keep the lookahead back, and emit whole steps of the rate ratio only
            end = len(buf) - self._context
            end -= (end - self._done) % self._in_step
        if end <= self._done:
            self._buf = buf
            return b""
        out = soxr.resample(buf, self._from, self._to, quality="HQ")
        first = self._done // self._in_step * self._out_step
        if last:
            self._buf, self._done = buf[:0], 0
            return np.asarray(out[first:], dtype="<i2").tobytes()
        stop = first + (end - self._done) // self._in_step * self._out_step
        keep = max(0, end - self._context)  # the next window's left context
        self._buf, self._done = buf[keep:], end - keep
        return np.asarray(out[first:stop], dtype="<i2").tobytes()


# ---------------------------------------------------------------- outbound state


@dataclass
class _OutTurn:
    """Outbound audio of one agent turn."""

    turn_id: str
    resampler: LookaheadResampler = field(
        default_factory=lambda: LookaheadResampler(SAMPLE_RATE, MULAW_RATE)
    )
    pending: bytearray = field(default_factory=bytearray)
    """μ-law not yet sent (less than a frame)."""
    input_ms: float = 0.0
    """Engine audio of this turn received so far (what the engine counts as sent)."""
    sent_bytes: int = 0
    """μ-law bytes of this turn sent to Twilio."""
    marked_bytes: int = 0
    clauses: int = 0
    reported_ms: int = -1
    cleared: bool = False
    ended: bool = False

    @property
    def sent_ms(self) -> int:
        return self.sent_bytes * 1000 // MULAW_RATE


class TwilioCodec:
    """One stream's codec: parses Twilio messages, converts audio both ways, places marks
    in the agent's audio and turns their echoes into playback reports, and gathers DTMF
    digits into user turns.

    ``mark_every_ms``: besides clause boundaries and the end of each agent turn, a mark
    goes after every this much audio (finer playback reports, exact barge-in truncation).
    ``dtmf_pause_ms``: digits are sent to the agent on ``#`` or once this much caller
    audio passed without another key press (Twilio streams audio all along, so the
    audio is the clock).
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
        self.mark_every_bytes = max(1, mark_every_ms // FRAME_MS) * FRAME_BYTES
        self.dtmf_pause_ms = dtmf_pause_ms
        self.max_digits = max_digits
        self.stream: StreamStart | None = None
        self._inbound = LookaheadResampler(MULAW_RATE, SAMPLE_RATE)
        self._digits: list[str] = []
        self._since_digit_ms = 0.0
        self._turn: _OutTurn | None = None
        self._marks: OrderedDict[str, tuple[str, int]] = OrderedDict()
        self._mark_count = 0

    # ------------------------------------------------------------ inbound

    def parse(self, frame: str | bytes) -> TwilioMessage:
        """One WebSocket frame as a typed message; ValidationError saying what is wrong."""
        raw = frame_object(
            frame,
            max_bytes=self.max_frame_bytes,
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
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"][1:]) or "message"
            raise ValidationError(f"{kind}: {where}: {err['msg']}", param=where) from None
        return msg

    def begin(self, msg: StartMessage) -> StreamStart:
        """Take the stream's ``start``: check its audio format, remember its ``streamSid``."""
        if self.stream is not None:
            raise ValidationError("the stream has already started", param="event")
        fmt = msg.start.media_format
        if (fmt.encoding, fmt.sample_rate, fmt.channels) != (MULAW_ENCODING, MULAW_RATE, 1):
            raise AudioError(
                f"unsupported media format {fmt.encoding} {fmt.sample_rate} Hz "
                f"{fmt.channels} ch; expected {MULAW_ENCODING} {MULAW_RATE} Hz mono",
                param="start.mediaFormat",
            )
        info = msg.start
        self.stream = StreamStart(
            info.stream_sid, info.call_sid, info.account_sid, dict(info.custom_parameters)
        )
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
        if self.stream is None:
            raise ValidationError(f"{msg.event} before start: the stream has not started")
        match msg:
            case MediaMessage(media=media):
                return self._media(media)
            case DtmfMessage(dtmf=dtmf):
                return self._dtmf(dtmf.digit)
            case MarkMessage(mark=mark):
                return self._mark_echo(mark.name)
            case StopMessage():
                return [EndIn()]
        raise ValidationError("unsupported message")  # pragma: no cover - union is closed

    def _media(self, media: MediaPayload) -> list[ClientEvent]:
        if not media.track.startswith("inbound"):
            return []  # only the caller's track is input
        try:
            mulaw = base64.b64decode(media.payload, validate=True)
        except (binascii.Error, ValueError):
            raise AudioError("media.payload is not valid base64", param="media.payload") from None
        out: list[ClientEvent] = []
        pcm = self._inbound.push(mulaw_to_pcm16(mulaw)) if mulaw else b""
        if pcm:
            out.append(AudioIn(pcm))
        if self._digits:
            self._since_digit_ms += len(mulaw) * 1000 / MULAW_RATE
            if self._since_digit_ms >= self.dtmf_pause_ms:
                out.append(self._flush_digits())
        return out

    def _dtmf(self, digit: str) -> list[ClientEvent]:
        self._since_digit_ms = 0.0
        if digit == "#":
            if not self._digits:
                return [TextIn("The caller pressed #")]
            return [self._flush_digits()]
        self._digits.append(digit)
        if len(self._digits) >= self.max_digits:
            return [self._flush_digits()]
        return []

    def _flush_digits(self) -> TextIn:
        digits, self._digits = self._digits, []
        return TextIn("The caller pressed " + " ".join(digits))

    def _mark_echo(self, name: str) -> list[ClientEvent]:
        if name not in self._marks:
            return []  # not ours, or of a cleared turn
        while True:  # Twilio plays in order: earlier marks are behind us too
            key, (turn_id, played_ms) = self._marks.popitem(last=False)
            if key == name:
                break
        turn = self._turn
        if turn is None or turn.turn_id != turn_id or turn.cleared:
            return []
        if played_ms <= turn.reported_ms:
            return []
        turn.reported_ms = played_ms
        return [PlaybackIn(played_ms)]

    # ------------------------------------------------------------ outbound

    def encode(self, event: ServerEvent) -> list[str]:
        """The outbound messages (JSON text frames) for one engine event; most events
        have none on a phone call."""
        if self.stream is None:
            return []
        match event:
            case AgentTurnStart(turn_id=turn_id):
                self._begin_turn(turn_id)
            case AudioOut(pcm=pcm, turn_id=turn_id):
                return self._audio(pcm, turn_id)
            case TranscriptOut(role="agent", final=False, turn_id=turn_id):
                return self._clause_boundary(turn_id)
            case Interruption(turn_id=turn_id):
                return self._clear(turn_id)
            case AgentTurnEnd(turn_id=turn_id):
                return self._end_turn(turn_id)
        return []

    def _begin_turn(self, turn_id: str) -> _OutTurn:
        self._turn = _OutTurn(turn_id)
        return self._turn

    def _current(self, turn_id: str) -> _OutTurn | None:
        turn = self._turn
        if turn is not None and turn.turn_id == turn_id:
            return None if turn.cleared or turn.ended else turn
        return None

    def _audio(self, pcm: bytes, turn_id: str) -> list[str]:
        turn = self._current(turn_id)
        if turn is None:
            if self._turn is not None and self._turn.turn_id == turn_id:
                return []  # cleared or over: never play it
            turn = self._begin_turn(turn_id)
        turn.input_ms += duration_ms(pcm, SAMPLE_RATE)
        return self._frames(turn, pcm16_to_mulaw(turn.resampler.push(pcm)))

    def _frames(self, turn: _OutTurn, mulaw: bytes, *, last: bool = False) -> list[str]:
        """Whole 20 ms frames of ``pending + mulaw`` as media messages, with a progress
        mark every ``mark_every_bytes``; ``last`` pads the final frame with silence."""
        turn.pending += mulaw
        if last and len(turn.pending) % FRAME_BYTES:
            turn.pending += MULAW_SILENCE * (FRAME_BYTES - len(turn.pending) % FRAME_BYTES)
        out: list[str] = []
        n = len(turn.pending) // FRAME_BYTES
        for i in range(n):
            frame = bytes(turn.pending[i * FRAME_BYTES : (i + 1) * FRAME_BYTES])
            out.append(self._message("media", {"payload": base64.b64encode(frame).decode()}))
            turn.sent_bytes += FRAME_BYTES
            if turn.sent_bytes - turn.marked_bytes >= self.mark_every_bytes and not last:
                out.append(self._mark(turn, "audio", turn.sent_ms))
        del turn.pending[: n * FRAME_BYTES]
        return out

    def _clause_boundary(self, turn_id: str) -> list[str]:
        """A new clause starts: mark where the previous one ended."""
        turn = self._current(turn_id)
        if turn is None or turn.sent_bytes == 0:
            return []  # the first clause starts the turn
        turn.clauses += 1
        return [self._mark(turn, f"clause{turn.clauses}", turn.sent_ms)]

    def _end_turn(self, turn_id: str) -> list[str]:
        turn = self._current(turn_id)
        if turn is None:
            return []
        turn.ended = True
        if turn.input_ms == 0:
            return []
        out = self._frames(turn, pcm16_to_mulaw(turn.resampler.push(b"", last=True)), last=True)
        # the whole turn played: report all the engine sent, so it stops waiting
        out.append(self._mark(turn, "end", max(turn.sent_ms, math.ceil(turn.input_ms))))
        return out

    def _clear(self, turn_id: str) -> list[str]:
        """Barge-in: Twilio drops its queued audio; echoes of this turn's marks (Twilio
        returns them on clear) no longer mean anything."""
        turn = self._turn
        if turn is not None and turn.turn_id == turn_id:
            turn.cleared = True
            turn.pending.clear()
        for name in [k for k, (t, _) in self._marks.items() if t == turn_id]:
            del self._marks[name]
        return [self._message("clear", None)]

    def _mark(self, turn: _OutTurn, kind: str, played_ms: int) -> str:
        self._mark_count += 1
        turn.marked_bytes = turn.sent_bytes
        name = f"{turn.turn_id}:{kind}:{self._mark_count}"
        self._marks[name] = (turn.turn_id, played_ms)
        while len(self._marks) > _MAX_MARKS:
            self._marks.popitem(last=False)
        return self._message("mark", {"name": name})

    def _message(self, event: str, body: dict[str, str] | None) -> str:
        assert self.stream is not None
        msg: dict[str, Any] = {"event": event, "streamSid": self.stream.stream_sid}
        if body is not None:
            msg[event] = body
        return json.dumps(msg, separators=(",", ":"))


# ---------------------------------------------------------------- webhook


def request_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """Twilio's ``X-Twilio-Signature``: base64 HMAC-SHA1, keyed with the auth token, of
    the full URL followed by every POST parameter's name and value, sorted by name."""
    data = url + "".join(k + v for k, v in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _url_variants(url: str) -> list[str]:
    """``url`` as given, and with its default port added or removed (proxies and
    Twilio may disagree on whether ``:443`` is part of the URL)."""
    parts = urlsplit(url)
    default = _DEFAULT_PORTS.get(parts.scheme)
    try:
        port = parts.port
    except ValueError:
        return [url]
    if default is None or parts.hostname is None or (port is not None and port != default):
        return [url]
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    netloc = f"{prefix}{host}" if port is not None else f"{prefix}{host}:{default}"
    return [url, urlunsplit(parts._replace(netloc=netloc))]


def signature_valid(
    auth_token: str, url: str, params: Iterable[tuple[str, str]], signature: str
) -> bool:
    """Whether ``signature`` is Twilio's for this request (constant-time comparison)."""
    pairs = list(params)
    given = signature.encode()
    ok = False
    for candidate in _url_variants(url):
        expected = request_signature(auth_token, candidate, pairs).encode()
        ok |= hmac.compare_digest(expected, given)
    return ok


def connect_stream_twiml(stream_url: str, parameters: Mapping[str, str]) -> str:
    """TwiML that connects the call to a bidirectional media stream with these custom
    parameters (Twilio hands them back in the stream's ``start`` message)."""
    params = "".join(
        f"<Parameter name={quoteattr(k)} value={quoteattr(v)}/>" for k, v in parameters.items()
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Response><Connect><Stream url={quoteattr(stream_url)}>{params}</Stream>"
        "</Connect></Response>"
    )
