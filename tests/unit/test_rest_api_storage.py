"""Storage behind the REST API: key kinds, agent updates, single-use session tokens,
and the per-key token bucket."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from parley.cluster.buckets import TokenBuckets
from parley.errors import ValidationError
from parley.server.ratelimit import retry_after_header
from parley.storage import AgentRepository, ApiKeyRepository, Database, SessionRepository
from parley.storage.models import utcnow


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.connect()
    try:
        yield database
    finally:
        await database.close()


async def test_key_kinds(db: Database) -> None:
    keys = ApiKeyRepository(db)
    pk, plaintext = await keys.create("web", kind="publishable", agent_ids=["agt_a", "agt_a"])
    assert plaintext.startswith("pk_live_") and pk.kind == "publishable"
    assert pk.agent_ids == ("agt_a",) and pk.may_use_agent("agt_a")
    assert not pk.may_use_agent("agt_b")
    verified = await keys.verify(plaintext)
    assert verified is not None and verified.kind == "publishable"
    sk, secret = await keys.create("api", rate_limit_per_minute=6, rate_limit_burst=2)
    assert secret.startswith("sk_live_") and sk.may_use_agent("agt_b")
    assert (sk.rate_limit_per_minute, sk.rate_limit_burst) == (6, 2)
    with pytest.raises(ValidationError, match="cannot be an admin"):
        await keys.create("x", kind="publishable", is_admin=True)
    with pytest.raises(ValidationError, match="only publishable"):
        await keys.create("x", agent_ids=["agt_a"])
    assert await keys.get("key_missing") is None


async def test_agent_update(db: Database) -> None:
    agents = AgentRepository(db)
    agent = await agents.create(name="A", system_prompt="p", voice_id="v", tools=[{"name": "t"}])
    changed = await agents.update(agent.id, name="B", status="paused", metadata={"k": 1})
    assert changed is not None and changed.name == "B" and changed.status == "paused"
    assert changed.metadata == {"k": 1} and changed.tools == [{"name": "t"}]
    assert changed.updated_at > agent.updated_at
    with pytest.raises(ValidationError):
        await agents.update(agent.id, status="deleted")
    assert await agents.delete(agent.id)
    assert await agents.update(agent.id, name="C") is None


async def test_session_tokens_are_single_use_and_expire(db: Database) -> None:
    agent = await AgentRepository(db).create(name="A", system_prompt="p", voice_id="v")
    sessions = SessionRepository(db)
    soon = utcnow() + timedelta(minutes=5)
    pending = await sessions.create(agent.id, token_hash="h1", expires_at=soon)
    assert pending.connected_at is None
    claimed, problem = await sessions.claim_token("h1")
    assert problem is None and claimed is not None and claimed.connected_at is not None
    assert await sessions.claim_token("h1") == (claimed, "used")
    assert await sessions.claim_token("nope") == (None, "unknown")

    late = await sessions.create(agent.id, token_hash="h2", expires_at=utcnow())
    record, problem = await sessions.claim_token("h2")
    assert problem == "expired" and record is not None and record.status == "expired"
    assert await sessions.claim_token("h2") == (record, "expired")

    waiting = await sessions.create(
        agent.id, token_hash="h3", expires_at=utcnow() - timedelta(seconds=1)
    )
    assert await sessions.expire_overdue() == 1
    expired = await sessions.get(waiting.id)
    assert expired is not None and expired.status == "expired"

    unclaimed = await sessions.create(agent.id, token_hash="h4", expires_at=soon)
    assert await sessions.end_all_active("error") == 1  # only the connected one
    assert await sessions.end_waiting_for_agent(agent.id, "agent_deleted") == 1
    ended, problem = await sessions.claim_token("h4")
    assert problem == "ended" and ended is not None and ended.end_reason == "agent_deleted"
    assert unclaimed.id == ended.id and late.id == record.id

    page, total = await sessions.list_for_agent(agent.id, 2, 0)
    assert total == 4 and len(page) == 2
    assert [s.id for s in (await sessions.list_for_agent(agent.id, 10, 0, "expired"))[0]] == [
        waiting.id,
        late.id,
    ]


def test_token_bucket() -> None:
    now = [0.0]
    limiter = TokenBuckets(clock=lambda: now[0])
    assert [limiter.take("k", 60, 2) for _ in range(2)] == [None, None]
    assert limiter.take("k", 60, 2) == pytest.approx(1.0)  # one token a second
    assert limiter.take("other", 60, 2) is None  # buckets are per key
    now[0] = 0.5
    assert limiter.take("k", 60, 2) == pytest.approx(0.5)
    now[0] = 1.0
    assert limiter.take("k", 60, 2) is None
    now[0] = 100.0  # refills only up to the burst
    assert [limiter.take("k", 60, 2) for _ in range(3)][2] is not None
    limiter.forget("k")
    assert limiter.take("k", 60, 2) is None
    assert retry_after_header(0.01) == "1" and retry_after_header(2.2) == "3"
