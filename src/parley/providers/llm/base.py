"""Chat LLM interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from typing import Literal, TypedDict


class ChatMessage(TypedDict):
    """One chat message in OpenAI form."""

    role: Literal["system", "user", "assistant"]
    content: str


class LanguageModel(ABC):
    """Streams the assistant's reply to a chat, token by token."""

    name: str = "llm"

    @abstractmethod
    def stream(
        self, messages: list[ChatMessage], *, max_tokens: int, temperature: float
    ) -> AsyncIterator[str]:
        """Yield text pieces as they are generated. Closing the iterator stops generation."""

    async def prefill(self, messages: list[ChatMessage]) -> None:  # noqa: B027 - optional
        """Process ``messages`` ahead of time so a later reply that starts with them is
        faster (e.g. a session's system prompt while the greeting plays)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""
