"""Run a real ``parley serve`` process on a free port (for tests and benchmarks)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parley.testing.processes import stop_process, wait_until_healthy


@dataclass
class ServerProcess:
    """A started server: where it listens, its admin key, data dir, process and log."""

    url: str
    admin_key: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log: Path
    shared_database_url: str | None = None

    @property
    def database_url(self) -> str:
        """Async SQLAlchemy URL of the server's database: ``PARLEY_DATABASE_URL`` when it
        was started with one, else its SQLite file."""
        if self.shared_database_url:
            return self.shared_database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'parley.db'}"

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self.url.rsplit(":", 1)[1])

    def log_records(self) -> list[dict[str, Any]]:
        """The server's JSON log lines so far."""
        records = []
        for line in self.log.read_text().splitlines():
            if line.startswith("{"):
                records.append(json.loads(line))
        return records

    def memory_kib(self) -> dict[str, int]:
        """Current and peak resident memory of the server process (Linux)."""
        fields = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0])
        return fields

    def stop(self) -> None:
        """Terminate the server and wait for it."""
        stop_process(self.process)


def shared_models_dir() -> Path:
    """Where test and benchmark servers keep assembled model weights, so each fresh data
    directory does not join them again (``PARLEY_MODELS_DIR`` wins)."""
    return Path(os.environ.get("PARLEY_MODELS_DIR") or Path.home() / ".cache/parley/models")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    data_dir: Path,
    timeout: float = 180.0,
    env: dict[str, str] | None = None,
    *,
    port: int | None = None,
    admin_key: str | None = None,
) -> ServerProcess:
    """Start ``parley serve`` and wait until /healthz says the models are loaded.

    ``env`` adds settings, e.g. ``{"PARLEY_LIMITS__CLIENT_TIMEOUT_S": "2"}``. ``port``
    (default: a free one) lets a restarted replica listen where it did before.
    ``admin_key`` is the key to use when the server prints none: a replica started on a
    database that another replica, or an earlier start, has already bootstrapped.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    out, log = data_dir / "serve.out", data_dir / "serve.log"
    env = {**os.environ, "PARLEY_LOG_JSON": "true", **(env or {})}
    env.setdefault("PARLEY_MODELS_DIR", str(shared_models_dir()))
    command = [sys.executable, "-m", "parley.cli", "serve", "--port", str(port)]
    with out.open("wb") as stdout, log.open("wb") as stderr:
        process = subprocess.Popen(
            [*command, "--data-dir", str(data_dir)], stdout=stdout, stderr=stderr, env=env
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(
            process,
            f"{url}/healthz",
            timeout_s=timeout,
            details=lambda: "\n" + log.read_text()[-3000:],
            poll_s=0.25,
        )
    except RuntimeError:
        stop_process(process)
        raise
    lines = out.read_text().splitlines()
    printed = next((line.strip() for line in lines if line.strip().startswith("sk_live_")), None)
    key = printed or admin_key
    if key is None:
        stop_process(process)
        raise RuntimeError(f"{url} printed no admin key (pass admin_key=): {out.read_text()}")
    return ServerProcess(url, key, data_dir, process, log, env.get("PARLEY_DATABASE_URL"))
