"""Chat LLM interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, TypedDict


class ChatMessage(TypedDict):
    """One chat message in OpenAI form (``tool_calls`` on an assistant message that
    called tools; ``tool_call_id`` on the ``tool`` message with a call's result)."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str
    tool_calls: NotRequired[list[dict[str, Any]]]
    tool_call_id: NotRequired[str]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function the agent may call: JSON-schema ``parameters`` (OpenAI form)."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object"})


ToolChoice = str
"""``"auto"``, ``"none"``, ``"required"`` or the name of one tool (that tool is called)."""


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The model asks for a function to be run."""

    call_id: str
    name: str
    arguments: dict[str, Any]


class LanguageModel(ABC):
    """Streams the assistant's reply to a chat, token by token."""

    name: str = "llm"

    @abstractmethod
    def stream(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        tools: Sequence[ToolSpec] = (),
        tool_choice: ToolChoice = "auto",
    ) -> AsyncIterator[str | ToolCall]:
        """Yield text pieces as they are generated, or the :class:`ToolCall` the model
        makes (then the stream ends). ``tool_choice`` is ``auto``, ``none``,
        ``required`` or a tool's name. Closing the iterator stops generation."""

    async def prefill(self, messages: list[ChatMessage]) -> None:  # noqa: B027 - optional
        """Process ``messages`` ahead of time so a later reply that starts with them is
        faster (e.g. a session's system prompt while the greeting plays)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""
