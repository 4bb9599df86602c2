"""Data at rest is the server user's alone: the data directory (and its ``recordings``
folder) mode 0700, the SQLite database, its ``-wal``/``-shm``/``-journal`` files and the
recordings 0600, whatever the process umask.

New files and folders are created with these modes. Ones left looser by an earlier
version, a copy or a restore are tightened when the server starts, with one warning.
SQLite creates its ``-wal``, ``-shm`` and ``-journal`` files with the database file's
own mode, so a 0600 database keeps them 0600 too.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")
"""The database file and the files SQLite keeps beside it."""
RECORDINGS = "recordings"
DATABASE = "parley.db"


def _tighten(path: Path, allowed: int) -> bool:
    """Drop the mode bits of ``path`` outside ``allowed``; True if there were any.
    Symbolic links and missing paths are left alone."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(info.st_mode):
        return False
    mode = stat.S_IMODE(info.st_mode)
    if not mode & ~allowed:
        return False
    os.chmod(path, mode & allowed)
    return True


def private_dir(path: Path) -> bool:
    """Create ``path`` (and missing parents) mode 0700, or tighten it; True if an
    existing folder was looser."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
    return _tighten(path, PRIVATE_DIR_MODE)


def open_private(path: Path) -> BinaryIO:
    """Open ``path`` for writing, created or truncated, mode 0600 (an existing file's
    mode is tightened too). Does not follow a symbolic link."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


def private_sqlite_file(database: Path) -> list[Path]:
    """Create the database file 0600 if it is missing (before SQLite does, with 0644),
    and tighten it and its sidecar files; returns those that were looser."""
    if not database.exists():
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE_MODE))
    sidecars = [database.with_name(database.name + suffix) for suffix in SQLITE_SUFFIXES]
    return [p for p in sidecars if _tighten(p, PRIVATE_FILE_MODE)]


def secure_data_dir(data_dir: Path) -> list[Path]:
    """Create the data directory 0700, or tighten it, its recordings and its database
    files; logs one warning naming how many paths were looser. Returns those paths."""
    tightened: list[Path] = []
    if private_dir(data_dir):
        tightened.append(data_dir)
    recordings = data_dir / RECORDINGS
    if recordings.is_dir():
        if private_dir(recordings):
            tightened.append(recordings)
        tightened += [p for p in recordings.glob("*.wav") if _tighten(p, PRIVATE_FILE_MODE)]
    database = data_dir / DATABASE
    if database.exists():
        sidecars = [database.with_name(database.name + s) for s in SQLITE_SUFFIXES]
        tightened += [p for p in sidecars if _tighten(p, PRIVATE_FILE_MODE)]
    if tightened:
        log.warning(
            "tightened the permissions of the data directory: folders are now 0700 and "
            "the database and recordings 0600",
            extra={
                "data_dir": str(data_dir),
                "count": len(tightened),
                "paths": [str(p) for p in tightened[:10]],
            },
        )
    return tightened
