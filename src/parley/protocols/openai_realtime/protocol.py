"""One Realtime connection's state machine, sans-I/O.

:meth:`RealtimeProtocol.receive` turns a client frame into a sequence of actions: engine
events to feed (:data:`~parley.core.events.ClientEvent`) and server events to send
(``dict``). It is a generator: the caller carries out each action before asking for the
next, so what the engine said while an event was fed (an error, a committed turn) is
known when the answer is written. :meth:`RealtimeProtocol.on_engine` turns an engine
event into server events (and, rarely, an engine event to feed once they are sent).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from parley.core.agent import AgentConfig
from parley.core.events import ServerEvent
from parley.protocols.openai_realtime.conversation import Action, Conversation, random_id
from parley.protocols.openai_realtime.inbound import ClientEvents
from parley.protocols.openai_realtime.items import ItemList
from parley.protocols.openai_realtime.outbound import EngineEvents
from parley.protocols.openai_realtime.session_settings import SessionSettings


class RealtimeProtocol:
    """The items, responses and settings of one Realtime connection."""

    def __init__(
        self,
        *,
        agent: AgentConfig,
        conversation_id: str,
        model: str,
        beta: bool = False,
        voices: Sequence[str] = (),
        max_frame_bytes: int = 256 * 1024,
        max_text_chars: int = 4000,
        prefix_padding_ms: int = 320,
        new_id: Callable[[str], str] = random_id,
    ) -> None:
        """``agent``: the engine settings the session starts with; ``model``: the name the
        client connected with; ``voices``: the installed Parley voice ids."""
        self.conv = Conversation(
            agent=agent,
            conversation_id=conversation_id,
            model=model,
            beta=beta,
            voices=voices,
            max_frame_bytes=max_frame_bytes,
            max_text_chars=max_text_chars,
            prefix_padding_ms=prefix_padding_ms,
            new_id=new_id,
        )
        self._client = ClientEvents(self.conv)
        self._engine = EngineEvents(self.conv)

    @property
    def settings(self) -> SessionSettings:
        """The session's settings as the client sees them."""
        return self.conv.settings

    @property
    def agent(self) -> AgentConfig:
        """The engine's settings."""
        return self.conv.agent

    @property
    def items(self) -> ItemList:
        """The conversation's items."""
        return self.conv.items

    def receive(self, frame: str | bytes) -> Iterator[Action]:
        """The actions for one client frame, in order (never raises for bad input)."""
        return self._client.receive(frame)

    def on_engine(self, event: ServerEvent) -> list[Action]:
        """The server events (and engine events to feed) for one engine event."""
        return self._engine.on_engine(event)


__all__ = ["Action", "RealtimeProtocol", "random_id"]
