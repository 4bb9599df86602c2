"""Plain records the engine hands to storage (no ORM types leak into the core)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from parley.core.events import Citation, Role, SafetyOut


@dataclass(frozen=True, slots=True)
class ToolCallRecord:
    """A function the agent called in its turn, with the client's result once it came."""

    call_id: str
    name: str
    arguments: dict[str, Any]
    output: Any = None

    def as_json(self) -> dict[str, Any]:
        """The stored form."""
        return {
            "call_id": self.call_id,
            "name": self.name,
            "arguments": self.arguments,
            "output": self.output,
        }


@dataclass(frozen=True, slots=True)
class TurnRecord:
    """One finished turn of a conversation, as it should be stored."""

    turn_id: str
    role: Role
    text: str
    started_at: datetime
    ended_at: datetime
    interrupted: bool = False
    latency_ms: dict[str, float | None] = field(default_factory=dict)
    tool_calls: tuple[ToolCallRecord, ...] = ()
    """Agent turns: the functions called at the end of the turn."""
    safety: tuple[SafetyOut, ...] = ()
    """What content safety did about this turn's words."""
    citations: tuple[Citation, ...] = ()
    """Agent turns: the knowledge-base passages the reply was given."""
    language: str | None = None
    """User turns: the detected language; agent turns: the language it answered in."""
    language_probability: float | None = None
    """User turns: how sure speech-to-text was of ``language``."""


@dataclass(frozen=True, slots=True)
class PastTurn:
    """A turn of the conversation before this connection (a resumed conversation)."""

    turn_id: str
    role: Role
    text: str
    interrupted: bool = False
    tool_calls: tuple[ToolCallRecord, ...] = ()
    language: str | None = None
