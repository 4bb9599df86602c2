"""Conversation history as the LLM sees it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from parley.languages import language_name
from parley.providers.llm.base import ChatMessage

VOICE_STYLE = (
    "You are talking with a person on a live voice call. Reply in one or two short, "
    "plain spoken sentences. Never use lists, markdown, emojis or URLs."
)
INTERRUPTED_MARK = " [interrupted by the user]"
REPLY_LANGUAGE = "Always reply in {name}, whatever language the user speaks."


@dataclass
class _Entry:
    turn_id: str | None
    message: ChatMessage


class ConversationContext:
    """System prompt plus the last ``max_messages`` messages; agent turns hold only what
    was said. Messages remember their turn, so a client can cut or remove a turn."""

    def __init__(self, system_prompt: str, *, max_messages: int = 12) -> None:
        self.system_prompt = system_prompt
        self.max_messages = max_messages
        self._entries: list[_Entry] = []

    def add_user(self, text: str, *, turn_id: str | None = None) -> None:
        """Record what the user said."""
        self._entries.append(_Entry(turn_id, {"role": "user", "content": text}))

    def add_agent(
        self, text: str, *, interrupted: bool = False, turn_id: str | None = None
    ) -> None:
        """Record what the agent actually said (truncated when interrupted)."""
        content = text + (INTERRUPTED_MARK if interrupted else "")
        if content.strip():
            self._entries.append(_Entry(turn_id, {"role": "assistant", "content": content}))

    def add_tool_call(
        self, call_id: str, name: str, arguments: dict[str, Any], *, turn_id: str | None = None
    ) -> None:
        """Record that the agent called a tool."""
        call = {
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(arguments)},
        }
        message: ChatMessage = {"role": "assistant", "content": "", "tool_calls": [call]}
        self._entries.append(_Entry(turn_id, message))

    def add_tool_result(self, call_id: str, output: str, *, turn_id: str | None = None) -> None:
        """Record a tool's result."""
        message: ChatMessage = {"role": "tool", "content": output, "tool_call_id": call_id}
        self._entries.append(_Entry(turn_id, message))

    def truncate_agent(self, turn_id: str, text: str) -> bool:
        """Keep only ``text`` (what was heard) of agent turn ``turn_id``; False if unknown."""
        for entry in self._entries:
            if entry.turn_id == turn_id and entry.message["role"] == "assistant":
                if entry.message.get("tool_calls"):
                    continue
                entry.message = {"role": "assistant", "content": text + INTERRUPTED_MARK}
                return True
        return False

    def forget(self, turn_id: str) -> bool:
        """Remove every message of turn ``turn_id``; False if there was none."""
        kept = [e for e in self._entries if e.turn_id != turn_id]
        removed = len(kept) != len(self._entries)
        self._entries = kept
        return removed

    def has_turn(self, turn_id: str) -> bool:
        """True if some message belongs to turn ``turn_id``."""
        return any(e.turn_id == turn_id for e in self._entries)

    @property
    def history(self) -> list[ChatMessage]:
        """All recorded messages, oldest first."""
        return [e.message for e in self._entries]

    def messages(
        self, system_prompt: str | None = None, *, language: str | None = None
    ) -> list[ChatMessage]:
        """What to send to the LLM now (``system_prompt`` overrides the session's; with
        ``language``, the model is told to answer in it)."""
        prompt = self.system_prompt if system_prompt is None else system_prompt
        system = f"{prompt.strip()}\n\n{VOICE_STYLE}".strip()
        if language is not None:
            system += "\n" + REPLY_LANGUAGE.format(name=language_name(language))
        recent = [e.message for e in self._entries[-self.max_messages :]]
        return [{"role": "system", "content": system}, *recent]
