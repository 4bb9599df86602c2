"""The caller's side of a Twilio stream → engine events: the ``start`` message's format
check, μ-law audio → PCM16 16 kHz, and DTMF key presses gathered into user turns."""

from __future__ import annotations

from parley.audio.g711 import G711_RATE
from parley.audio.wire import WireDecoder
from parley.core.events import AudioIn, ClientEvent, TextIn
from parley.errors import AudioError
from parley.protocols.json_frames import decode_base64
from parley.protocols.twilio.messages import MULAW_ENCODING, MediaPayload, StartMessage, StreamStart


def stream_start(msg: StartMessage) -> StreamStart:
    """The stream a ``start`` message opens; AudioError unless its audio is 8 kHz μ-law."""
    fmt = msg.start.media_format
    if (fmt.encoding, fmt.sample_rate, fmt.channels) != (MULAW_ENCODING, G711_RATE, 1):
        raise AudioError(
            f"unsupported media format {fmt.encoding} {fmt.sample_rate} Hz "
            f"{fmt.channels} ch; expected {MULAW_ENCODING} {G711_RATE} Hz mono",
            param="start.mediaFormat",
        )
    info = msg.start
    return StreamStart(
        info.stream_sid, info.call_sid, info.account_sid, dict(info.custom_parameters)
    )


class CallerInput:
    """The caller's audio and key presses as engine events.

    Digits go to the agent as one user turn on ``#``, after ``max_digits``, or once
    ``dtmf_pause_ms`` of caller audio passed without another key press (Twilio streams
    audio all along, so the audio is the clock).
    """

    def __init__(self, *, dtmf_pause_ms: int = 2000, max_digits: int = 32) -> None:
        self.dtmf_pause_ms = dtmf_pause_ms
        self.max_digits = max_digits
        self._audio = WireDecoder("mulaw", G711_RATE)
        self._digits: list[str] = []
        self._since_digit_ms = 0.0

    def media(self, media: MediaPayload) -> list[ClientEvent]:
        """A ``media`` message: the caller's audio, and the digits its time completes."""
        if not media.track.startswith("inbound"):
            return []  # only the caller's track is input
        mulaw = decode_base64(media.payload, what="media.payload", param="media.payload")
        out: list[ClientEvent] = []
        pcm = self._audio.decode(mulaw) if mulaw else b""
        if pcm:
            out.append(AudioIn(pcm))
        if self._digits:
            self._since_digit_ms += len(mulaw) * 1000 / G711_RATE
            if self._since_digit_ms >= self.dtmf_pause_ms:
                out.append(self._flush_digits())
        return out

    def dtmf(self, digit: str) -> list[ClientEvent]:
        """A key press: a user turn once the digits are complete."""
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
