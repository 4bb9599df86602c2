"""Private data at rest: folders 0700 and files 0600 whatever the umask; looser ones
are tightened with one warning."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from parley.observability.recording import SessionRecorder
from parley.storage.db import run_migrations
from parley.storage.permissions import (
    open_private,
    private_dir,
    private_sqlite_file,
    secure_data_dir,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask: every mode comes from the code, not the umask."""
    old = os.umask(0)
    yield
    os.umask(old)


def test_private_dir_creates_0700_and_tightens(tmp_path: Path, open_umask: None) -> None:
    made = tmp_path / "a" / "b"
    assert private_dir(made) is False
    assert mode(made) == 0o700
    made.chmod(0o755)
    assert private_dir(made) is True
    assert mode(made) == 0o700


def test_open_private_creates_and_tightens_0600(tmp_path: Path, open_umask: None) -> None:
    path = tmp_path / "x.wav"
    with open_private(path) as f:
        f.write(b"one")
    assert mode(path) == 0o600
    path.chmod(0o666)
    with open_private(path) as f:
        f.write(b"two")
    assert mode(path) == 0o600 and path.read_bytes() == b"two"


def test_open_private_does_not_follow_a_link(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_bytes(b"keep")
    (tmp_path / "link.wav").symlink_to(target)
    with pytest.raises(OSError):
        open_private(tmp_path / "link.wav")
    assert target.read_bytes() == b"keep"


def test_sqlite_database_and_sidecars_are_0600(tmp_path: Path, open_umask: None) -> None:
    database = tmp_path / "db" / "parley.db"
    run_migrations(f"sqlite+aiosqlite:///{database}")
    assert mode(database.parent) == 0o700
    assert mode(database) == 0o600
    wal = database.with_name("parley.db-wal")
    wal.touch()
    wal.chmod(0o644)
    assert private_sqlite_file(database) == [wal]
    assert mode(wal) == 0o600


def test_recorder_writes_a_private_wav(tmp_path: Path, open_umask: None) -> None:
    recorder = SessionRecorder(0.0)
    recorder.user_audio(bytes(640), 0.02)
    path = recorder.save(tmp_path / "recordings" / "ses_1.wav")
    assert mode(path) == 0o600 and mode(path.parent) == 0o700


def test_secure_data_dir_warns_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = tmp_path / "data"
    assert secure_data_dir(data) == [] and mode(data) == 0o700
    (data / "recordings").mkdir()
    (data / "recordings" / "a.wav").write_bytes(b"")
    (data / "parley.db").write_bytes(b"")
    (data / "parley.db-shm").write_bytes(b"")
    (data / "notes.txt").write_bytes(b"")  # not Parley's: left alone
    for path in [data, *data.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    with caplog.at_level(logging.WARNING, "parley.storage.permissions"):
        tightened = secure_data_dir(data)
        assert secure_data_dir(data) == []
    assert len(tightened) == 5
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert mode(data) == mode(data / "recordings") == 0o700
    for name in ("recordings/a.wav", "parley.db", "parley.db-shm"):
        assert mode(data / name) == 0o600
    assert mode(data / "notes.txt") == 0o644
