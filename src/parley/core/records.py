"""Plain records the engine hands to storage (no ORM types leak into the core)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from parley.core.events import Role


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
