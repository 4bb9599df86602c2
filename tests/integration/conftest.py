"""A real ``parley serve`` process with the real models, on a free port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest


@dataclass
class Server:
    url: str
    admin_key: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def database_url(self) -> str:
        return f"sqlite+aiosqlite:///{self.data_dir / 'parley.db'}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data_dir: Path, timeout: float = 180.0) -> Server:
    """Start ``parley serve`` and wait until /healthz says the models are loaded."""
    port = _free_port()
    out, log = data_dir.parent / f"{data_dir.name}.out", data_dir.parent / f"{data_dir.name}.log"
    env = {**os.environ, "PARLEY_LOG_JSON": "true"}
    with out.open("wb") as stdout, log.open("wb") as stderr:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "parley.cli",
                "serve",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
            ],
            stdout=stdout,
            stderr=stderr,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"server exited with {process.returncode}:\n{log.read_text()[-3000:]}"
            )
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    else:
        process.kill()
        raise RuntimeError(f"server not healthy after {timeout}s:\n{log.read_text()[-3000:]}")
    lines = out.read_text().splitlines()
    key = next(line.strip() for line in lines if line.strip().startswith("sk_live_"))
    return Server(url, key, data_dir, process, log)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the whole test session."""
    srv = start_server(tmp_path_factory.mktemp("server") / "data")
    yield srv
    srv.process.terminate()
    try:
        srv.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        srv.process.kill()
