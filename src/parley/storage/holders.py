"""Which replica holds each live conversation, and resuming a conversation whose
connection dropped (its resume token, the window in which it may come back)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import ColumnElement, or_, select, update

from parley.storage.db import Database
from parley.storage.models import SessionRow, utcnow
from parley.storage.records import rowcount
from parley.storage.sessions import SessionRecord, session_record

ResumeProblem = Literal["unknown", "over"]
"""Why a resume token was refused: no session has it (never issued, or already used),
or its conversation can no longer be resumed (ended for good, or the window passed)."""

_CONNECTED_ACTIVE = (SessionRow.status == "active", SessionRow.connected_at.is_not(None))


class SessionHolders:
    """The ``replica_id``, ``resume_token_hash`` and ``resume_until`` of sessions."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def attach(self, session_id: str, replica_id: str, resume_hash: str | None) -> None:
        """``replica_id`` now holds the session; ``resume_hash`` is its one resume token
        (``None``: it cannot be resumed)."""
        async with self._db.session() as s, s.begin():
            await s.execute(
                update(SessionRow)
                .where(SessionRow.id == session_id)
                .values(replica_id=replica_id, resume_token_hash=resume_hash, resume_until=None)
            )

    async def detach(
        self,
        session_id: str,
        replica_id: str,
        reason: str,
        resume_until: datetime | None,
        resume_hash: str | None = None,
    ) -> bool:
        """End the session if ``replica_id`` still holds it with this connection's token
        ``resume_hash`` (a session resumed since, here or elsewhere, is left alone);
        resumable until ``resume_until`` (``None``: for good)."""
        held = [or_(SessionRow.replica_id == replica_id, SessionRow.replica_id.is_(None))]
        if resume_hash is not None:
            held.append(SessionRow.resume_token_hash == resume_hash)
        ended = await self._end(
            SessionRow.id == session_id, *held, reason=reason, resume_until=resume_until
        )
        return ended == 1

    async def release_replica(
        self, replica_id: str, reason: str, resume_until: datetime | None, *, unowned: bool = False
    ) -> int:
        """End every connected session ``replica_id`` holds (it died, or this is its
        restart), resumable until ``resume_until``; with ``unowned``, also connected
        sessions no replica claimed (stored before replicas existed). Returns how many."""
        holder = SessionRow.replica_id == replica_id
        if unowned:
            holder = or_(holder, SessionRow.replica_id.is_(None))
        return await self._end(holder, reason=reason, resume_until=resume_until)

    async def holders(self) -> set[str]:
        """The replicas that hold a connected, active session."""
        async with self._db.session() as s:
            rows = await s.scalars(
                select(SessionRow.replica_id)
                .where(*_CONNECTED_ACTIVE, SessionRow.replica_id.is_not(None))
                .distinct()
            )
            return {r for r in rows if r is not None}

    async def count_held(self, agent_id: str, other_than: str) -> int:
        """How many of ``agent_id``'s connected, active sessions replicas other than
        ``other_than`` hold."""
        async with self._db.session() as s:
            rows = await s.scalars(
                select(SessionRow.id).where(
                    *_CONNECTED_ACTIVE,
                    SessionRow.agent_id == agent_id,
                    SessionRow.replica_id != other_than,
                )
            )
            return len(list(rows))

    async def claim_resume(
        self, token_hash: str, replica_id: str, new_hash: str
    ) -> tuple[SessionRecord | None, ResumeProblem | None, str | None]:
        """Take over the conversation of a resume token: ``(session, None, previous
        holder)`` when it is active (its replica died or has not noticed the drop yet) or
        ended within its window; it is active again, held by ``replica_id``, with the
        token ``new_hash`` (the old one is spent). The previous holder may still have an
        old connection of it (it had not noticed the drop, or its lease lapsed while it
        lived on). Otherwise ``(session or None, why, None)``. Two claims of one token:
        one wins, the other gets ``unknown``."""
        now = utcnow()
        async with self._db.session() as s, s.begin():
            row = await s.scalar(
                select(SessionRow).where(SessionRow.resume_token_hash == token_hash)
            )
            if row is None:
                return None, "unknown", None
            previous = row.replica_id
            resumable = or_(
                SessionRow.status == "active",
                (SessionRow.status == "ended") & (SessionRow.resume_until > now),
            )
            result = await s.execute(
                update(SessionRow)
                .where(SessionRow.id == row.id, SessionRow.resume_token_hash == token_hash)
                .where(resumable, SessionRow.connected_at.is_not(None))
                .values(
                    status="active",
                    ended_at=None,
                    end_reason=None,
                    resume_until=None,
                    replica_id=replica_id,
                    resume_token_hash=new_hash,
                )
                .execution_options(synchronize_session=False)
            )
            if rowcount(result) != 1:
                await s.refresh(row)
                stolen = row.resume_token_hash != token_hash
                return session_record(row), "unknown" if stolen else "over", None
            await s.refresh(row)
            return session_record(row), None, previous

    async def _end(
        self, *where: ColumnElement[bool], reason: str, resume_until: datetime | None
    ) -> int:
        async with self._db.session() as s, s.begin():
            result = await s.execute(
                update(SessionRow)
                .where(*_CONNECTED_ACTIVE, *where)
                .values(
                    status="ended", ended_at=utcnow(), end_reason=reason, resume_until=resume_until
                )
                .execution_options(synchronize_session=False)
            )
            return rowcount(result)
