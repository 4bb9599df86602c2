"""Database lifecycle: migrations on start, then an async engine and sessions."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, make_url, pool, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from parley.storage.permissions import private_dir, private_sqlite_file

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

_SYNC_DRIVERS = {
    "sqlite+aiosqlite": "sqlite",
    "postgresql+asyncpg": "postgresql+psycopg",
}


def sync_url(async_url: str | URL) -> URL:
    """The sync-driver equivalent of an async URL (other URLs are returned as-is).

    Parley itself needs no sync driver (migrations run through the async engine); this is
    for external tools that want one.
    """
    url = make_url(async_url)
    return url.set(drivername=_SYNC_DRIVERS.get(url.drivername, url.drivername))


def _sqlite_file(url: URL) -> Path | None:
    """The file of a SQLite URL; ``None`` for other backends.

    Raises ``ValueError`` for in-memory SQLite: migrations and the app would each
    get their own empty database.
    """
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or url.query.get("mode") == "memory":
        raise ValueError("in-memory SQLite is not supported; give a file path")
    if database.startswith("file:"):
        database = database.removeprefix("file:").split("?", 1)[0]
    return Path(database)


def alembic_config() -> Config:
    """An Alembic config pointing at the packaged migrations (no ini file needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def lock_key(name: str) -> int:
    """The 64-bit Postgres advisory-lock key of the named Parley lock."""
    digest = hashlib.sha256(f"parley:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _prepare_sqlite_file(url: URL) -> None:
    """Create a SQLite file's parent directory (0700) and the file (0600) if missing."""
    sqlite_file = _sqlite_file(url)
    if sqlite_file is None:
        return
    if not sqlite_file.parent.exists():
        private_dir(sqlite_file.parent)
    tightened = private_sqlite_file(sqlite_file)
    if tightened:
        log.warning(
            "tightened the database files to 0600",
            extra={"paths": [str(p) for p in tightened]},
        )


_PROCESS_LOCKS: dict[tuple[int, str, str], asyncio.Lock] = {}


def _process_lock(url: str | URL, name: str) -> asyncio.Lock:
    """This process's lock ``name`` on the database at ``url`` (per event loop)."""
    key = (id(asyncio.get_running_loop()), str(url), name)
    return _PROCESS_LOCKS.setdefault(key, asyncio.Lock())


def _upgrade(connection: Connection) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


async def migrate(async_url: str | URL) -> None:
    """Upgrade the database at ``async_url`` to the latest revision.

    Idempotent, so it is safe on every start; it runs through the async driver (no sync
    driver is needed). On Postgres it runs in one transaction under an advisory lock, so
    replicas starting at once against an empty database do not race: the first migrates,
    the others wait and then find nothing to do (on SQLite only tasks of this process are
    kept apart: one SQLite file serves one replica). Creates a SQLite file's parent directory
    (0700) if it is missing, and the file itself 0600 (its ``-wal``, ``-shm`` and
    ``-journal`` files get its mode from SQLite; looser ones are tightened).
    """
    url = make_url(async_url)
    _prepare_sqlite_file(url)
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with _process_lock(url, "migrations"), engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key("migrations")}
                )
            await connection.run_sync(_upgrade)
    finally:
        await engine.dispose()


def run_migrations(async_url: str) -> None:
    """Blocking :func:`migrate`, for scripts and tools outside an event loop."""
    asyncio.run(migrate(async_url))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


class Database:
    """Owns the async engine; :meth:`connect` before use, :meth:`close` after."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None

    @property
    def engine(self) -> AsyncEngine:
        """The async engine (only after :meth:`connect`)."""
        if self._engine is None:
            raise RuntimeError("Database.connect() has not been called")
        return self._engine

    @property
    def dialect(self) -> str:
        """The backend's name: ``sqlite`` or ``postgresql``."""
        return make_url(self.url).get_backend_name()

    async def connect(self) -> None:
        """Run the migrations, then open the async engine."""
        if self._engine is not None:
            return
        await migrate(self.url)
        if self.dialect == "sqlite":
            engine = create_async_engine(self.url)
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            engine = create_async_engine(self.url, pool_pre_ping=True)
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def close(self) -> None:
        """Dispose of the engine and its pooled connections."""
        engine, self._engine, self._sessions = self._engine, None, None
        if engine is not None:
            await engine.dispose()

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[None]:
        """Hold the lock ``name`` across all processes sharing the database (a Postgres
        session advisory lock); on SQLite, across this process's tasks only.

        For short check-then-create sequences that replicas may run at once, e.g.
        ``async with db.exclusive("bootstrap"): ...``.
        """
        if self.dialect != "postgresql":
            async with _process_lock(self.url, name):
                yield
            return
        key = {"key": lock_key(name)}
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(:key)"), key)
            await conn.commit()
            try:
                yield
            finally:
                try:
                    await conn.execute(text("SELECT pg_advisory_unlock(:key)"), key)
                    await conn.commit()
                except BaseException:
                    # the lock lives as long as the connection: never pool it still held
                    await conn.invalidate()
                    raise

    def session(self) -> AsyncSession:
        """A new session; use it as ``async with db.session() as s:``."""
        if self._sessions is None:
            raise RuntimeError("Database.connect() has not been called")
        return self._sessions()
