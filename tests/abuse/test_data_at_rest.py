"""Data at rest is the server user's alone, on a real server: the data directory and
its recordings folder 0700; the SQLite database, its ``-wal``/``-shm`` files and the
recordings 0600. A data directory left looser (here: made by the test harness with the
default umask, plus an old recording and a database file readable by all) is tightened
when the server starts, with one warning."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from parley.audio.wav import read_wav
from parley.client import ParleyClient, call
from parley.testing.recordings import recording
from parley.testing.server import ServerProcess, start_server

pytestmark = pytest.mark.integration

TIGHTENED = "tightened the permissions of the data directory"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def loose_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose data directory held world-readable files before it started."""
    data = tmp_path_factory.mktemp("at-rest") / "data"
    (data / "recordings").mkdir(parents=True, mode=0o755)
    os.chmod(data, 0o755)
    os.chmod(data / "recordings", 0o755)
    old = data / "recordings" / "ses_old.wav"
    old.write_bytes(b"RIFF")
    old.chmod(0o644)
    (data / "parley.db").touch(mode=0o644)  # empty: SQLite makes a new database of it
    os.chmod(data / "parley.db", 0o644)
    server = start_server(data)
    yield server
    server.stop()


def test_looser_data_dir_is_tightened_at_start_with_one_warning(
    loose_server: ServerProcess,
) -> None:
    data = loose_server.data_dir
    assert mode(data) == 0o700
    assert mode(data / "recordings") == 0o700
    assert mode(data / "recordings" / "ses_old.wav") == 0o600
    assert mode(data / "parley.db") == 0o600
    warnings = [r for r in loose_server.log_records() if TIGHTENED in r["msg"]]
    assert len(warnings) == 1, warnings
    assert warnings[0]["level"] == "warning" and warnings[0]["count"] == 4


async def test_database_and_recordings_are_private(loose_server: ServerProcess) -> None:
    data = loose_server.data_dir
    client = ParleyClient(loose_server.url, loose_server.admin_key)
    agent = client.create_agent(
        name="Recorded", system_prompt="Answer briefly.", first_message="Hi.", record_audio=True
    )
    clip = read_wav(recording("cards-001").path)
    result = await call(loose_server.url, loose_server.admin_key, agent["id"], [clip])
    wav = data / "recordings" / f"{result.conversation_id}.wav"
    for _ in range(100):  # written as the session closes
        if wav.exists() and wav.stat().st_size > 44:
            break
        await asyncio.sleep(0.1)
    assert mode(wav) == 0o600
    assert mode(data / "recordings") == 0o700
    sqlite = [data / name for name in ("parley.db", "parley.db-wal", "parley.db-shm")]
    assert all(p.exists() for p in sqlite), list(data.iterdir())  # WAL mode: all three
    for path in [*sqlite, *data.glob("parley.db-journal")]:
        assert mode(path) == 0o600, path
    assert mode(data) == 0o700


def test_fresh_data_dir_is_private_without_a_warning(tmp_path: Path) -> None:
    data = tmp_path / "fresh" / "data"
    done = subprocess.run(
        [sys.executable, "-m", "parley.cli", "keys", "create", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PARLEY_LOG_JSON": "true"},
    )
    assert done.returncode == 0, done.stderr
    assert TIGHTENED not in done.stderr
    assert mode(data) == 0o700
    assert mode(data / "parley.db") == 0o600
    for sidecar in data.glob("parley.db-*"):
        assert mode(sidecar) == 0o600, sidecar
