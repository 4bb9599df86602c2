"""Stored agents: the record and its repository (deleting only marks an agent deleted)."""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import update

from parley.errors import ValidationError
from parley.storage.db import Database
from parley.storage.ids import new_id
from parley.storage.models import AgentRow, utcnow
from parley.storage.records import attribute, insert, page, record_of, rowcount

AgentStatus = Literal["active", "paused", "deleted"]


@dataclass(frozen=True, slots=True)
class AgentRecord:
    """A stored agent."""

    id: str
    name: str
    system_prompt: str
    voice_id: str
    first_message: str | None
    language: str
    max_turns: int
    status: AgentStatus
    settings: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    tools: list[dict[str, Any]] = field(default_factory=list)
    content_policy_id: str | None = None
    loop_detection: dict[str, Any] | None = None
    knowledge_base_ids: list[str] = field(default_factory=list)
    web_search: bool = False
    provider_overrides: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    voices: dict[str, str] = field(default_factory=dict)
    """The voice of each language the agent answers in (language code → voice id)."""


_UPDATABLE = frozenset(f.name for f in fields(AgentRecord)) - {"id", "created_at", "updated_at"}


class AgentRepository:
    """Agents. Deleted agents stay in the table but are treated as absent."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self,
        *,
        name: str,
        system_prompt: str,
        voice_id: str,
        first_message: str | None = None,
        language: str = "en",
        max_turns: int = 50,
        settings: dict[str, Any] | None = None,
        agent_id: str | None = None,
        tools: builtins.list[dict[str, Any]] | None = None,
        content_policy_id: str | None = None,
        loop_detection: dict[str, Any] | None = None,
        knowledge_base_ids: builtins.list[str] | None = None,
        web_search: bool = False,
        provider_overrides: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        voices: dict[str, str] | None = None,
    ) -> AgentRecord:
        """Create an agent, with ``agent_id`` if given (e.g. ``agt_demo``).

        Raises :class:`~parley.errors.ValidationError` if the id is taken.
        """
        now = utcnow()
        row = AgentRow(
            id=agent_id or new_id("agt"),
            name=name,
            system_prompt=system_prompt,
            voice_id=voice_id,
            first_message=first_message,
            language=language,
            max_turns=max_turns,
            status="active",
            settings=dict(settings or {}),
            tools=list(tools or []),
            content_policy_id=content_policy_id,
            loop_detection=loop_detection,
            knowledge_base_ids=list(knowledge_base_ids or []),
            web_search=web_search,
            provider_overrides=dict(provider_overrides or {}),
            metadata_=dict(metadata or {}),
            voices=dict(voices or {}),
            created_at=now,
            updated_at=now,
        )
        taken = ValidationError(f"agent id {row.id!r} is already in use", param="agent_id")
        await insert(self._db, row, taken)
        return record_of(AgentRecord, row)

    async def get(self, agent_id: str) -> AgentRecord | None:
        """The agent, or ``None`` if unknown or deleted."""
        async with self._db.session() as s:
            row = await s.get(AgentRow, agent_id)
            if row is None or row.status == "deleted":
                return None
            return record_of(AgentRecord, row)

    async def list(self, limit: int, offset: int) -> tuple[builtins.list[AgentRecord], int]:
        """A page of agents, newest first, and the total count (deleted excluded)."""
        newest_first = (AgentRow.created_at.desc(), AgentRow.id.desc())
        live = AgentRow.status != "deleted"
        rows, total = await page(self._db, AgentRow, live, newest_first, limit, offset)
        return [record_of(AgentRecord, r) for r in rows], total

    async def update(self, agent_id: str, **changes: Any) -> AgentRecord | None:
        """Change fields of a live agent; ``None`` if unknown or deleted.

        ``status`` may only become ``active`` or ``paused`` here (see :meth:`delete`).
        """
        unknown = set(changes) - _UPDATABLE
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        if changes.get("status", "active") not in ("active", "paused"):
            raise ValidationError("status must be 'active' or 'paused'", param="status")
        async with self._db.session() as s, s.begin():
            row = await s.get(AgentRow, agent_id)
            if row is None or row.status == "deleted":
                return None
            for name, value in changes.items():
                setattr(row, attribute(name), value)
            row.updated_at = utcnow()
        return record_of(AgentRecord, row)

    async def delete(self, agent_id: str) -> bool:
        """Mark an agent deleted; ``False`` if unknown or already deleted."""
        async with self._db.session() as s, s.begin():
            result = await s.execute(
                update(AgentRow)
                .where(AgentRow.id == agent_id, AgentRow.status != "deleted")
                .values(status="deleted", updated_at=utcnow())
            )
            return rowcount(result) > 0

    async def signing_secret(
        self, agent_id: str, fresh: str, *, rotate: bool = False
    ) -> str | None:
        """The secret that signs the agent's webhook calls: ``fresh`` becomes it if it has
        none yet (or with ``rotate``). ``None`` if the agent is unknown or deleted. Kept
        out of :class:`AgentRecord`: only the webhook signer and the rotate endpoint see
        it."""
        async with self._db.session() as s, s.begin():
            row = await s.get(AgentRow, agent_id)
            if row is None or row.status == "deleted":
                return None
            if row.signing_secret is None or rotate:
                row.signing_secret = fresh
            return row.signing_secret
