"""A private, throw-away Redis (Debian's ``redis-server``) for tests and benchmarks.

``running_redis()`` starts ``redis-server`` on a free 127.0.0.1 port with persistence off,
yields its URL, and stops it by PID (its temporary directory is removed). The machine's own
Redis, if any, is never touched. Tests that need it are skipped, saying so, when
``redis-server`` is missing (Debian/Ubuntu: ``apt-get install redis-server``), unless
``PARLEY_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from parley.testing.processes import stop_process
from parley.testing.server import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def redis_available() -> bool:
    """True if Debian's ``redis-server`` is installed."""
    return Path(REDIS_SERVER).is_file()


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _wait_ready(process: subprocess.Popen[bytes], port: int, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not _ping(port):
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"redis-server exited with {process.returncode}:\n{tail}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"redis-server not answering on port {port} after {timeout_s:g} s")
        time.sleep(0.05)


@contextmanager
def running_redis(timeout_s: float = 20.0) -> Iterator[str]:
    """Run a private Redis on a free loopback port; yields ``redis://127.0.0.1:PORT/0``."""
    if not redis_available():
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    with tempfile.TemporaryDirectory(prefix="parley-redis-") as tmp:
        log = Path(tmp) / "redis.log"
        for attempt in range(3):  # a free port may be taken before redis binds it
            port = free_port()
            process = subprocess.Popen(
                [
                    *(REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1"),
                    *("--save", "", "--appendonly", "no", "--dir", tmp, "--logfile", str(log)),
                    *("--daemonize", "no", "--protected-mode", "yes"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                _wait_ready(process, port, log, timeout_s)
            except RuntimeError:
                stop_process(process, grace_s=5)
                if attempt == 2:
                    raise
                continue
            try:
                yield f"redis://127.0.0.1:{port}/0"
            finally:
                stop_process(process, grace_s=10)
            return
