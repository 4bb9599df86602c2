"""Client events → engine events and server events (see :mod:`.protocol`)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator

from parley.core.events import (
    AudioIn,
    ClearIn,
    CommitIn,
    ControlIn,
    ForgetIn,
    ReconfigureIn,
    RespondIn,
    TextIn,
    ToolResultIn,
    TruncateIn,
)
from parley.errors import ParleyError
from parley.protocols.openai_realtime import client_events as ce
from parley.protocols.openai_realtime.audio import InputAudio, wire_ms
from parley.protocols.openai_realtime.conversation import Action, Conversation
from parley.protocols.openai_realtime.errors import INVALID_REQUEST, RealtimeError, error_body
from parley.protocols.openai_realtime.items import Item
from parley.protocols.openai_realtime.requests import response_request
from parley.protocols.openai_realtime.responses import Response
from parley.protocols.openai_realtime.session_settings import apply_beta, apply_ga


class ClientEvents:
    """Carries out client events on a :class:`Conversation`."""

    def __init__(self, conv: Conversation) -> None:
        self.conv = conv

    def receive(self, frame: str | bytes) -> Iterator[Action]:
        """The actions for one client frame, in order (never raises for bad input)."""
        event_id: str | None = None
        try:
            message = ce.decode(
                frame, beta=self.conv.beta, max_frame_bytes=self.conv.max_frame_bytes
            )
            event_id = message.event_id
            yield from self._dispatch(message)
            yield from self.conv.take()
        except RealtimeError as exc:
            exc.event_id = exc.event_id or event_id
            yield from self.conv.take()
            self.conv.emit("error", error=exc.body())
            yield from self.conv.take()
        except ParleyError as exc:
            body = error_body(INVALID_REQUEST, exc.code, exc.message, exc.param, event_id)
            self.conv.emit("error", error=body)
            yield from self.conv.take()
        finally:
            self.conv.inflight = None

    def _dispatch(self, m: ce.ClientMessage) -> Iterator[Action]:
        match m:
            case ce.BufferAppend():
                yield from self._append(m)
            case ce.BufferCommit():
                yield from self._commit()
            case ce.BufferClear():
                yield from self._clear()
            case ce.SessionUpdate() | ce.BetaSessionUpdate():
                yield from self._session_update(m)
            case ce.ItemCreate():
                yield from self._item_create(m)
            case ce.ItemTruncate():
                yield from self._truncate(m)
            case ce.ItemDelete():
                yield from self._delete(m.item_id)
            case ce.ItemRetrieve():
                item = self.conv.items.get(m.item_id)
                if item is None:
                    raise _no_item(m.item_id, "item_retrieve_invalid_item_id")
                self.conv.emit("conversation.item.retrieved", item=item.wire(beta=self.conv.beta))
            case ce.ResponseCreate() | ce.BetaResponseCreate():
                yield from self._response_create(m)
            case ce.ResponseCancel():
                yield from self._response_cancel(m.response_id)

    def _append(self, m: ce.BufferAppend) -> Iterator[Action]:
        try:
            data = base64.b64decode(m.audio, validate=True)
        except (binascii.Error, ValueError):
            raise RealtimeError(
                "'audio' is not valid base64", code="invalid_value", param="audio"
            ) from None
        try:
            pcm = self.conv.input.decode(data)
        except ParleyError as exc:
            raise RealtimeError(exc.message, code="invalid_value", param="audio") from None
        self.conv.buffer_ms += wire_ms(self.conv.input.format, len(data))
        if pcm:
            yield AudioIn(pcm)

    def _commit(self) -> Iterator[Action]:
        tail = self.conv.input.flush()
        if tail:
            yield AudioIn(tail)
        yield from self.conv.feed(CommitIn(), "commit")
        problem = self.conv.take_engine_error()
        if problem is not None:
            raise RealtimeError(
                f"cannot commit the input audio buffer: {problem.message}",
                code="input_audio_buffer_commit_empty",
            )

    def _clear(self) -> Iterator[Action]:
        self.conv.input = InputAudio(self.conv.input.format)
        self.conv.speech, self.conv.buffer_ms = None, 0.0
        yield ClearIn()
        self.conv.emit("input_audio_buffer.cleared")
        r = self.conv.requested
        if r is not None and r.held is not None:  # no turn to wait for any more
            held, r.held = r.held, None
            yield from self.conv.feed(held, "respond")

    def _session_update(self, m: ce.SessionUpdate | ce.BetaSessionUpdate) -> Iterator[Action]:
        try:
            if isinstance(m, ce.SessionUpdate):
                settings = apply_ga(self.conv.settings, m.session, self.conv.voices)
            else:
                settings = apply_beta(self.conv.settings, m.session, self.conv.voices)
        except RealtimeError as exc:
            if exc.param and not exc.param.startswith("session."):
                exc.param = f"session.{exc.param}"
            raise
        agent = settings.agent(self.conv.agent)
        yield from self.conv.feed(ReconfigureIn(agent), "reconfigure")
        problem = self.conv.take_engine_error()
        if problem is not None:
            raise RealtimeError(problem.message, code="invalid_value", param="session")
        if settings.input_format != self.conv.input.format:
            self.conv.input = InputAudio(settings.input_format)
        self.conv.settings, self.conv.agent = settings, agent
        self.conv.emit("session.updated", session=self.conv.session_object())

    def _item_create(self, m: ce.ItemCreate) -> Iterator[Action]:
        previous = m.previous_item_id
        if previous is not None and previous != self.conv.items.last_id():
            if previous in self.conv.items:
                raise RealtimeError(
                    "items can only be added at the end of the conversation: "
                    f"'previous_item_id' must be {self.conv.items.last_id()!r} or left out",
                    code="invalid_value",
                    param="previous_item_id",
                )
            raise RealtimeError(
                f"no item {previous!r} in the conversation",
                code="item_create_invalid_previous_item_id",
                param="previous_item_id",
            )
        item = self._new_item(m.item)
        if item.id in self.conv.items:
            raise RealtimeError(
                f"an item with id {item.id!r} already exists", code="invalid_value", param="item.id"
            )
        prior = self.conv.items.add(item)
        if item.kind == "user_text":
            self.conv.text_waiting.append(item.id)
            yield from self.conv.feed(TextIn(item.text or "", respond=False), "text")
        else:
            assert item.call_id is not None
            yield from self.conv.feed(
                ToolResultIn(item.call_id, item.output, respond=False), "output"
            )
        problem = self.conv.take_engine_error()
        if problem is not None:
            self.conv.items.remove(item.id)
            raise RealtimeError(problem.message, code="invalid_value", param="item")
        if item.call_id is not None:
            self.conv.open_calls.discard(item.call_id)
        wire = item.wire(beta=self.conv.beta)
        self.conv.emit("conversation.item.added", previous_item_id=prior, item=wire)
        self.conv.emit("conversation.item.done", item=wire)

    def _new_item(self, p: ce.ItemParam) -> Item:
        item_id = p.id or self.conv.new_id("item")
        if p.type == "function_call_output":
            if p.call_id is None:
                raise _missing("item.call_id")
            if p.output is None:
                raise _missing("item.output")
            call = self.conv.items.by_call(p.call_id)
            if call is None or p.call_id not in self.conv.open_calls:
                raise RealtimeError(
                    f"no function call {p.call_id!r} is waiting for its output",
                    code="invalid_value",
                    param="item.call_id",
                )
            return Item(
                item_id, "function_call_output", call.turn_id, call_id=p.call_id, output=p.output
            )
        if p.type != "message":
            raise RealtimeError(
                f"items of type {p.type!r} cannot be created by the client; create 'message' "
                "(user text) or 'function_call_output' items",
                code="invalid_value",
                param="item.type",
            )
        if p.role != "user":
            raise RealtimeError(
                f"{p.role or 'missing'} messages are not supported: add user text messages, and "
                "set instructions with session.update",
                code="invalid_value",
                param="item.role",
            )
        texts = []
        for i, part in enumerate(p.content or []):
            if part.type != "input_text" or part.text is None:
                raise RealtimeError(
                    "user messages may only hold 'input_text' content; send audio with "
                    "input_audio_buffer.append",
                    code="invalid_value",
                    param=f"item.content[{i}].type",
                )
            texts.append(part.text)
        text = " ".join(t.strip() for t in texts).strip()
        if not text:
            raise RealtimeError(
                "a user message needs some 'input_text'", code="invalid_value", param="item.content"
            )
        if len(text) > self.conv.max_text_chars:
            raise RealtimeError(
                f"text of {len(text)} characters exceeds the limit of {self.conv.max_text_chars}",
                code="invalid_value",
                param="item.content",
            )
        return Item(item_id, "user_text", text=text)

    def _truncate(self, m: ce.ItemTruncate) -> Iterator[Action]:
        item = self.conv.items.get(m.item_id)
        if item is None:
            raise _no_item(m.item_id, "item_truncate_invalid_item_id")
        if item.kind != "assistant" or item.modality != "audio" or item.turn_id is None:
            raise RealtimeError(
                f"item {m.item_id!r} is not an assistant audio message",
                code="invalid_value",
                param="item_id",
            )
        if m.content_index != 0:
            raise RealtimeError(
                "assistant messages have one content part: 'content_index' must be 0",
                code="invalid_value",
                param="content_index",
            )
        if m.audio_end_ms > item.audio_ms + 1:
            raise RealtimeError(
                f"'audio_end_ms' {m.audio_end_ms} is past the end of the item's audio "
                f"({item.audio_ms:.0f} ms)",
                code="invalid_value",
                param="audio_end_ms",
            )
        yield from self.conv.feed(TruncateIn(item.turn_id, m.audio_end_ms), "truncate")
        problem = self.conv.take_engine_error()
        if problem is not None:
            raise RealtimeError(problem.message, code="invalid_value", param="item_id")
        item.audio_ms = float(m.audio_end_ms)
        self.conv.emit(
            "conversation.item.truncated",
            item_id=item.id,
            content_index=0,
            audio_end_ms=m.audio_end_ms,
        )

    def _delete(self, item_id: str) -> Iterator[Action]:
        item = self.conv.items.get(item_id)
        if item is None:
            raise _no_item(item_id, "item_delete_invalid_item_id")
        group = [item]
        if item.turn_id is not None:
            # The engine forgets whole turns: a user turn and the reply to it go together.
            group = self.conv.items.of_turn(item.turn_id)
            if any(i.in_context for i in group):
                yield from self.conv.feed(ForgetIn(item.turn_id), "forget")
                self.conv.take_engine_error()  # nothing of it was in the context: gone anyway
        for gone in group:
            self.conv.items.remove(gone.id)
            if gone.id in self.conv.text_waiting:
                self.conv.text_waiting.remove(gone.id)
            if gone.call_id is not None:
                self.conv.open_calls.discard(gone.call_id)
            self.conv.emit("conversation.item.deleted", item_id=gone.id)

    def _response_create(self, m: ce.ResponseCreate | ce.BetaResponseCreate) -> Iterator[Action]:
        if self.conv.active is not None:
            raise RealtimeError(
                f"response {self.conv.active.id!r} is in progress: wait for its response.done or "
                "send response.cancel",
                code="conversation_already_has_active_response",
            )
        request = response_request(m.response, self.conv.settings, self.conv.voices)
        if self.conv.requested is not None and not self.conv.requested.abandoned:
            self.conv.writer.done(self.conv.requested, "cancelled", reason="client_cancelled")
        awaiting = next((i.id for i in self.conv.items if i.awaiting_transcript), None)
        r = Response(
            self.conv.new_id("resp"),
            modality=request.modality,
            output_format=request.output_format,
            voice=request.voice,
            max_output_tokens=request.max_output_tokens,
            metadata=request.metadata,
            after_item=awaiting,
        )
        self.conv.requested = r
        self.conv.writer.created(r)
        respond = RespondIn(request.instructions, request.tool_choice)
        if self.conv.speech is not None and self.conv.agent.turn_detection:
            # The user is speaking: answer the turn once it is committed (the engine's
            # own reply, with create_response; else this request then).
            r.held = None if self.conv.agent.auto_respond else respond
            return
        yield from self.conv.feed(respond, "respond")

    def _response_cancel(self, response_id: str | None) -> Iterator[Action]:
        active, requested = self.conv.active, self.conv.requested
        if active is not None and response_id in (None, active.id):
            yield from self.conv.feed(ControlIn("interrupt"), "interrupt")
            return
        if (
            requested is not None
            and not requested.abandoned
            and response_id in (None, requested.id)
        ):
            requested.abandoned = True
            self.conv.writer.done(requested, "cancelled", reason="client_cancelled")
            return
        which = f"response {response_id!r} is" if response_id else "no response is"
        raise RealtimeError(
            f"{which} in progress: nothing to cancel",
            code="response_cancel_not_active",
            param="response_id" if response_id else None,
        )


def _no_item(item_id: str, code: str) -> RealtimeError:
    return RealtimeError(f"no item {item_id!r} in the conversation", code=code, param="item_id")


def _missing(param: str) -> RealtimeError:
    return RealtimeError(
        f"missing required parameter {param!r}", code="missing_required_parameter", param=param
    )
