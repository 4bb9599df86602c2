"""Conversation sessions, their single-use tokens and their turns."""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import ColumnElement, and_, delete, select, update

from parley.core.events import Role
from parley.core.records import TurnRecord
from parley.errors import NotFoundError
from parley.storage.db import Database
from parley.storage.ids import new_id
from parley.storage.models import SessionRow, TurnRow, utcnow
from parley.storage.records import insert, page, record_of, rowcount

SessionStatus = Literal["active", "ended", "expired"]
TokenProblem = Literal["unknown", "used", "ended", "expired"]


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
    replica_id: str | None = None
    """The replica that holds (or last held) the conversation."""
    resume_until: datetime | None = None
    """Until when the ended conversation may be resumed (``None``: it may not)."""

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
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    safety: list[dict[str, Any]] = field(default_factory=list)
    citations: list[dict[str, Any]] = field(default_factory=list)
    language: str | None = None
    language_probability: float | None = None


def session_record(row: SessionRow) -> SessionRecord:
    return record_of(SessionRecord, row)


def _agent_turn(session_id: str, turn_id: str) -> tuple[ColumnElement[bool], ...]:
    """Conditions selecting the agent turn ``turn_id`` of a session."""
    return (
        TurnRow.session_id == session_id,
        TurnRow.turn_id == turn_id,
        TurnRow.role == "agent",
    )


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
        missing = NotFoundError(f"agent {agent_id!r} not found", param="agent_id")
        await insert(self._db, row, missing)
        return session_record(row)

    async def _end_active(
        self,
        *where: ColumnElement[bool],
        reason: str,
        status: SessionStatus = "ended",
        now: datetime | None = None,
    ) -> int:
        """End the active sessions matching ``where``; returns how many."""
        async with self._db.session() as s, s.begin():
            result = await s.execute(
                update(SessionRow)
                .where(SessionRow.status == "active", *where)
                .values(status=status, ended_at=now or utcnow(), end_reason=reason)
            )
            return rowcount(result)

    async def end(self, session_id: str, reason: str, status: SessionStatus = "ended") -> None:
        """End an active session; a session that already ended keeps its first reason."""
        if status not in ("ended", "expired"):
            raise ValueError(f"a session cannot end with status {status!r}")
        await self._end_active(SessionRow.id == session_id, reason=reason, status=status)

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
            safety=[mark.as_json() for mark in turn.safety],
            citations=[c.as_json() for c in turn.citations],
            language=turn.language,
            language_probability=turn.language_probability,
        )
        missing = NotFoundError(f"session {session_id!r} not found", param="session_id")
        await insert(self._db, row, missing)

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
            return None if row is None else session_record(row)

    async def turns(self, session_id: str) -> builtins.list[StoredTurn]:
        """The session's turns in insertion order (empty if none or unknown)."""
        async with self._db.session() as s:
            rows = await s.scalars(
                select(TurnRow).where(TurnRow.session_id == session_id).order_by(TurnRow.id)
            )
            return [record_of(StoredTurn, r, role=cast(Role, r.role)) for r in rows]

    async def end_all_active(self, reason: str) -> int:
        """End every connected session still active (e.g. left by a crash); returns how many.

        Sessions still waiting for their token are left alone: the token stays usable.
        """
        return await self._end_active(SessionRow.connected_at.is_not(None), reason=reason)

    async def end_waiting_for_agent(self, agent_id: str, reason: str) -> int:
        """End the agent's sessions whose token was never used; returns how many."""
        return await self._end_active(
            SessionRow.agent_id == agent_id, SessionRow.connected_at.is_(None), reason=reason
        )

    async def expire_overdue(self) -> int:
        """Mark sessions whose token was not used before ``expires_at`` expired."""
        now = utcnow()
        return await self._end_active(
            SessionRow.connected_at.is_(None),
            SessionRow.expires_at <= now,
            reason="expired",
            status="expired",
            now=now,
        )

    async def find_by_token(self, token_hash: str) -> SessionRecord | None:
        """The session a token belongs to, whatever its state."""
        async with self._db.session() as s:
            row = await s.scalar(select(SessionRow).where(SessionRow.token_hash == token_hash))
            return None if row is None else session_record(row)

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
            claimed = rowcount(result) == 1
            row = await s.scalar(select(SessionRow).where(SessionRow.token_hash == token_hash))
            if row is None:
                return None, "unknown"
            if claimed:
                return session_record(row), None
            if row.connected_at is not None:
                return session_record(row), "used"
            if row.status != "active":
                return session_record(row), "expired" if row.status == "expired" else "ended"
            row.status, row.ended_at, row.end_reason = "expired", now, "expired"
        return session_record(row), "expired"

    async def list_for_agent(
        self, agent_id: str, limit: int, offset: int, status: SessionStatus | None = None
    ) -> tuple[builtins.list[SessionRecord], int]:
        """A page of the agent's sessions, newest first, and their total."""
        where = [SessionRow.agent_id == agent_id]
        if status is not None:
            where.append(SessionRow.status == status)
        newest_first = (SessionRow.started_at.desc(), SessionRow.id.desc())
        rows, total = await page(self._db, SessionRow, and_(*where), newest_first, limit, offset)
        return [session_record(r) for r in rows], total
