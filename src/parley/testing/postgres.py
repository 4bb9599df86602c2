"""A private, throw-away Postgres cluster (Debian's ``postgresql``) for tests and benchmarks.

``running_postgres()`` runs ``initdb`` in a temporary directory and starts ``postgres`` on a
free 127.0.0.1 port with trust authentication and no fsync (fast, disposable). As root the
server runs as the ``postgres`` user (``initdb`` refuses root). It is stopped by PID and its
directory removed on exit. The machine's own Postgres, if any, is never touched.

Tests that need it are skipped, saying so, when the binaries are missing (Debian/Ubuntu:
``apt-get install postgresql``), unless ``PARLEY_REQUIRE_SERVICES=1`` (see
:func:`services_required`).
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from parley.testing.server import free_port

_SEARCH = "/usr/lib/postgresql/*/bin"
_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def services_required() -> bool:
    """True when tests must fail instead of skipping if a Debian service binary is missing
    (``PARLEY_REQUIRE_SERVICES=1``, set by ``.ci/run``)."""
    return os.environ.get("PARLEY_REQUIRE_SERVICES", "") in ("1", "true", "yes")


def _bin_dir() -> Path | None:
    """The newest installed Postgres server's ``bin`` directory (Debian layout), else the
    one that holds an ``initdb`` on ``PATH``."""
    found = sorted(
        Path("/").glob(_SEARCH.lstrip("/")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    for candidate in reversed(found):
        if (candidate / "initdb").is_file() and (candidate / "postgres").is_file():
            return candidate
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def postgres_available() -> bool:
    """True if a Postgres server (``initdb``, ``postgres``, ``psql``) is installed."""
    bin_dir = _bin_dir()
    return bin_dir is not None and (bin_dir / "psql").is_file()


@dataclass
class PostgresServer:
    """A running private Postgres: its port, data directory and process."""

    port: int
    data_dir: Path
    process: subprocess.Popen[bytes]
    bin_dir: Path
    _databases: set[str] = field(default_factory=set)

    def url(self, database: str = "parley") -> str:
        """Async SQLAlchemy URL of ``database`` on this server."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` through ``psql`` (stops at the first error); returns its output."""
        result = subprocess.run(
            [
                str(self.bin_dir / "psql"),
                *("-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database),
                *("-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PGCONNECT_TIMEOUT": "10"},
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql failed ({result.returncode}): {result.stderr.strip()}")
        return result.stdout

    def create_database(self, name: str) -> str:
        """Create the empty database ``name``; returns its async SQLAlchemy URL."""
        if not _DB_NAME.match(name):
            raise ValueError(f"not a plain database name: {name!r}")
        self.psql(f'CREATE DATABASE "{name}"')
        self._databases.add(name)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop ``name`` (closing its connections first)."""
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._databases.discard(name)


@dataclass(frozen=True)
class _RunAs:
    """Who runs the server: the ``postgres`` user when we are root, else ourselves."""

    uid: int | None = None
    gid: int | None = None

    @classmethod
    def pick(cls) -> _RunAs:
        if os.geteuid() != 0:
            return cls()
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            raise RuntimeError(
                "running as root, Postgres needs a 'postgres' user to run as (Debian's "
                "postgresql package creates it)"
            ) from None
        return cls(user.pw_uid, user.pw_gid)

    @property
    def extra_groups(self) -> list[int] | None:
        return [] if self.uid is not None else None


def _log_tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-3000:]
    except OSError:
        return ""


def _stop(process: subprocess.Popen[bytes], grace_s: float = 20.0) -> None:
    """Fast shutdown (SIGINT) by PID; SIGKILL if it does not exit in time."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_ready(server: PostgresServer, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    ready = server.bin_dir / "pg_isready"
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"postgres exited with {server.process.returncode}:\n{_log_tail(log)}"
            )
        probe = subprocess.run(
            [str(ready), "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres", "-q"],
            check=False,
            timeout=10,
        )
        if probe.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"postgres not ready after {timeout_s:g} s:\n{_log_tail(log)}")
        time.sleep(0.1)


@contextmanager
def running_postgres(timeout_s: float = 60.0) -> Iterator[PostgresServer]:
    """Run a private Postgres on a free loopback port with a database ``parley``; yields
    it and stops it (by PID) and removes its files on exit."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        raise RuntimeError("Postgres is not installed (Debian/Ubuntu: apt-get install postgresql)")
    user = _RunAs.pick()
    root = Path(tempfile.mkdtemp(prefix="parley-pg-"))
    try:
        data, log = root / "data", root / "postgres.log"
        if user.uid is not None and user.gid is not None:
            os.chown(root, user.uid, user.gid)
        root.chmod(0o700)
        initdb = subprocess.run(
            [
                *(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"),
                *("-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            user=user.uid,
            group=user.gid,
            extra_groups=user.extra_groups,
        )
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed: {initdb.stderr[-3000:]}")
        yield from _serve(bin_dir, root, data, log, user, timeout_s)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _serve(
    bin_dir: Path,
    root: Path,
    data: Path,
    log: Path,
    user: _RunAs,
    timeout_s: float,
) -> Iterator[PostgresServer]:
    settings = {
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": str(root),
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "200",
        "shared_buffers": "32MB",
        "log_min_messages": "warning",
    }
    options = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
    for attempt in range(3):  # a free port may be taken before postgres binds it
        port = free_port()
        with log.open("ab") as out:
            process = subprocess.Popen(
                [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port), *options],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                user=user.uid,
                group=user.gid,
                extra_groups=user.extra_groups,
            )
        server = PostgresServer(port, data, process, bin_dir)
        try:
            _wait_ready(server, log, timeout_s)
        except RuntimeError:
            _stop(process)
            if attempt == 2:
                raise
            continue
        try:
            server.psql('CREATE DATABASE "parley"')
            yield server
        finally:
            _stop(process)
        return
