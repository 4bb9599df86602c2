"""Engine events → server events (see :mod:`.protocol`)."""

from __future__ import annotations

from parley.core.events import (
    AgentTurnEnd,
    AgentTurnStart,
    AudioOut,
    Connected,
    ControlIn,
    ErrorOut,
    ServerEvent,
    SessionEnded,
    SpeechStarted,
    SpeechStopped,
    ToolCallOut,
    TranscriptOut,
    UserTurnDropped,
)
from parley.protocols.openai_realtime.conversation import Action, Conversation
from parley.protocols.openai_realtime.errors import (
    INVALID_REQUEST,
    SERVER_ERROR,
    engine_error_type,
    error_body,
)
from parley.protocols.openai_realtime.items import Item
from parley.protocols.openai_realtime.responses import Response

_ENDED = {"expired": "session_expired"}
"""Session end reasons with their own error code (the others: ``session_ended``)."""


class EngineEvents:
    """Describes engine events to the client, keeping a :class:`Conversation` current."""

    def __init__(self, conv: Conversation) -> None:
        self.conv = conv

    def on_engine(self, event: ServerEvent) -> list[Action]:
        """The server events (and engine events to feed) for one engine event."""
        match event:
            case Connected():
                self.conv.emit("session.created", session=self.conv.session_object())
                conversation = {"id": self.conv.conversation_id, "object": "realtime.conversation"}
                self.conv.emit("conversation.created", conversation=conversation)
            case SpeechStarted(audio_ms=ms):
                self._speech_started(ms)
            case SpeechStopped(audio_ms=ms, turn_id=turn_id):
                self._speech_stopped(ms, turn_id)
            case UserTurnDropped(turn_id=turn_id):
                self._user_transcript(turn_id, "")
            case TranscriptOut(role="user", text=text, turn_id=turn_id):
                self._user_transcript(turn_id, text)
            case AgentTurnStart(turn_id=turn_id):
                self._turn_start(turn_id)
            case AudioOut(pcm=pcm, turn_id=turn_id):
                if (r := self.conv.response_of(turn_id)) is not None:
                    self.conv.writer.audio(r, pcm)
            case TranscriptOut(role="agent", text=text, final=final, turn_id=turn_id):
                if (r := self.conv.response_of(turn_id)) is not None:
                    (self.conv.writer.final if final else self.conv.writer.caption)(r, text)
            case ToolCallOut(turn_id=turn_id):
                if (r := self.conv.response_of(turn_id)) is not None:
                    self.conv.writer.tool_call(r, event)
                    self.conv.open_calls.add(event.call_id)
            case AgentTurnEnd(turn_id=turn_id, status=status):
                self._turn_end(turn_id, status)
            case ErrorOut():
                self._engine_failed(event)
            case SessionEnded(reason=reason) if reason != "client":
                code = _ENDED.get(reason, "session_ended")
                message = f"the session has ended: {reason}"
                self.conv.emit("error", error=error_body(INVALID_REQUEST, code, message))
        return self.conv.take()

    def _speech_started(self, audio_ms: float) -> None:
        # The engine folds a turn still being transcribed into the new utterance (or drops
        # it): that item is gone, and so is a response waiting for it.
        for item in self.conv.items:
            if item.awaiting_transcript:
                self.conv.items.remove(item.id)
                self.conv.emit("conversation.item.deleted", item_id=item.id)
        self.conv.lose_request("cancelled")
        item_id = self.conv.new_id("item")
        self.conv.speech = (item_id, audio_ms)
        self.conv.emit(
            "input_audio_buffer.speech_started", audio_start_ms=round(audio_ms), item_id=item_id
        )

    def _speech_stopped(self, audio_ms: float, turn_id: str) -> None:
        item_id, started_ms = self.conv.speech or (
            self.conv.new_id("item"),
            audio_ms - self.conv.buffer_ms,
        )
        self.conv.speech = None
        if self.conv.inflight != "commit":
            self.conv.emit(
                "input_audio_buffer.speech_stopped", audio_end_ms=round(audio_ms), item_id=item_id
            )
        self.conv.buffer_ms = 0.0
        held = self.conv.requested.held if self.conv.requested is not None else None
        if held is not None and self.conv.requested is not None:
            self.conv.requested.held, self.conv.requested.after_item = None, item_id
            self.conv.out.append(held)  # fed once the committed turn is being transcribed
        item = Item(item_id, "user_audio", turn_id, awaiting_transcript=True)
        item.audio_ms = max(0.0, audio_ms - started_ms)
        previous = self.conv.items.add(item)
        self.conv.emit("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id)
        self.conv.emit(
            "conversation.item.added",
            previous_item_id=previous,
            item=item.wire(beta=self.conv.beta),
        )

    def _user_transcript(self, turn_id: str, text: str) -> None:
        item = next((i for i in self.conv.items.of_turn(turn_id) if i.awaiting_transcript), None)
        if item is None:
            if text and self.conv.text_waiting:
                waiting = self.conv.items.get(self.conv.text_waiting.popleft())
                if waiting is not None:
                    waiting.turn_id = turn_id
            return
        item.text, item.awaiting_transcript, item.in_context = text, False, bool(text)
        usage = {"type": "duration", "seconds": round(item.audio_ms / 1000.0, 3)}
        self.conv.emit(
            "conversation.item.input_audio_transcription.completed",
            item_id=item.id,
            content_index=0,
            transcript=text,
            usage=usage,
        )
        self.conv.emit("conversation.item.done", item=item.wire(beta=self.conv.beta))
        if text:
            self.conv.suspended = False

    def _transcription_failed(self, item: Item, why: str) -> None:
        item.awaiting_transcript, item.in_context, item.text = False, False, ""
        self.conv.emit(
            "conversation.item.input_audio_transcription.failed",
            item_id=item.id,
            content_index=0,
            error={"type": INVALID_REQUEST, "code": "transcription_cancelled", "message": why},
        )

    def _turn_start(self, turn_id: str) -> None:
        self.conv.suspended = False
        if self.conv.active is not None:  # not expected: the engine ends a turn before the next
            self.conv.writer.done(self.conv.active, "cancelled", reason="client_cancelled")
            self.conv.active = None
        r, self.conv.requested = self.conv.requested, None
        if r is not None and r.abandoned:
            r.turn_id = turn_id
            self.conv.abandoned.add(turn_id)
            self.conv.out.append(ControlIn("interrupt"))
            return
        if r is None:
            s = self.conv.settings
            r = Response(
                self.conv.new_id("resp"),
                modality=s.modality,
                output_format=s.output_format,
                voice=s.voice,
                max_output_tokens=s.max_output_tokens,
            )
            self.conv.writer.created(r)
        r.turn_id = turn_id
        self.conv.active = r

    def _turn_end(self, turn_id: str, status: str) -> None:
        if turn_id in self.conv.abandoned:
            self.conv.abandoned.discard(turn_id)
            return
        r = self.conv.active
        if r is None or r.turn_id != turn_id:
            return
        self.conv.active = None
        if status in ("completed", "tool_call"):
            self.conv.writer.done(r, "completed")
        elif status == "failed":
            error = r.failure or error_body(SERVER_ERROR, "internal_error", "the agent failed")
            self.conv.writer.done(r, "failed", error=error)
        elif status == "interrupted" and self.conv.inflight not in ("truncate", "interrupt"):
            self.conv.suspended = any(i.audio_ms > 0 for i in r.output)
            self.conv.writer.done(r, "cancelled", reason="turn_detected")
        else:
            self.conv.writer.done(r, "cancelled", reason="client_cancelled")

    def _engine_failed(self, event: ErrorOut) -> None:
        if self.conv.inflight is not None and event.code != "internal_error":
            self.conv.engine_error = event  # the event being fed failed: its handler answers
            return
        error = error_body(engine_error_type(event.code), event.code, event.message)
        if event.code == "internal_error":
            if self.conv.active is not None:
                self.conv.active.failure = error
            elif self.conv.requested is not None:
                for item in self.conv.items:
                    if item.awaiting_transcript:
                        self.conv.transcription_failed(item, event.message)
                self.conv.lose_request("failed", error)
        self.conv.emit("error", error=error)
