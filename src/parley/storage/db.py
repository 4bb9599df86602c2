"""Database lifecycle: migrations on start, then an async engine and sessions."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, make_url, pool
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
    """The sync-driver equivalent of an async URL (other URLs are returned as-is)."""
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


def run_migrations(async_url: str) -> None:
    """Upgrade the database at ``async_url`` to the latest revision (blocking).

    Idempotent, so it is safe on every start. Creates a SQLite file's parent
    directory (0700) if it is missing, and the file itself 0600 (its ``-wal``,
    ``-shm`` and ``-journal`` files get its mode from SQLite; looser ones are tightened).
    """
    url = sync_url(async_url)
    sqlite_file = _sqlite_file(url)
    if sqlite_file is not None:
        if not sqlite_file.parent.exists():
            private_dir(sqlite_file.parent)
        tightened = private_sqlite_file(sqlite_file)
        if tightened:
            log.warning(
                "tightened the database files to 0600",
                extra={"paths": [str(p) for p in tightened]},
            )
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.begin() as connection:
            cfg = alembic_config()
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
    finally:
        engine.dispose()


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

    async def connect(self) -> None:
        """Run the migrations in a worker thread, then open the async engine."""
        if self._engine is not None:
            return
        await asyncio.to_thread(run_migrations, self.url)
        engine = create_async_engine(self.url)
        if engine.dialect.name == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def close(self) -> None:
        """Dispose of the engine and its pooled connections."""
        engine, self._engine, self._sessions = self._engine, None, None
        if engine is not None:
            await engine.dispose()

    def session(self) -> AsyncSession:
        """A new session; use it as ``async with db.session() as s:``."""
        if self._sessions is None:
            raise RuntimeError("Database.connect() has not been called")
        return self._sessions()
