"""Repositories: async data access that returns frozen records, never ORM rows."""

from __future__ import annotations

import builtins
import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import ColumnElement, and_, delete, func, select, update
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
KeyKind = Literal["secret", "publishable"]
TokenProblem = Literal["unknown", "used", "ended", "expired"]

API_KEY_PREFIX = "sk_live_"
PUBLISHABLE_KEY_PREFIX = "pk_live_"
_KEY_PREFIXES: dict[str, str] = {"secret": API_KEY_PREFIX, "publishable": PUBLISHABLE_KEY_PREFIX}
_API_KEY_DISPLAY_CHARS = 12
_LAST_USED_RESOLUTION = timedelta(seconds=30)
"""``last_used_at`` is rewritten at most this often (not on every request)."""


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
    kind: KeyKind = "secret"
    agent_ids: tuple[str, ...] | None = None
    """For publishable keys: the only agents it may talk to (``None``: any)."""
    rate_limit_per_minute: float | None = None
    rate_limit_burst: int | None = None

    @property
    def revoked(self) -> bool:
        """Whether the key has been revoked."""
        return self.revoked_at is not None

    def may_use_agent(self, agent_id: str) -> bool:
        """Whether this key may open conversations with ``agent_id``."""
        return self.agent_ids is None or agent_id in self.agent_ids


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
    knowledge_base_ids: list[str] = field(default_factory=list)
    web_search: bool = False
    provider_overrides: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


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
    initial_message: str | None = None
    api_key_id: str | None = None
    expires_at: datetime | None = None
    connected_at: datetime | None = None

    @property
    def created_at(self) -> datetime:
        """When the session was created (same as ``started_at``)."""
        return self.started_at


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
    tool_calls: list[dict[str, Any]]


def _key_record(row: ApiKeyRow) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        is_admin=row.is_admin,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
        kind=cast(KeyKind, row.kind),
        agent_ids=None if row.agent_ids is None else tuple(row.agent_ids),
        rate_limit_per_minute=row.rate_limit_per_minute,
        rate_limit_burst=row.rate_limit_burst,
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
        tools=list(row.tools or []),
        content_policy_id=row.content_policy_id,
        knowledge_base_ids=list(row.knowledge_base_ids or []),
        web_search=bool(row.web_search),
        provider_overrides=dict(row.provider_overrides or {}),
        metadata=dict(row.metadata_ or {}),
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
        initial_message=row.initial_message,
        api_key_id=row.api_key_id,
        expires_at=row.expires_at,
        connected_at=row.connected_at,
    )


def _agent_turn(session_id: str, turn_id: str) -> tuple[ColumnElement[bool], ...]:
    """Conditions selecting the agent turn ``turn_id`` of a session."""
    return (
        TurnRow.session_id == session_id,
        TurnRow.turn_id == turn_id,
        TurnRow.role == "agent",
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
        tool_calls=list(row.tool_calls or []),
    )


def _rowcount(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount


class ApiKeyRepository:
    """API keys, stored as SHA-256 hashes plus a short display prefix."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self,
        name: str,
        *,
        is_admin: bool = False,
        kind: KeyKind = "secret",
        agent_ids: builtins.list[str] | None = None,
        rate_limit_per_minute: float | None = None,
        rate_limit_burst: int | None = None,
    ) -> tuple[ApiKeyRecord, str]:
        """Create a key; returns the record and the plaintext, which is shown only now.

        Secret keys start ``sk_live_``, publishable keys ``pk_live_``. Publishable keys
        are never admin keys; ``agent_ids`` limits them to those agents.
        """
        if kind not in _KEY_PREFIXES:
            raise ValidationError(f"unknown key kind {kind!r}", param="kind")
        if kind == "publishable" and is_admin:
            raise ValidationError("a publishable key cannot be an admin key", param="admin")
        if kind == "secret" and agent_ids is not None:
            raise ValidationError("only publishable keys are limited to agents", param="agent_ids")
        plaintext = _KEY_PREFIXES[kind] + secrets.token_urlsafe(30)  # 40 url-safe chars
        row = ApiKeyRow(
            id=new_id("key"),
            name=name,
            prefix=plaintext[:_API_KEY_DISPLAY_CHARS],
            key_hash=hash_api_key(plaintext),
            is_admin=is_admin,
            kind=kind,
            agent_ids=None if agent_ids is None else list(dict.fromkeys(agent_ids)),
            rate_limit_per_minute=rate_limit_per_minute,
            rate_limit_burst=rate_limit_burst,
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
            now = utcnow()
            if row.last_used_at is None or now - row.last_used_at >= _LAST_USED_RESOLUTION:
                row.last_used_at = now
        return _key_record(row)

    async def get(self, key_id: str) -> ApiKeyRecord | None:
        """The key (revoked or not), or ``None`` if unknown."""
        async with self._db.session() as s:
            row = await s.get(ApiKeyRow, key_id)
            return None if row is None else _key_record(row)

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
        tools: builtins.list[dict[str, Any]] | None = None,
        content_policy_id: str | None = None,
        knowledge_base_ids: builtins.list[str] | None = None,
        web_search: bool = False,
        provider_overrides: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
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
            knowledge_base_ids=list(knowledge_base_ids or []),
            web_search=web_search,
            provider_overrides=dict(provider_overrides or {}),
            metadata_=dict(metadata or {}),
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

    _UPDATABLE = frozenset(
        {
            "name",
            "system_prompt",
            "voice_id",
            "first_message",
            "language",
            "max_turns",
            "status",
            "settings",
            "tools",
            "content_policy_id",
            "knowledge_base_ids",
            "web_search",
            "provider_overrides",
            "metadata",
        }
    )

    async def update(self, agent_id: str, **changes: Any) -> AgentRecord | None:
        """Change fields of a live agent; ``None`` if unknown or deleted.

        ``status`` may only become ``active`` or ``paused`` here (see :meth:`delete`).
        """
        unknown = set(changes) - self._UPDATABLE
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        if changes.get("status", "active") not in ("active", "paused"):
            raise ValidationError("status must be 'active' or 'paused'", param="status")
        async with self._db.session() as s, s.begin():
            row = await s.get(AgentRow, agent_id)
            if row is None or row.status == "deleted":
                return None
            for name, value in changes.items():
                setattr(row, "metadata_" if name == "metadata" else name, value)
            row.updated_at = utcnow()
        return _agent_record(row)

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

    async def create(
        self,
        agent_id: str,
        metadata: dict[str, Any] | None = None,
        *,
        initial_message: str | None = None,
        api_key_id: str | None = None,
        token_hash: str | None = None,
        expires_at: datetime | None = None,
    ) -> SessionRecord:
        """Start an active session for an agent.

        A session created with a ``token_hash`` waits for its single-use token
        (:meth:`claim_token`) until ``expires_at``; one without is connected now.

        Raises :class:`~parley.errors.NotFoundError` if the agent does not exist.
        """
        now = utcnow()
        row = SessionRow(
            id=new_id("ses"),
            agent_id=agent_id,
            status="active",
            started_at=now,
            metadata_=dict(metadata or {}),
            initial_message=initial_message,
            api_key_id=api_key_id,
            token_hash=token_hash,
            expires_at=expires_at,
            connected_at=None if token_hash else now,
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

    async def delete(self, session_id: str) -> bool:
        """Delete a session and its turns; False if there was none."""
        async with self._db.session() as s, s.begin():
            result = await s.execute(
                delete(SessionRow).where(SessionRow.id == session_id).returning(SessionRow.id)
            )
            return result.first() is not None

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
            tool_calls=[call.as_json() for call in turn.tool_calls],
        )
        try:
            async with self._db.session() as s, s.begin():
                s.add(row)
        except IntegrityError as exc:
            raise NotFoundError(f"session {session_id!r} not found", param="session_id") from exc

    async def truncate_agent_turn(self, session_id: str, turn_id: str, text: str) -> bool:
        """Keep only ``text`` (what the user heard) of a stored agent turn and mark it
        interrupted; False if there is no such turn."""
        async with self._db.session() as s, s.begin():
            result = await s.execute(
                update(TurnRow)
                .where(*_agent_turn(session_id, turn_id))
                .values(text=text, interrupted=True)
                .returning(TurnRow.id)
            )
            return result.first() is not None

    async def add_tool_output(
        self, session_id: str, turn_id: str, call_id: str, output: Any
    ) -> bool:
        """Store the client's result of a tool call of a stored agent turn; False if no
        stored turn made that call."""
        async with self._db.session() as s, s.begin():
            row = await s.scalar(
                select(TurnRow).where(*_agent_turn(session_id, turn_id)).with_for_update()
            )
            calls = list(row.tool_calls or []) if row is not None else []
            if row is None or not any(c.get("call_id") == call_id for c in calls):
                return False
            row.tool_calls = [
                {**c, "output": output} if c.get("call_id") == call_id else c for c in calls
            ]
            return True

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
        """End every connected session still active (e.g. left by a crash); returns how many.

        Sessions still waiting for their token are left alone: the token stays usable.
        """
        async with self._db.session() as s, s.begin():
            result = await s.execute(
                update(SessionRow)
                .where(SessionRow.status == "active", SessionRow.connected_at.is_not(None))
                .values(status="ended", ended_at=utcnow(), end_reason=reason)
            )
            return _rowcount(result)

    async def end_waiting_for_agent(self, agent_id: str, reason: str) -> int:
        """End the agent's sessions whose token was never used; returns how many."""
        async with self._db.session() as s, s.begin():
            result = await s.execute(
                update(SessionRow)
                .where(
                    SessionRow.agent_id == agent_id,
                    SessionRow.status == "active",
                    SessionRow.connected_at.is_(None),
                )
                .values(status="ended", ended_at=utcnow(), end_reason=reason)
            )
            return _rowcount(result)

    async def expire_overdue(self) -> int:
        """Mark sessions whose token was not used before ``expires_at`` expired."""
        now = utcnow()
        async with self._db.session() as s, s.begin():
            result = await s.execute(
                update(SessionRow)
                .where(
                    SessionRow.status == "active",
                    SessionRow.connected_at.is_(None),
                    SessionRow.expires_at <= now,
                )
                .values(status="expired", ended_at=now, end_reason="expired")
            )
            return _rowcount(result)

    async def find_by_token(self, token_hash: str) -> SessionRecord | None:
        """The session a token belongs to, whatever its state."""
        async with self._db.session() as s:
            row = await s.scalar(select(SessionRow).where(SessionRow.token_hash == token_hash))
            return None if row is None else _session_record(row)

    async def claim_token(
        self, token_hash: str
    ) -> tuple[SessionRecord | None, TokenProblem | None]:
        """Use a session's single-use token: ``(session, None)`` the first time, before
        ``expires_at``; otherwise ``(session or None, why)``. A token that comes too late
        marks its session expired."""
        now = utcnow()
        async with self._db.session() as s, s.begin():
            result = await s.execute(
                update(SessionRow)
                .where(
                    SessionRow.token_hash == token_hash,
                    SessionRow.status == "active",
                    SessionRow.connected_at.is_(None),
                    SessionRow.expires_at > now,
                )
                .values(connected_at=now)
            )
            claimed = _rowcount(result) == 1
            row = await s.scalar(select(SessionRow).where(SessionRow.token_hash == token_hash))
            if row is None:
                return None, "unknown"
            if claimed:
                return _session_record(row), None
            if row.connected_at is not None:
                return _session_record(row), "used"
            if row.status != "active":
                return _session_record(row), "expired" if row.status == "expired" else "ended"
            row.status, row.ended_at, row.end_reason = "expired", now, "expired"
        return _session_record(row), "expired"

    async def list_for_agent(
        self, agent_id: str, limit: int, offset: int, status: SessionStatus | None = None
    ) -> tuple[builtins.list[SessionRecord], int]:
        """A page of the agent's sessions, newest first, and their total."""
        where = [SessionRow.agent_id == agent_id]
        if status is not None:
            where.append(SessionRow.status == status)
        cond = and_(*where)
        async with self._db.session() as s:
            total = int(
                await s.scalar(select(func.count()).select_from(SessionRow).where(cond)) or 0
            )
            rows = await s.scalars(
                select(SessionRow)
                .where(cond)
                .order_by(SessionRow.started_at.desc(), SessionRow.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return [_session_record(r) for r in rows], total
