"""Responses: one engine agent turn as a Realtime response, and the server events that
describe it (``response.created`` … ``response.done``) as its audio, captions and tool
calls arrive from the engine."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from parley.audio.pcm import SAMPLE_RATE, duration_ms
from parley.core.events import RespondIn, ToolCallOut
from parley.protocols.openai_realtime.audio import (
    BETA_NAMES,
    AudioFormat,
    OutputAudio,
    format_object,
)
from parley.protocols.openai_realtime.items import Item, ItemList, ItemStatus

ResponseStatus = Literal["in_progress", "completed", "cancelled", "failed", "incomplete"]
CancelReason = Literal["turn_detected", "client_cancelled"]
Emit = Callable[..., None]
"""``emit(ga_event_type, **fields)`` queues one server event."""


@dataclass
class Response:
    """A response the client asked for or the server started (VAD), bound to an engine
    turn once that turn starts."""

    id: str
    modality: Literal["audio", "text"]
    output_format: AudioFormat
    voice: str
    max_output_tokens: int | str = "inf"
    metadata: dict[str, str] | None = None
    turn_id: str | None = None
    after_item: str | None = None
    """A committed user item still being transcribed when the client asked (the engine
    answers it once its transcript is in)."""
    held: RespondIn | None = None
    """Asked for while the user was speaking: fed to the engine at the commit."""
    abandoned: bool = False
    """Cancelled by the client before the engine started it."""
    failure: dict[str, Any] | None = None
    output: list[Item] = field(default_factory=list)
    message: Item | None = None
    encoder: OutputAudio | None = None
    sent_text: str = ""

    def wire(
        self,
        *,
        beta: bool,
        conversation_id: str,
        status: ResponseStatus = "in_progress",
        details: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The response object."""
        body: dict[str, Any] = {
            "id": self.id,
            "object": "realtime.response",
            "status": status,
            "status_details": details,
            "output": [item.wire(beta=beta) for item in self.output],
            "conversation_id": conversation_id,
            "max_output_tokens": self.max_output_tokens,
        }
        if self.metadata is not None:
            body["metadata"] = self.metadata
        if beta:
            return body | {
                "modalities": ["text", "audio"] if self.modality == "audio" else ["text"],
                "voice": self.voice,
                "output_audio_format": BETA_NAMES[self.output_format],
            }
        return body | {
            "output_modalities": [self.modality],
            "audio": {"output": {"format": format_object(self.output_format), "voice": self.voice}},
        }


class ResponseWriter:
    """Turns engine output for a response into server events through ``emit``."""

    def __init__(
        self,
        *,
        emit: Emit,
        items: ItemList,
        new_id: Callable[[str], str],
        beta: bool,
        conversation_id: str,
    ) -> None:
        self._emit, self._items, self._new_id = emit, items, new_id
        self._beta, self._conversation_id = beta, conversation_id

    def created(self, r: Response) -> None:
        """``response.created`` (and ``rate_limits.updated``: Parley meters no tokens)."""
        self._emit("response.created", response=self._wire(r))
        self._emit("rate_limits.updated", rate_limits=[])

    def audio(self, r: Response, pcm: bytes) -> None:
        """A chunk of the agent's speech (text-only responses send no audio)."""
        if r.modality == "text":
            return
        message = self._message(r)
        message.audio_ms += duration_ms(pcm, SAMPLE_RATE)
        assert r.encoder is not None
        self._audio_delta(r, message, r.encoder.encode(pcm))

    def caption(self, r: Response, text: str) -> None:
        """The cumulative text spoken so far: the new part goes out as a delta."""
        message = self._message(r)
        if not text.startswith(r.sent_text) or text == r.sent_text:
            return
        delta, r.sent_text = text[len(r.sent_text) :], text
        message.text = text
        kind = "response.output_audio_transcript.delta"
        if r.modality == "text":
            kind = "response.output_text.delta"
        self._emit(kind, **self._part_ids(r, message), delta=delta)

    def final(self, r: Response, text: str) -> None:
        """The turn's final text: closes its message."""
        if not text and r.message is None:
            return
        self.caption(r, text)
        self.close_message(r, "completed")

    def tool_call(self, r: Response, call: ToolCallOut) -> Item:
        """A function call item, complete with its arguments."""
        self.close_message(r, "completed")
        arguments = json.dumps(call.arguments)
        item = Item(
            self._new_id("item"),
            "function_call",
            turn_id=r.turn_id,
            status="in_progress",
            call_id=call.call_id,
            name=call.name,
        )
        self._add(r, item)
        ids = {"response_id": r.id, "item_id": item.id, "output_index": len(r.output) - 1}
        self._emit(
            "response.function_call_arguments.delta", **ids, call_id=call.call_id, delta=arguments
        )
        item.arguments, item.status = arguments, "completed"
        named = {} if self._beta else {"name": call.name}  # beta's event has no name
        self._emit(
            "response.function_call_arguments.done",
            **ids,
            **named,
            call_id=call.call_id,
            arguments=arguments,
        )
        self._item_done(r, item)
        return item

    def done(
        self,
        r: Response,
        status: ResponseStatus,
        *,
        reason: CancelReason | None = None,
        error: dict[str, Any] | None = None,
    ) -> None:
        """Close what is open and send ``response.done``."""
        self.close_message(r, "completed" if status == "completed" else "incomplete")
        details: dict[str, Any] = {"type": status}
        if reason is not None:
            details["reason"] = reason
        if error is not None:
            details["error"] = {k: error.get(k) for k in ("type", "code", "message")}
        self._emit("response.done", response=self._wire(r, status, details))

    def close_message(self, r: Response, status: ItemStatus) -> None:
        """Finish the response's open assistant message (audio tail, done events)."""
        message = r.message
        if message is None:
            return
        r.message = None
        ids = self._part_ids(r, message)
        text = message.text or ""
        if r.modality == "audio":
            assert r.encoder is not None
            self._audio_delta(r, message, r.encoder.flush(), ids)
            self._emit("response.output_audio.done", **ids)
            self._emit("response.output_audio_transcript.done", **ids, transcript=text)
            part: dict[str, Any] = {"type": "audio", "transcript": text}
        else:
            self._emit("response.output_text.done", **ids, text=text)
            part = {"type": "text", "text": text}
        self._emit("response.content_part.done", **ids, part=part)
        message.status = status
        self._item_done(r, message)

    # ------------------------------------------------------------ helpers

    def _wire(
        self, r: Response, status: ResponseStatus = "in_progress", details: Any = None
    ) -> dict[str, Any]:
        return r.wire(
            beta=self._beta, conversation_id=self._conversation_id, status=status, details=details
        )

    def _message(self, r: Response) -> Item:
        if r.message is not None:
            return r.message
        message = Item(
            self._new_id("item"),
            "assistant",
            turn_id=r.turn_id,
            status="in_progress",
            modality=r.modality,
            text="",
        )
        r.message, r.sent_text = message, ""
        if r.modality == "audio":
            r.encoder = OutputAudio(r.output_format)
        self._add(r, message)
        part: dict[str, Any] = {"type": "text", "text": ""}
        if r.modality == "audio":
            part = {"type": "audio", "transcript": ""}
        self._emit("response.content_part.added", **self._part_ids(r, message), part=part)
        return message

    def _add(self, r: Response, item: Item) -> None:
        previous = self._items.add(item)
        r.output.append(item)
        wire = item.wire(beta=self._beta)
        index = len(r.output) - 1
        self._emit("response.output_item.added", response_id=r.id, output_index=index, item=wire)
        self._emit("conversation.item.added", previous_item_id=previous, item=wire)

    def _item_done(self, r: Response, item: Item) -> None:
        wire = item.wire(beta=self._beta)
        index = r.output.index(item)
        self._emit("response.output_item.done", response_id=r.id, output_index=index, item=wire)
        self._emit("conversation.item.done", item=wire)

    def _part_ids(self, r: Response, item: Item) -> dict[str, Any]:
        return {
            "response_id": r.id,
            "item_id": item.id,
            "output_index": r.output.index(item),
            "content_index": 0,
        }

    def _audio_delta(
        self, r: Response, item: Item, audio: bytes, ids: dict[str, Any] | None = None
    ) -> None:
        if audio:
            delta = base64.b64encode(audio).decode("ascii")
            self._emit(
                "response.output_audio.delta", **(ids or self._part_ids(r, item)), delta=delta
            )
