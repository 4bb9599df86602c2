"""Conversation history as the LLM sees it."""

from __future__ import annotations

from parley.providers.llm.base import ChatMessage

VOICE_STYLE = (
    "You are talking with a person on a live voice call. Reply in one or two short, "
    "plain spoken sentences. Never use lists, markdown, emojis or URLs."
)
INTERRUPTED_MARK = " [interrupted by the user]"


class ConversationContext:
    """System prompt plus the last ``max_messages`` turns; agent turns hold only what was said."""

    def __init__(self, system_prompt: str, *, max_messages: int = 12) -> None:
        self.system_prompt = system_prompt
        self.max_messages = max_messages
        self._history: list[ChatMessage] = []

    def add_user(self, text: str) -> None:
        """Record what the user said."""
        self._history.append({"role": "user", "content": text})

    def add_agent(self, text: str, *, interrupted: bool = False) -> None:
        """Record what the agent actually said (truncated when interrupted)."""
        content = text + (INTERRUPTED_MARK if interrupted else "")
        if content.strip():
            self._history.append({"role": "assistant", "content": content})

    @property
    def history(self) -> list[ChatMessage]:
        """All recorded turns, oldest first."""
        return list(self._history)

    def messages(self) -> list[ChatMessage]:
        """What to send to the LLM now."""
        system = f"{self.system_prompt.strip()}\n\n{VOICE_STYLE}".strip()
        return [{"role": "system", "content": system}, *self._history[-self.max_messages :]]
