"""A real web search server on this machine: searx 0.17.0 (from PyPI; the predecessor of
SearXNG, with the same ``/search?q=...&format=json`` API) searching a local corpus of pages
about invented facts, so tests of the search providers need no network::

    python -m parley.testing.search_server [--port 0]

It prints ``listening on http://127.0.0.1:PORT`` once it answers, then serves until stopped.

searx needs old Flask 1, so it gets its own virtual environment, installed once from PyPI
into ``PARLEY_SEARX_DIR`` (default ``~/.cache/parley/searx-0.17.0``; about 10 s with a warm
pip cache). Its engine is :mod:`parley.testing.searx_engine`, a SQLite FTS5 index of the
pages; a second engine, ``broken``, is off unless asked for and always fails.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import venv
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from parley.testing.processes import stop_process, wait_until_healthy
from parley.testing.server import free_port

READY_PREFIX = "listening on "
SEARX = "searx==0.17.0"
# searx 0.17.0 pins lxml 4.5, which has no wheel for Python 3.11 and does not build on it.
# These versions have wheels and keep the Flask 1 API searx uses; MarkupSafe 2.0.1 (the last
# with soft_unicode, which Jinja2 2.11 imports) is an sdist that falls back to pure Python
# where no compiler is found.
SEARX_DEPENDENCIES = (
    "flask==1.1.4",
    "werkzeug==1.0.1",
    "jinja2==2.11.3",
    "itsdangerous==1.1.0",
    "click==7.1.2",
    "markupsafe==2.0.1",
    "flask-babel==1.0.0",
    "babel==2.9.1",
    "lxml>=5,<7",
    "pygments>=2.15,<3",
    "python-dateutil>=2.8,<5",
    "pyyaml>=6,<7",
    "requests>=2.28,<3",
    "six>=1.16,<2",
)
# searx 0.17 calls Thread.isAlive(), removed in Python 3.9: alias it before searx starts.
_LAUNCH = (
    "import runpy, threading; threading.Thread.isAlive = threading.Thread.is_alive; "
    "runpy.run_module('searx.webapp', run_name='__main__')"
)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of the corpus."""

    url: str
    title: str
    body: str


CORPUS: tuple[Page, ...] = (
    Page(
        "https://zorbel.example/lighthouse",
        "The Zorbel Lighthouse",
        "The Zorbel lighthouse on Kettle Point was painted teal in 1931 by its keeper, "
        "Ansa Moreth. Its lamp can be seen 19 nautical miles out to sea.",
    ),
    Page(
        "https://zorbel.example/ferry",
        "Zorbel island ferry timetable",
        "The ferry from Quillport to Zorbel island leaves at 7:40 every morning and takes "
        "55 minutes. There is no ferry on Sundays in winter.",
    ),
    Page(
        "https://brindlewick.example/bakery",
        "Brindlewick Bakery",
        "Brindlewick Bakery on Tallow Lane sells a cardamom knot for 3.20 crowns. "
        "The bakery is closed on Tuesdays.",
    ),
    Page(
        "https://ostravel.example/festival",
        "Ostravel River Lantern Festival",
        "The Ostravel lantern festival is held on the second Saturday of June; about 4,000 "
        "paper lantern boats float down the river at dusk.",
    ),
    Page(
        "https://harrowgate.example/observatory",
        "Mount Harrowgate Observatory",
        "The observatory on Mount Harrowgate houses a telescope called Old Perrin, whose "
        "mirror is 2.4 metres wide. Public nights are on Fridays.",
    ),
)


@dataclass(frozen=True, slots=True)
class SearchServer:
    """A running search server."""

    base_url: str
    pid: int


def searx_home() -> Path:
    """Where searx's virtual environment is kept (``PARLEY_SEARX_DIR`` wins)."""
    default = Path.home() / ".cache/parley/searx-0.17.0"
    return Path(os.environ.get("PARLEY_SEARX_DIR") or default)


def install_searx(home: Path | None = None) -> Path:
    """Install searx into a virtual environment under ``home`` unless it is there;
    returns its Python. Safe to call from several processes at once."""
    home = home or searx_home()
    home.mkdir(parents=True, exist_ok=True)
    python = home / "venv/bin/python"
    marker = home / "installed.json"
    wanted = json.dumps([SEARX, *SEARX_DEPENDENCIES])
    with (home / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if python.exists() and marker.exists() and marker.read_text() == wanted:
            return python
        marker.unlink(missing_ok=True)
        shutil.rmtree(home / "venv", ignore_errors=True)
        venv.EnvBuilder(with_pip=True).create(home / "venv")
        pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--quiet"]
        _run([*pip, "--only-binary=:all:", "--no-binary=markupsafe", *SEARX_DEPENDENCIES])
        _run([*pip, "--no-deps", SEARX])
        marker.write_text(wanted)
    return python


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {(done.stdout + done.stderr)[-3000:]}")


def _engines_dir(python: Path) -> Path:
    found = sorted(python.parent.parent.glob("lib/python*/site-packages/searx/engines"))
    if not found:
        raise RuntimeError(f"searx is not installed beside {python}")
    return found[0]


def build_index(pages: Iterable[Page], path: Path) -> None:
    """Write the SQLite FTS5 index of ``pages`` that the searx engine reads."""
    path.unlink(missing_ok=True)
    connection = sqlite3.connect(path)
    try:
        connection.execute("CREATE VIRTUAL TABLE pages USING fts5(url UNINDEXED, title, body)")
        connection.executemany(
            "INSERT INTO pages VALUES (?, ?, ?)", [(p.url, p.title, p.body) for p in pages]
        )
        connection.commit()
    finally:
        connection.close()


def searx_settings(port: int, index: Path) -> dict[str, object]:
    """searx's settings.yml (as JSON, which YAML reads): local engines only."""
    engine = {"engine": "parley_corpus", "timeout": 3.0}
    return {
        "general": {"debug": False, "instance_name": "parley-test"},
        "search": {
            "safe_search": 0,
            "autocomplete": "",
            "default_lang": "",
            "ban_time_on_fail": 5,
            "max_ban_time_on_fail": 120,
        },
        "server": {
            "port": port,
            "bind_address": "127.0.0.1",
            "secret_key": secrets.token_hex(16),
            "base_url": False,
            "image_proxy": False,
            "http_protocol_version": "1.0",
        },
        "ui": {
            "static_path": "",
            "templates_path": "",
            "default_theme": "oscar",
            "default_locale": "",
            "theme_args": {"oscar_style": "logicodev"},
        },
        "outgoing": {
            "request_timeout": 3.0,
            "useragent_suffix": "",
            "pool_connections": 10,
            "pool_maxsize": 10,
        },
        "engines": [
            {**engine, "name": "corpus", "shortcut": "co", "database": str(index)},
            {
                **engine,
                "name": "broken",
                "shortcut": "br",
                "disabled": True,
                "database": str(index.with_name("missing.sqlite")),
            },
        ],
        "locales": {"en": "English"},
        "doi_resolvers": {"oadoi.org": "https://oadoi.org/"},
        "default_doi_resolver": "oadoi.org",
    }


@contextmanager
def running_search_server(
    pages: Iterable[Page] = CORPUS,
    *,
    port: int = 0,
    home: Path | None = None,
    timeout_s: float = 60.0,
) -> Iterator[SearchServer]:
    """Install searx if needed, index ``pages``, start it on 127.0.0.1 (``port`` 0: a free
    one) and yield it; stops it on exit."""
    python = install_searx(home)
    shutil.copyfile(
        Path(__file__).with_name("searx_engine.py"), _engines_dir(python) / "parley_corpus.py"
    )
    with tempfile.TemporaryDirectory(prefix="parley-searx-") as tmp:
        index = Path(tmp) / "index.sqlite"
        build_index(pages, index)
        port = port or free_port()
        settings = Path(tmp) / "settings.yml"
        settings.write_text(json.dumps(searx_settings(port, index), indent=1))
        log = Path(tmp) / "searx.log"
        env = {**os.environ, "SEARX_SETTINGS_PATH": str(settings), "SEARX_DEBUG": "0"}
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(python), "-c", _LAUNCH], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(
                process,
                f"{url}/config",
                timeout_s=timeout_s,
                details=lambda: log.read_text(errors="replace")[-2000:],
            )
            yield SearchServer(url, process.pid)
        finally:
            stop_process(process, grace_s=10)


def main(argv: list[str] | None = None) -> int:
    """Run the server until stopped."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--install-only", action="store_true", help="install searx and exit")
    args = parser.parse_args(argv)
    if args.install_only:
        print(install_searx())
        return 0
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with running_search_server(port=args.port) as server:
        print(f"{READY_PREFIX}{server.base_url}", flush=True)
        with suppress(KeyboardInterrupt):
            stopped.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
