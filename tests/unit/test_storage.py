"""Storage layer: migrations, API keys, agents, sessions and turns on real SQLite files
and on a real Postgres (tests taking ``db`` or ``database_url`` run on both)."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, make_url, text
from sqlalchemy.sql import sqltypes

from parley.core.records import ToolCallRecord, TurnRecord
from parley.errors import NotFoundError, ValidationError
from parley.server.bootstrap import DEMO_AGENT_ID, bootstrap
from parley.storage import (
    AgentRepository,
    ApiKeyRepository,
    Database,
    SessionRepository,
    new_id,
    sync_url,
)
from parley.storage.db import alembic_config
from parley.storage.models import Base
from parley.testing.postgres import PostgresServer
from tests.conftest import fresh_postgres_database


def _url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


async def _all_rows(db: Database) -> dict[str, list[dict[str, object]]]:
    """Every row of every table, as the database returns them."""
    async with db.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
        rows = {}
        for table in tables:
            result = await conn.execute(text(f'SELECT * FROM "{table}"'))
            rows[table] = [dict(r._mapping) for r in result]
        return rows


def _file_bytes(path: Path) -> bytes:
    """The database file plus any WAL/SHM side files, raw."""
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.connect()
    try:
        yield database
    finally:
        await database.close()


def test_new_id_shape() -> None:
    ids = {new_id("agt") for _ in range(200)}
    assert len(ids) == 200
    for value in ids:
        prefix, _, rest = value.partition("_")
        assert prefix == "agt"
        assert len(rest) == 24
        assert rest.isalnum() and rest == rest.lower() and rest.isascii()


def test_sync_url_conversion() -> None:
    assert sync_url("sqlite+aiosqlite:////x/y.db").render_as_string() == "sqlite:////x/y.db"
    assert (
        sync_url("postgresql+asyncpg://u:p@h/db").render_as_string(hide_password=False)
        == "postgresql+psycopg://u:p@h/db"
    )


SESSION_COLUMNS = {
    "id",
    "agent_id",
    "status",
    "started_at",
    "ended_at",
    "end_reason",
    "metadata",
    "initial_message",
    "api_key_id",
    "expires_at",
    "token_hash",
    "connected_at",
    "replica_id",
    "resume_token_hash",
    "resume_until",
}
TABLES = {"api_keys", "agents", "sessions", "turns", "policies", "alembic_version"} | {
    "knowledge_bases",
    "kb_documents",
    "kb_chunks",
}


def _head() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def test_migrations_create_schema_and_are_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "parley.db"  # parent does not exist yet
    first = Database(_url(path))
    await first.connect()
    agents = AgentRepository(first)
    created = await agents.create(name="A", system_prompt="p", voice_id="v")
    await first.close()

    assert path.exists()
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert TABLES | {"kb_chunks_fts"} <= tables
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(_head(),)]
        session_cols = {r[1] for r in conn.execute("PRAGMA table_info(sessions)")}
        assert session_cols == SESSION_COLUMNS
        turn_cols = {r[1] for r in conn.execute("PRAGMA table_info(turns)")}
        assert "tool_calls" in turn_cols
        turn_fks = conn.execute("PRAGMA foreign_key_list(turns)").fetchall()
        assert [(r[2], r[3], r[6]) for r in turn_fks] == [("sessions", "session_id", "CASCADE")]
        indexes = {r[1]: r[2] for r in conn.execute("PRAGMA index_list(api_keys)")}
        assert indexes["ix_api_keys_key_hash"] == 1  # unique
        session_indexes = {r[1]: r[2] for r in conn.execute("PRAGMA index_list(sessions)")}
        assert session_indexes["ix_sessions_agent_id"] == 0
        (ddl,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'sessions'").fetchone()
        assert "uq_sessions_token_hash UNIQUE (token_hash)" in ddl
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)

    second = Database(_url(path))
    await second.connect()  # migrations run again: must be a no-op that keeps data
    try:
        again = await AgentRepository(second).get(created.id)
        assert again == created
    finally:
        await second.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(_head(),)]


async def test_postgres_schema_from_the_same_migrations(postgres: PostgresServer) -> None:
    _, url = fresh_postgres_database(postgres)
    first = Database(url)
    await first.connect()
    try:
        created = await AgentRepository(first).create(name="A", system_prompt="p", voice_id="v")
        async with first.engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            columns = await conn.run_sync(lambda c: inspect(c).get_columns("sessions"))
            uniques = await conn.run_sync(lambda c: inspect(c).get_unique_constraints("sessions"))
            keys = await conn.run_sync(lambda c: inspect(c).get_indexes("api_keys"))
            turn_fks = await conn.run_sync(lambda c: inspect(c).get_foreign_keys("turns"))
            chunk_indexes = await conn.run_sync(lambda c: inspect(c).get_indexes("kb_chunks"))
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
    finally:
        await first.close()
    assert tables >= TABLES and "kb_chunks_fts" not in tables  # FTS5 is SQLite's
    assert {c["name"] for c in columns} == SESSION_COLUMNS
    types = {c["name"]: c["type"] for c in columns}
    assert isinstance(types["metadata"], sqltypes.JSON)
    assert getattr(types["started_at"], "timezone", False) is True
    assert {u["name"] for u in uniques} >= {
        "uq_sessions_token_hash",
        "uq_sessions_resume_token_hash",
    }
    assert {(i["name"], i["unique"]) for i in keys} == {("ix_api_keys_key_hash", True)}
    assert [(f["referred_table"], f["options"].get("ondelete")) for f in turn_fks] == [
        ("sessions", "CASCADE")
    ]
    assert version == [(_head(),)]
    assert "ix_kb_chunks_search_vector" in {i["name"] for i in chunk_indexes}  # 0007

    second = Database(url)
    await second.connect()  # migrations run again: a no-op that keeps the data
    try:
        assert await AgentRepository(second).get(created.id) == created
    finally:
        await second.close()


def _model_drift(connection: Connection) -> list[Any]:
    # full-text search lives outside the models: SQLite's FTS5 table (and its shadow
    # tables), Postgres's generated tsvector column and its GIN index
    ignore = {"kb_chunks_fts", "search_vector", "ix_kb_chunks_search_vector"}
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return [
        diff
        for diff in compare_metadata(context, Base.metadata)
        if not any(name.startswith(prefix) for prefix in ignore for name in _names(diff))
    ]


def _names(diff: Any) -> list[str]:
    items = diff if isinstance(diff, list) else [diff]
    names = []
    for item in items:
        for part in item:
            name = getattr(part, "name", None)
            if isinstance(name, str):
                names.append(name)
            table = getattr(part, "table", None)
            if table is not None and isinstance(getattr(table, "name", None), str):
                names.append(table.name)
    return names


async def test_migrations_match_the_models(db: Database) -> None:
    """The schema the migrations build is the one the models describe, on both backends."""
    async with db.engine.connect() as conn:
        drift = await conn.run_sync(_model_drift)
    assert drift == []


async def test_replicas_starting_at_once_migrate_and_bootstrap_once(database_url: str) -> None:
    replicas = [Database(database_url) for _ in range(3)]
    try:
        await asyncio.gather(*(r.connect() for r in replicas))
        results = await asyncio.gather(*(bootstrap(r) for r in replicas))
        assert sum(r.admin_key is not None for r in results) == 1
        assert {r.demo_agent_id for r in results} == {DEMO_AGENT_ID}
        keys = await ApiKeyRepository(replicas[0]).list()
        assert [k.is_admin for k in keys] == [True]
        agents, total = await AgentRepository(replicas[1]).list(limit=10, offset=0)
        assert total == 1 and agents[0].id == DEMO_AGENT_ID
        again = await bootstrap(replicas[2])  # a later start creates nothing
        assert again.admin_key is None and await ApiKeyRepository(replicas[2]).count() == 1
    finally:
        for replica in replicas:
            await replica.close()


async def _waiting_advisory_locks(db: Database) -> int:
    async with db.engine.connect() as conn:
        query = (
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = current_database()"
        )
        return int((await conn.execute(text(query))).scalar_one())


async def _until_queued(db: Database) -> None:
    """Return once some connection waits for an advisory lock."""
    while True:
        if await _waiting_advisory_locks(db) > 0:
            return
        await asyncio.sleep(0.01)


async def test_exclusive_holds_other_replicas_off_on_postgres(postgres: PostgresServer) -> None:
    _, url = fresh_postgres_database(postgres)
    one, two = Database(url), Database(url)
    await one.connect()
    await two.connect()
    order: list[str] = []
    try:
        async with one.exclusive("job"):
            order.append("one in")

            async def second() -> None:
                async with two.exclusive("job"):
                    order.append("two in")

            waiting = asyncio.create_task(second())
            await _until_queued(one)
            assert not waiting.done()
            async with two.exclusive("other job"):  # other names do not wait
                order.append("other")
            order.append("one out")
        await waiting
        assert order == ["one in", "other", "one out", "two in"]
        async with one.exclusive("job"):  # released, even after use by both
            assert await _waiting_advisory_locks(one) == 0
    finally:
        await one.close()
        await two.close()


async def test_in_memory_sqlite_is_refused() -> None:
    with pytest.raises(ValueError, match="in-memory"):
        await Database("sqlite+aiosqlite://").connect()


async def test_session_before_connect_raises() -> None:
    with pytest.raises(RuntimeError):
        Database("sqlite+aiosqlite:///unused.db").session()


async def test_api_key_stores_only_hash_and_verifies(database_url: str) -> None:
    database = Database(database_url)
    await database.connect()
    keys = ApiKeyRepository(database)
    try:
        record, plaintext = await keys.create("ci", is_admin=True)
        assert plaintext.startswith("sk_live_")
        assert len(plaintext) == len("sk_live_") + 40
        assert record.id.startswith("key_")
        assert record.prefix == plaintext[:12]
        assert record.is_admin is True
        assert record.last_used_at is None and record.revoked_at is None
        assert record.created_at.tzinfo is not None

        other, other_plain = await keys.create("second")
        assert other.is_admin is False
        assert other_plain != plaintext
        assert await keys.count() == 2

        verified = await keys.verify(plaintext)
        assert verified is not None
        assert verified.id == record.id
        assert verified.last_used_at is not None
        assert verified.last_used_at.tzinfo is not None
        assert await keys.verify(plaintext + "x") is None
        assert await keys.verify("sk_live_" + "a" * 40) is None
        assert await keys.verify("") is None

        listed = await keys.list()
        assert [k.id for k in listed] == [record.id, other.id]
        assert listed[0].last_used_at == verified.last_used_at

        assert await keys.revoke(other.id) is True
        assert await keys.verify(other_plain) is None
        assert await keys.revoke(other.id) is True  # idempotent: the key exists
        assert await keys.revoke("key_missing") is False
        assert await keys.count() == 1
        assert await keys.count(include_revoked=True) == 2
        revoked = {k.id: k for k in await keys.list()}[other.id]
        assert revoked.revoked
        assert await keys.verify(plaintext) is not None  # the other key still works
        rows = await _all_rows(database)
    finally:
        await database.close()

    flat = repr(rows)
    for secret in (plaintext, other_plain):
        assert secret not in flat
        assert secret[12:] not in flat  # not even the part beyond the display prefix
    hashes = {r["key_hash"] for r in rows["api_keys"]}
    assert hashes == {
        hashlib.sha256(plaintext.encode()).hexdigest(),
        hashlib.sha256(other_plain.encode()).hexdigest(),
    }
    if database_url.startswith("sqlite"):
        raw = _file_bytes(Path(make_url(database_url).database or ""))
        assert plaintext.encode() not in raw and other_plain.encode() not in raw


async def test_agents_create_get_list(db: Database) -> None:
    agents = AgentRepository(db)
    demo = await agents.create(
        agent_id="agt_demo",
        name="Demo",
        system_prompt="You are helpful.",
        voice_id="joe",
        first_message="Hi!",
        settings={"turns": {"end_of_turn_silence_ms": 700}},
    )
    assert demo.id == "agt_demo"
    assert demo.language == "en" and demo.max_turns == 50 and demo.status == "active"
    assert demo.created_at.tzinfo is not None
    fetched = await agents.get("agt_demo")
    assert fetched == demo
    assert fetched is not None and fetched.settings == {"turns": {"end_of_turn_silence_ms": 700}}

    with pytest.raises(ValidationError):
        await agents.create(agent_id="agt_demo", name="Dup", system_prompt="p", voice_id="v")

    made = [
        await agents.create(name=f"A{i}", system_prompt="p", voice_id="v", language="de")
        for i in range(5)
    ]
    assert all(a.id.startswith("agt_") and len(a.id) == 28 for a in made)
    assert made[0].settings == {} and made[0].first_message is None

    newest_first = [*reversed(made), demo]
    page1, total = await agents.list(limit=2, offset=0)
    page2, total2 = await agents.list(limit=2, offset=2)
    page4, total4 = await agents.list(limit=2, offset=6)
    everything, _ = await agents.list(limit=100, offset=0)
    assert total == total2 == total4 == 6
    assert [a.id for a in everything] == [a.id for a in newest_first]
    assert [a.id for a in page1] == [a.id for a in newest_first[:2]]
    assert [a.id for a in page2] == [a.id for a in newest_first[2:4]]
    assert page4 == []

    assert await agents.delete(made[0].id) is True
    assert await agents.delete(made[0].id) is False
    assert await agents.get(made[0].id) is None
    remaining, total = await agents.list(limit=100, offset=0)
    assert total == 5
    assert made[0].id not in {a.id for a in remaining}
    assert await agents.get("agt_nope") is None


def _turn(
    turn_id: str, role: str, text: str, start: datetime, **latency: float | None
) -> TurnRecord:
    return TurnRecord(
        turn_id=turn_id,
        role=role,  # type: ignore[arg-type]
        text=text,
        started_at=start,
        ended_at=start + timedelta(seconds=1, microseconds=250),
        interrupted=role == "agent",
        latency_ms=dict(latency),
    )


async def test_session_lifecycle_and_turns(db: Database) -> None:
    agent = await AgentRepository(db).create(name="A", system_prompt="p", voice_id="v")
    sessions = SessionRepository(db)
    session = await sessions.create(agent.id, {"client": "browser", "n": 1})
    assert session.id.startswith("ses_")
    assert session.status == "active" and session.ended_at is None
    assert session.metadata == {"client": "browser", "n": 1}
    assert await sessions.get(session.id) == session

    t0 = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    first = _turn("t1", "user", "hello there", t0, stt=120.5, eou=None)
    second = _turn("t2", "agent", "hi, how can I help?", t0 + timedelta(seconds=2), llm=80.0)
    await sessions.add_turn(session.id, first)
    await sessions.add_turn(session.id, second)

    stored = await sessions.turns(session.id)
    assert [t.turn_id for t in stored] == ["t1", "t2"]
    assert stored[0].id < stored[1].id
    assert [t.role for t in stored] == ["user", "agent"]
    assert [t.text for t in stored] == ["hello there", "hi, how can I help?"]
    assert [t.interrupted for t in stored] == [False, True]
    assert stored[0].latency_ms == {"stt": 120.5, "eou": None}
    assert stored[1].latency_ms == {"llm": 80.0}
    assert stored[0].started_at == t0 and stored[0].started_at.tzinfo is not None
    assert stored[1].ended_at == second.ended_at
    assert all(t.session_id == session.id for t in stored)
    assert await sessions.turns("ses_unknown") == []

    await sessions.end(session.id, "client_hangup")
    ended = await sessions.get(session.id)
    assert ended is not None
    assert ended.status == "ended" and ended.end_reason == "client_hangup"
    assert ended.ended_at is not None and ended.ended_at >= ended.started_at

    await sessions.end(session.id, "timeout", status="expired")  # no-op: already ended
    again = await sessions.get(session.id)
    assert again == ended

    with pytest.raises(ValueError):
        await sessions.end(session.id, "x", status="active")


async def test_truncating_an_agent_turn_keeps_what_was_heard(db: Database) -> None:
    agent = await AgentRepository(db).create(name="A", system_prompt="p", voice_id="v")
    sessions = SessionRepository(db)
    session = await sessions.create(agent.id)
    t0 = datetime(2025, 1, 2, tzinfo=UTC)
    await sessions.add_turn(session.id, _turn("turn_1", "user", "tell me a story", t0))
    reply = replace(_turn("turn_1", "agent", "Once upon a time there was", t0), interrupted=False)
    await sessions.add_turn(session.id, reply)
    assert await sessions.truncate_agent_turn(session.id, "turn_1", "Once upon")
    user, agent_turn = await sessions.turns(session.id)
    assert (user.text, user.interrupted) == ("tell me a story", False)
    assert (agent_turn.text, agent_turn.interrupted) == ("Once upon", True)
    assert not await sessions.truncate_agent_turn(session.id, "turn_9", "x")
    assert not await sessions.truncate_agent_turn("ses_missing", "turn_1", "x")


async def test_tool_calls_are_stored_with_their_results(db: Database) -> None:
    agent = await AgentRepository(db).create(name="A", system_prompt="p", voice_id="v")
    sessions = SessionRepository(db)
    session = await sessions.create(agent.id)
    t0 = datetime(2025, 1, 2, tzinfo=UTC)
    calls = (
        ToolCallRecord("call_1", "get_weather", {"city": "Paris"}),
        ToolCallRecord("call_2", "get_time", {}, output="noon"),
    )
    await sessions.add_turn(session.id, _turn("turn_1", "user", "weather?", t0))
    await sessions.add_turn(session.id, replace(_turn("turn_1", "agent", "", t0), tool_calls=calls))
    assert await sessions.add_tool_output(session.id, "turn_1", "call_1", {"celsius": 21})
    assert not await sessions.add_tool_output(session.id, "turn_1", "call_9", "x")
    assert not await sessions.add_tool_output(session.id, "turn_2", "call_1", "x")
    user, reply = await sessions.turns(session.id)
    assert user.tool_calls == []
    assert reply.tool_calls == [
        {"call_id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"},
         "output": {"celsius": 21}},
        {"call_id": "call_2", "name": "get_time", "arguments": {}, "output": "noon"},
    ]  # fmt: skip


async def test_session_requires_existing_agent_and_turn_requires_session(db: Database) -> None:
    sessions = SessionRepository(db)
    with pytest.raises(NotFoundError):
        await sessions.create("agt_missing")
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    with pytest.raises(NotFoundError):
        await sessions.add_turn("ses_missing", _turn("t1", "user", "hi", t0))
    assert await sessions.get("ses_missing") is None


async def test_end_all_active(db: Database) -> None:
    agent = await AgentRepository(db).create(name="A", system_prompt="p", voice_id="v")
    sessions = SessionRepository(db)
    a = await sessions.create(agent.id)
    b = await sessions.create(agent.id)
    done = await sessions.create(agent.id)
    await sessions.end(done.id, "completed")
    expired = await sessions.create(agent.id)
    await sessions.end(expired.id, "idle", status="expired")

    assert await sessions.end_all_active("server_restart") == 2
    for sid in (a.id, b.id):
        rec = await sessions.get(sid)
        assert rec is not None
        assert rec.status == "ended" and rec.end_reason == "server_restart"
        assert rec.ended_at is not None
    kept = await sessions.get(done.id)
    assert kept is not None and kept.end_reason == "completed"
    kept_expired = await sessions.get(expired.id)
    assert kept_expired is not None
    assert kept_expired.status == "expired" and kept_expired.end_reason == "idle"
    assert await sessions.end_all_active("server_restart") == 0
