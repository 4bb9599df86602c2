"""Conversation items: what the client sees (``item_...`` ids), which engine turn each
belongs to, and their wire form in the GA and the beta protocol."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

ItemKind = Literal["user_audio", "user_text", "assistant", "function_call", "function_call_output"]
ItemStatus = Literal["completed", "incomplete", "in_progress"]


@dataclass
class Item:
    """One conversation item and the engine turn it belongs to."""

    id: str
    kind: ItemKind
    turn_id: str | None = None
    status: ItemStatus = "completed"
    text: str | None = None
    """User text, the user audio's transcript, or the assistant's transcript/text."""
    modality: Literal["audio", "text"] = "audio"
    """For assistant messages: spoken (audio + transcript) or text only."""
    audio_ms: float = 0.0
    """Assistant audio sent so far (what ``conversation.item.truncate`` may cut)."""
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    output: str | None = None
    awaiting_transcript: bool = False
    in_context: bool = True
    """False when the engine holds no message for it (audio without words)."""

    def wire(self, *, beta: bool) -> dict[str, Any]:
        """The item object."""
        base: dict[str, Any] = {"id": self.id, "object": "realtime.item"}
        if self.kind == "function_call":
            return base | {
                "type": "function_call",
                "status": self.status,
                "call_id": self.call_id,
                "name": self.name,
                "arguments": self.arguments or "",
            }
        if self.kind == "function_call_output":
            return base | {
                "type": "function_call_output",
                "status": self.status,
                "call_id": self.call_id,
                "output": self.output or "",
            }
        content: dict[str, Any]
        if self.kind == "user_audio":
            content = {"type": "input_audio", "transcript": self.text}
        elif self.kind == "user_text":
            content = {"type": "input_text", "text": self.text or ""}
        elif self.modality == "text":
            content = {"type": "text" if beta else "output_text", "text": self.text or ""}
        else:
            content = {"type": "audio" if beta else "output_audio", "transcript": self.text or ""}
        role = "assistant" if self.kind == "assistant" else "user"
        contents = [content] if self.kind != "assistant" or self.status != "in_progress" else []
        return base | {"type": "message", "status": self.status, "role": role, "content": contents}


class ItemList:
    """The conversation's items in order, by id and by engine turn."""

    def __init__(self) -> None:
        self._items: OrderedDict[str, Item] = OrderedDict()

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._items

    def __iter__(self) -> Iterator[Item]:
        return iter(list(self._items.values()))

    def __len__(self) -> int:
        return len(self._items)

    def get(self, item_id: str) -> Item | None:
        """The item with this id."""
        return self._items.get(item_id)

    def last_id(self) -> str | None:
        """The id of the newest item (``previous_item_id`` of the next one)."""
        return next(reversed(self._items), None)

    def add(self, item: Item) -> str | None:
        """Append an item; returns the id of the item before it."""
        previous = self.last_id()
        self._items[item.id] = item
        return previous

    def remove(self, item_id: str) -> Item | None:
        """Drop an item."""
        return self._items.pop(item_id, None)

    def of_turn(self, turn_id: str) -> list[Item]:
        """Every item of an engine turn (a user turn and the reply to it share one)."""
        return [i for i in self._items.values() if i.turn_id == turn_id]

    def by_call(self, call_id: str) -> Item | None:
        """The ``function_call`` item of a call."""
        return next(
            (i for i in self._items.values() if i.kind == "function_call" and i.call_id == call_id),
            None,
        )
