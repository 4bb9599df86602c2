"""OpenAI-Realtime-compatible protocol (GA events, and the beta names with
``OpenAI-Beta: realtime=v1``), sans-I/O: see docs/realtime.md.

- :mod:`.client_events`: the client events and their decoding
- :mod:`.session_settings`: ``session.update`` → reported session and engine settings
- :mod:`.requests`: ``response.create`` parameters
- :mod:`.items`, :mod:`.responses`: conversation items and responses on the wire
- :mod:`.audio`: wire audio formats ⇄ the engine's PCM16 16 kHz
- :mod:`.naming`: GA ⇄ beta event names
- :mod:`.conversation`: one connection's state
- :mod:`.inbound`, :mod:`.outbound`: client events in, engine events out
- :mod:`.protocol`: :class:`RealtimeProtocol`, the per-connection state machine
"""

from parley.protocols.openai_realtime.errors import RealtimeError
from parley.protocols.openai_realtime.protocol import Action, RealtimeProtocol, random_id

__all__ = ["Action", "RealtimeError", "RealtimeProtocol", "random_id"]
