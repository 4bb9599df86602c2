"""Which replica holds each conversation, and resume tokens, on SQLite and Postgres."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from parley.storage import AgentRepository, Database, SessionRepository
from parley.storage.holders import SessionHolders
from parley.storage.knowledge import KnowledgeRepository
from parley.storage.models import utcnow


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.connect()
    await AgentRepository(database).create(
        agent_id="agt_a", name="A", system_prompt="Hi", voice_id="en_US-joe-medium"
    )
    yield database
    await database.close()


async def _live(db: Database, replica: str, token: str | None = "h1") -> str:
    record = await SessionRepository(db).create("agt_a", {})
    await SessionHolders(db).attach(record.id, replica, token)
    return record.id


async def test_a_dropped_conversation_is_taken_over_once_within_its_window(db: Database) -> None:
    holders, sessions = SessionHolders(db), SessionRepository(db)
    sid = await _live(db, "r1")
    assert await holders.detach(sid, "r1", "client", utcnow() + timedelta(seconds=30))
    dropped = await sessions.get(sid)
    assert dropped is not None and dropped.status == "ended" and dropped.resume_until

    record, problem, previous = await holders.claim_resume("h1", "r2", "h2")
    assert problem is None and previous == "r1" and record is not None
    assert (record.id, record.status, record.replica_id) == (sid, "active", "r2")
    assert record.ended_at is None and record.end_reason is None and record.resume_until is None
    assert (await holders.claim_resume("h1", "r3", "h3"))[1] == "unknown", "spent"
    assert (await holders.claim_resume("nope", "r3", "h3"))[:2] == (None, "unknown")


async def test_two_claims_of_one_token_at_once_give_it_to_one(db: Database) -> None:
    holders = SessionHolders(db)
    sid = await _live(db, "r1")
    results = await asyncio.gather(
        holders.claim_resume("h1", "r2", "h2"), holders.claim_resume("h1", "r3", "h3")
    )
    won = [r for r in results if r[1] is None]
    assert len(won) == 1 and won[0][0] is not None and won[0][0].id == sid
    assert [r[1] for r in results if r[1] is not None] == ["unknown"]


async def test_a_live_conversation_is_taken_from_its_holder(db: Database) -> None:
    holders = SessionHolders(db)
    sid = await _live(db, "r1")  # r1 has not noticed the drop (or died)
    record, problem, previous = await holders.claim_resume("h1", "r2", "h2")
    assert problem is None and previous == "r1" and record is not None
    # r1's late end does not touch what r2 holds now
    assert not await holders.detach(sid, "r1", "client", None)
    again = await SessionRepository(db).get(sid)
    assert again is not None and (again.status, again.replica_id) == ("active", "r2")


async def test_too_late_or_ended_for_good_is_over(db: Database) -> None:
    holders, sessions = SessionHolders(db), SessionRepository(db)
    late = await _live(db, "r1", "late")
    await holders.detach(late, "r1", "client", utcnow() - timedelta(seconds=1))
    record, problem, _ = await holders.claim_resume("late", "r2", "x")
    assert problem == "over" and record is not None and record.id == late
    final = await _live(db, "r1", "final")
    await holders.detach(final, "r1", "client", None)  # the client sent "end"
    assert (await holders.claim_resume("final", "r2", "y"))[1] == "over"
    waiting = await sessions.create("agt_a", {}, token_hash="t", expires_at=utcnow())
    await holders.attach(waiting.id, "r1", "never")
    assert (await holders.claim_resume("never", "r2", "z"))[1] == "over", "never connected"


async def test_a_replica_ends_only_the_sessions_it_holds(db: Database) -> None:
    holders, sessions = SessionHolders(db), SessionRepository(db)
    mine, theirs = await _live(db, "r1", "a"), await _live(db, "r2", "b")
    unowned = (await sessions.create("agt_a", {})).id  # stored before replicas existed
    waiting = await sessions.create("agt_a", {}, token_hash="t", expires_at=utcnow())
    assert await holders.holders() == {"r1", "r2"}
    assert await holders.count_held("agt_a", other_than="r1") == 1
    until = utcnow() + timedelta(seconds=30)
    assert await holders.release_replica("r1", "error", until) == 1
    assert await holders.release_replica("r1", "error", until, unowned=True) == 1
    states = {sid: (await sessions.get(sid)) for sid in (mine, theirs, unowned, waiting.id)}
    assert {sid: r.status for sid, r in states.items() if r} == {
        mine: "ended",
        theirs: "active",
        unowned: "ended",
        waiting.id: "active",
    }
    assert states[mine] is not None and states[mine].end_reason == "error"
    assert (await holders.claim_resume("a", "r2", "a2"))[1] is None, "resumable after a crash"


async def test_a_replica_fails_only_its_own_interrupted_documents(db: Database) -> None:
    knowledge = KnowledgeRepository(db)
    kb = await knowledge.create("Manuals", "")

    async def document(replica: str | None) -> str:
        doc = await knowledge.add_document(
            kb.id, title="x", source="text", size_bytes=1, replica_id=replica
        )
        return doc.id

    mine, theirs, unowned = await document("r1"), await document("r2"), await document(None)
    assert {d.id for d in await knowledge.processing("r1")} == {mine, unowned}
    assert await knowledge.processing_replicas() == {"r1", "r2"}
    assert await knowledge.fail_processing("r2", "replica r2 died") == 1
    statuses = {d: (await knowledge.document(kb.id, d)) for d in (mine, theirs, unowned)}
    assert {d: r.status for d, r in statuses.items() if r} == {
        mine: "processing",
        theirs: "failed",
        unowned: "processing",
    }


async def test_the_old_connection_cannot_end_a_conversation_resumed_on_the_same_replica(
    db: Database,
) -> None:
    holders = SessionHolders(db)
    sid = await _live(db, "r1", "old")
    _, problem, previous = await holders.claim_resume("old", "r1", "new")
    assert problem is None and previous == "r1"
    assert not await holders.detach(sid, "r1", "client", None, "old"), "its connection is gone"
    assert await holders.detach(sid, "r1", "client", None, "new")
