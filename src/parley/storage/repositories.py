"""Repositories: async data access that returns frozen records, never ORM rows."""

from __future__ import annotations

import builtins
import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError

from parley.core.events import Role
from parley.core.records import TurnRecord
from parley.errors import NotFoundError, ValidationError
from parley.storage.db import Database
from parley.storage.ids import new_id
from parley.storage.models import AgentRow, ApiKeyRow, SessionRow, TurnRow, utcnow

AgentStatus = Literal["active", "paused", "deleted"]
SessionStatus = Literal["active", "ended", "expired"]

API_KEY_PREFIX = "sk_live_"
_API_KEY_DISPLAY_CHARS = 12


def hash_api_key(plaintext: str) -> str:
    """The SHA-256 hex digest under which a key is stored."""
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """An API key as callers see it: never the plaintext, never the hash."""

    id: str
    name: str
    prefix: str
    is_admin: bool
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def revoked(self) -> bool:
        """Whether the key has been revoked."""
        return self.revoked_at is not None


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


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A stored conversation session."""

    id: str
    agent_id: str
    status: SessionStatus
    started_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoredTurn:
    """A turn read back from storage; ``id`` grows in insertion order."""

    id: int
    session_id: str
    turn_id: str
    role: Role
    text: str
    interrupted: bool
    started_at: datetime
    ended_at: datetime
    latency_ms: dict[str, float | None]


def _key_record(row: ApiKeyRow) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        is_admin=row.is_admin,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def _agent_record(row: AgentRow) -> AgentRecord:
    return AgentRecord(
        id=row.id,
        name=row.name,
        system_prompt=row.system_prompt,
        voice_id=row.voice_id,
        first_message=row.first_message,
        language=row.language,
        max_turns=row.max_turns,
        status=cast(AgentStatus, row.status),
        settings=dict(row.settings),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _session_record(row: SessionRow) -> SessionRecord:
    return SessionRecord(
        id=row.id,
        agent_id=row.agent_id,
        status=cast(SessionStatus, row.status),
        started_at=row.started_at,
        ended_at=row.ended_at,
        end_reason=row.end_reason,
        metadata=dict(row.metadata_),
    )


def _stored_turn(row: TurnRow) -> StoredTurn:
    return StoredTurn(
        id=row.id,
        session_id=row.session_id,
        turn_id=row.turn_id,
        role=cast(Role, row.role),
        text=row.text,
        interrupted=row.interrupted,
        started_at=row.started_at,
        ended_at=row.ended_at,
        latency_ms=dict(row.latency_ms),
    )


def _rowcount(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount


class ApiKeyRepository:
    """API keys, stored as SHA-256 hashes plus a short display prefix."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, name: str, *, is_admin: bool = False) -> tuple[ApiKeyRecord, str]:
        """Create a key; returns the record and the plaintext, which is shown only now."""
        plaintext = API_KEY_PREFIX + secrets.token_urlsafe(30)  # 40 url-safe chars
        row = ApiKeyRow(
            id=new_id("key"),
            name=name,
            prefix=plaintext[:_API_KEY_DISPLAY_CHARS],
            key_hash=hash_api_key(plaintext),
            is_admin=is_admin,
            created_at=utcnow(),
        )
        async with self._db.session() as s, s.begin():
            s.add(row)
        return _key_record(row), plaintext

    async def verify(self, plaintext: str) -> ApiKeyRecord | None:
        """The key's record if ``plaintext`` is a live key (``last_used_at`` updated)."""
        digest = hash_api_key(plaintext)
        async with self._db.session() as s, s.begin():
            row = await s.scalar(select(ApiKeyRow).where(ApiKeyRow.key_hash == digest))
            if row is None or row.revoked_at is not None:
                return None
            row.last_used_at = utcnow()
        return _key_record(row)

    async def count(self, *, include_revoked: bool = False) -> int:
        """How many keys exist; revoked ones only when ``include_revoked``."""
        stmt = select(func.count()).select_from(ApiKeyRow)
        if not include_revoked:
            stmt = stmt.where(ApiKeyRow.revoked_at.is_(None))
        async with self._db.session() as s:
            return int(await s.scalar(stmt) or 0)

    async def list(self) -> builtins.list[ApiKeyRecord]:
        """All keys, revoked included, oldest first."""
        async with self._db.session() as s:
            rows = await s.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.id))
            return [_key_record(r) for r in rows]

    async def revoke(self, key_id: str) -> bool:
        """Revoke a key; ``False`` if no such key. Revoking twice keeps the first time."""
        async with self._db.session() as s, s.begin():
            row = await s.get(ApiKeyRow, key_id)
            if row is None:
                return False
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            return True


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
            created_at=now,
            updated_at=now,
        )
        try:
            async with self._db.session() as s, s.begin():
                s.add(row)
        except IntegrityError as exc:
            raise ValidationError(
                f"agent id {row.id!r} is already in use", param="agent_id"
            ) from exc
        return _agent_record(row)

    async def get(self, agent_id: str) -> AgentRecord | None:
        """The agent, or ``None`` if unknown or deleted."""
        async with self._db.session() as s:
            row = await s.get(AgentRow, agent_id)
            if row is None or row.status == "deleted":
                return None
            return _agent_record(row)

    async def list(self, limit: int, offset: int) -> tuple[builtins.list[AgentRecord], int]:
        """A page of agents, newest first, and the total count (deleted excluded)."""
        live = AgentRow.status != "deleted"
        async with self._db.session() as s:
            total = int(await s.scalar(select(func.count()).select_from(AgentRow).where(live)) or 0)
            rows = await s.scalars(
                select(AgentRow)
                .where(live)
                .order_by(AgentRow.created_at.desc(), AgentRow.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return [_agent_record(r) for r in rows], total

    async def delete(self, agent_id: str) -> bool:
        """Mark an agent deleted; ``False`` if unknown or already deleted."""
        async with self._db.session() as s, s.begin():
            result = await s.execute(
                update(AgentRow)
                .where(AgentRow.id == agent_id, AgentRow.status != "deleted")
                .values(status="deleted", updated_at=utcnow())
            )
            return _rowcount(result) > 0


class SessionRepository:
    """Conversation sessions and their turns."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, agent_id: str, metadata: dict[str, Any] | None = None) -> SessionRecord:
        """Start an active session for an agent.

        Raises :class:`~parley.errors.NotFoundError` if the agent does not exist.
        """
        row = SessionRow(
            id=new_id("ses"),
            agent_id=agent_id,
            status="active",
            started_at=utcnow(),
            metadata_=dict(metadata or {}),
        )
        try:
            async with self._db.session() as s, s.begin():
                s.add(row)
        except IntegrityError as exc:
            raise NotFoundError(f"agent {agent_id!r} not found", param="agent_id") from exc
        return _session_record(row)

    async def end(self, session_id: str, reason: str, status: SessionStatus = "ended") -> None:
        """End an active session; a session that already ended keeps its first reason."""
        if status not in ("ended", "expired"):
            raise ValueError(f"a session cannot end with status {status!r}")
        async with self._db.session() as s, s.begin():
            await s.execute(
                update(SessionRow)
                .where(SessionRow.id == session_id, SessionRow.status == "active")
                .values(status=status, ended_at=utcnow(), end_reason=reason)
            )

    async def add_turn(self, session_id: str, turn: TurnRecord) -> None:
        """Append a finished turn.

        Raises :class:`~parley.errors.NotFoundError` if the session does not exist.
        """
        row = TurnRow(
            session_id=session_id,
            turn_id=turn.turn_id,
            role=turn.role,
            text=turn.text,
            interrupted=turn.interrupted,
            started_at=turn.started_at,
            ended_at=turn.ended_at,
            latency_ms=dict(turn.latency_ms),
        )
        try:
            async with self._db.session() as s, s.begin():
                s.add(row)
        except IntegrityError as exc:
            raise NotFoundError(f"session {session_id!r} not found", param="session_id") from exc

    async def get(self, session_id: str) -> SessionRecord | None:
        """The session, or ``None`` if unknown."""
        async with self._db.session() as s:
            row = await s.get(SessionRow, session_id)
            return None if row is None else _session_record(row)

    async def turns(self, session_id: str) -> builtins.list[StoredTurn]:
        """The session's turns in insertion order (empty if none or unknown)."""
        async with self._db.session() as s:
            rows = await s.scalars(
                select(TurnRow).where(TurnRow.session_id == session_id).order_by(TurnRow.id)
            )
            return [_stored_turn(r) for r in rows]

    async def end_all_active(self, reason: str) -> int:
        """End every session still active (e.g. left by a crash); returns how many."""
        async with self._db.session() as s, s.begin():
            result = await s.execute(
                update(SessionRow)
                .where(SessionRow.status == "active")
                .values(status="ended", ended_at=utcnow(), end_reason=reason)
            )
            return _rowcount(result)
