"""Stored content policies: the record and its repository. The settings are kept as one
JSON document (validated by :class:`parley.safety.policy.PolicyBody` before they get here)."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, true

from parley.errors import ValidationError
from parley.storage.db import Database
from parley.storage.ids import new_id
from parley.storage.models import AgentRow, PolicyRow, utcnow
from parley.storage.records import insert, page, record_of


@dataclass(frozen=True, slots=True)
class PolicyRecord:
    """A stored content policy."""

    id: str
    name: str
    body: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class PolicyRepository:
    """Content policies."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, body: dict[str, Any], policy_id: str | None = None) -> PolicyRecord:
        """Store a policy whose settings are ``body`` (``body["name"]`` is its name)."""
        now = utcnow()
        row = PolicyRow(
            id=policy_id or new_id("pol"), name=body["name"], body=body,
            created_at=now, updated_at=now,
        )  # fmt: skip
        await insert(self._db, row, ValidationError(f"policy id {row.id!r} is already in use"))
        return record_of(PolicyRecord, row)

    async def get(self, policy_id: str) -> PolicyRecord | None:
        """The policy, or ``None`` if unknown."""
        async with self._db.session() as s:
            row = await s.get(PolicyRow, policy_id)
            return None if row is None else record_of(PolicyRecord, row)

    async def list(self, limit: int, offset: int) -> tuple[builtins.list[PolicyRecord], int]:
        """A page of policies, newest first, and the total count."""
        newest_first = (PolicyRow.created_at.desc(), PolicyRow.id.desc())
        rows, total = await page(self._db, PolicyRow, true(), newest_first, limit, offset)
        return [record_of(PolicyRecord, r) for r in rows], total

    async def replace(self, policy_id: str, body: dict[str, Any]) -> PolicyRecord | None:
        """Set the policy's settings to ``body``; ``None`` if unknown."""
        async with self._db.session() as s, s.begin():
            row = await s.get(PolicyRow, policy_id)
            if row is None:
                return None
            row.name, row.body, row.updated_at = body["name"], body, utcnow()
        return record_of(PolicyRecord, row)

    async def users(self, policy_id: str) -> builtins.list[str]:
        """The ids of the (not deleted) agents that use the policy."""
        async with self._db.session() as s:
            ids = await s.scalars(
                select(AgentRow.id)
                .where(AgentRow.content_policy_id == policy_id, AgentRow.status != "deleted")
                .order_by(AgentRow.id)
                .limit(20)
            )
            return list(ids)

    async def delete(self, policy_id: str) -> bool:
        """Delete the policy; False if unknown. Callers check :meth:`users` first."""
        async with self._db.session() as s, s.begin():
            result = await s.execute(
                delete(PolicyRow).where(PolicyRow.id == policy_id).returning(PolicyRow.id)
            )
            return result.first() is not None
