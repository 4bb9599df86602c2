"""The private Postgres and Redis that tests start (parley.testing.postgres / redis_server)."""

from __future__ import annotations

import os

import pytest
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from parley.testing.postgres import postgres_available, running_postgres
from parley.testing.redis_server import redis_available, running_redis
from tests.conftest import need_service


async def test_private_postgres_creates_databases_and_is_gone_after() -> None:
    need_service(postgres_available(), "postgresql")
    with running_postgres() as server:
        url = server.create_database("helper_check")
        assert url == f"postgresql+asyncpg://postgres@127.0.0.1:{server.port}/helper_check"
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                assert (await conn.execute(text("SELECT current_database()"))).scalar() == (
                    "helper_check"
                )
                assert (await conn.execute(text("SHOW fsync"))).scalar() == "off"
        finally:
            await engine.dispose()
        assert "parley" in server.psql("SELECT datname FROM pg_database")
        with pytest.raises(ValueError):
            server.create_database("bad; DROP")
        pid, data_dir = server.process.pid, server.data_dir
    assert server.process.poll() is not None
    assert not data_dir.parent.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_private_redis_answers_and_stops() -> None:
    need_service(redis_available(), "redis-server")
    with running_redis() as url:
        assert url.startswith("redis://127.0.0.1:") and url.endswith("/0")
        client = aioredis.Redis.from_url(url)
        try:
            assert await client.ping()
            await client.set("k", "v")
            assert await client.get("k") == b"v"
            assert (await client.config_get("save"))["save"] == ""
        finally:
            await client.aclose()
    client = aioredis.Redis.from_url(url)
    try:
        with pytest.raises(aioredis.ConnectionError):
            await client.ping()
    finally:
        await client.aclose()


def test_a_missing_service_skips_unless_required(monkeypatch: pytest.MonkeyPatch) -> None:
    need_service(True, "postgresql")  # present: nothing happens
    monkeypatch.delenv("PARLEY_REQUIRE_SERVICES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install postgresql"):
        need_service(False, "postgresql")
    monkeypatch.setenv("PARLEY_REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception, match="apt-get install redis-server"):
        need_service(False, "redis-server")
