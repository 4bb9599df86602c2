"""Twilio Media Streams (bidirectional, ``<Connect><Stream>``), sans-I/O: see docs/twilio.md.

Audio is G.711 μ-law at 8 kHz on the wire and PCM16 at 16 kHz in the engine.

- :mod:`.messages`: the messages a stream receives, typed, and their parsing
- :mod:`.decode`: the caller's audio and key presses → engine events
- :mod:`.encode`: engine events → ``media``, ``mark`` and ``clear``; mark echoes → playback
- :mod:`.codec`: :class:`TwilioCodec`, one stream's codec
- :mod:`.webhook`: the request signature and the TwiML that starts a stream
"""

from parley.protocols.twilio.codec import TwilioCodec
from parley.protocols.twilio.encode import FRAME_BYTES
from parley.protocols.twilio.messages import (
    MESSAGE_TYPES,
    StartMessage,
    StreamStart,
    TwilioMessage,
)
from parley.protocols.twilio.webhook import (
    connect_stream_twiml,
    request_signature,
    signature_valid,
)

__all__ = [
    "FRAME_BYTES",
    "MESSAGE_TYPES",
    "StartMessage",
    "StreamStart",
    "TwilioCodec",
    "TwilioMessage",
    "connect_stream_twiml",
    "request_signature",
    "signature_valid",
]
