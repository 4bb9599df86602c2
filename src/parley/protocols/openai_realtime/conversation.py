"""What one Realtime connection knows: settings, items, responses in flight, and the
server events queued for the client. Shared by :mod:`.inbound` (client → engine) and
:mod:`.outbound` (engine → client)."""

from __future__ import annotations

import secrets
import string
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from parley.core.agent import AgentConfig
from parley.core.events import ClientEvent, ErrorOut
from parley.protocols.openai_realtime.audio import InputAudio
from parley.protocols.openai_realtime.errors import INVALID_REQUEST
from parley.protocols.openai_realtime.items import Item, ItemList
from parley.protocols.openai_realtime.naming import beta_name
from parley.protocols.openai_realtime.responses import CancelReason, Response, ResponseWriter
from parley.protocols.openai_realtime.session_settings import (
    SessionSettings,
    Voices,
    initial_settings,
)

Action = ClientEvent | dict[str, Any]
"""An engine event to feed, or a server event (JSON object) to send."""

_ID_ALPHABET = string.ascii_letters + string.digits


def random_id(prefix: str) -> str:
    """``prefix_`` and 22 random letters and digits, like the Realtime API's ids."""
    return f"{prefix}_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(22))


class Conversation:
    """The state of one connection (see :class:`~.protocol.RealtimeProtocol`)."""

    def __init__(
        self,
        *,
        agent: AgentConfig,
        conversation_id: str,
        model: str,
        beta: bool,
        voices: Sequence[str],
        max_frame_bytes: int,
        max_text_chars: int,
        prefix_padding_ms: int,
        new_id: Callable[[str], str],
    ) -> None:
        self.agent = agent
        """The engine's current settings (what the last ReconfigureIn carried)."""
        self.beta = beta
        self.conversation_id = conversation_id
        self.max_frame_bytes, self.max_text_chars = max_frame_bytes, max_text_chars
        self.voices = Voices(agent.voice_id, tuple(voices) or (agent.voice_id,))
        self.settings: SessionSettings = initial_settings(
            agent, model=model, voices=self.voices, prefix_padding_ms=prefix_padding_ms
        )
        self.items = ItemList()
        self.new_id = new_id
        self.out: list[Action] = []
        self.writer = ResponseWriter(
            emit=self.emit,
            items=self.items,
            new_id=new_id,
            beta=beta,
            conversation_id=conversation_id,
        )
        self.input = InputAudio(self.settings.input_format)
        self.speech: tuple[str, float] | None = None
        """The user item announced by ``speech_started`` and where its speech began."""
        self.buffer_ms = 0.0
        """Input audio since the last commit or clear."""
        self.text_waiting: deque[str] = deque()
        """User text items whose engine turn is not known yet."""
        self.requested: Response | None = None
        """A response the client asked for that the engine has not started yet."""
        self.active: Response | None = None
        """The response whose engine turn is running."""
        self.abandoned: set[str] = set()
        """Engine turns of responses the client cancelled before they started."""
        self.open_calls: set[str] = set()
        """Function calls waiting for their output."""
        self.inflight: str | None = None
        """The client event whose engine event is being fed."""
        self.engine_error: ErrorOut | None = None
        """The engine's error about the event being fed."""
        self.suspended = False
        """An audible response was cut by user speech: the engine may resume it."""

    # ------------------------------------------------------------ server events

    def emit(self, ga_type: str, **fields: Any) -> None:
        """Queue a server event by its GA name (renamed or left out for beta clients)."""
        name = beta_name(ga_type) if self.beta else ga_type
        if name is not None:
            self.out.append({"type": name, "event_id": self.new_id("event"), **fields})

    def take(self) -> list[Action]:
        """Everything queued so far, in order."""
        out, self.out = self.out, []
        return out

    def session_object(self) -> dict[str, Any]:
        """The session as ``session.created``/``session.updated`` show it."""
        if self.beta:
            return self.settings.beta(self.conversation_id)
        return self.settings.ga()

    # ------------------------------------------------------------ engine events

    def feed(self, event: ClientEvent, name: str) -> Iterator[Action]:
        """Feed one engine event (after the server events so far), noting which client
        event it carries out."""
        yield from self.take()
        self.inflight, self.engine_error = name, None
        try:
            yield event
        finally:
            self.inflight = None

    def take_engine_error(self) -> ErrorOut | None:
        """The engine's error about the event just fed, if it had one."""
        problem, self.engine_error = self.engine_error, None
        return problem

    # ------------------------------------------------------------ shared steps

    def response_of(self, turn_id: str) -> Response | None:
        """The running response of an engine turn."""
        r = self.active
        return r if r is not None and r.turn_id == turn_id else None

    def lose_request(
        self,
        status: str,
        error: dict[str, Any] | None = None,
        reason: CancelReason = "turn_detected",
    ) -> None:
        """The engine dropped the response the client asked for before it started."""
        r, self.requested = self.requested, None
        if r is None or r.abandoned:
            return
        if status == "failed":
            self.writer.done(r, "failed", error=error)
        else:
            self.writer.done(r, "cancelled", reason=reason)

    def transcription_failed(self, item: Item, why: str) -> None:
        """A committed user item will get no transcript."""
        item.awaiting_transcript, item.in_context, item.text = False, False, ""
        self.emit(
            "conversation.item.input_audio_transcription.failed",
            item_id=item.id,
            content_index=0,
            error={"type": INVALID_REQUEST, "code": "transcription_cancelled", "message": why},
        )
