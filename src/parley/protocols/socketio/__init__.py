"""Socket.IO voice-agent protocol (docs/socketio.md): Socket.IO events ⇄ engine events.

Sans-I/O: :class:`SocketIOCodec` turns one received event (its name and arguments) into
a :class:`StartSession` request or an engine :data:`~parley.core.events.ClientEvent`;
:class:`SessionEncoder` turns engine events into ``(event name, payload)`` pairs to emit.

- :mod:`.messages`: the client events and their payloads, typed
- :mod:`.session`: ``start_session`` requests and the settings a session runs with
- :mod:`.decode`: received events → requests and engine events
- :mod:`.encode`: engine events → events to emit
"""

from parley.protocols.socketio.decode import SocketIOCodec
from parley.protocols.socketio.encode import (
    Outbound,
    Payload,
    SessionEncoder,
    connected_payload,
    error_event,
    error_payload,
)
from parley.protocols.socketio.messages import (
    CLIENT_EVENTS,
    NAMESPACE,
    PROTOCOL_VERSION,
    payload_size,
)
from parley.protocols.socketio.session import EffectiveSettings, StartSession

__all__ = [
    "CLIENT_EVENTS",
    "NAMESPACE",
    "PROTOCOL_VERSION",
    "EffectiveSettings",
    "Outbound",
    "Payload",
    "SessionEncoder",
    "SocketIOCodec",
    "StartSession",
    "connected_payload",
    "error_event",
    "error_payload",
    "payload_size",
]
