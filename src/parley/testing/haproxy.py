"""A real HAProxy (Debian's ``haproxy``) on a free loopback port in front of N backends:
the load balancer of the multi-replica tests and of ``parley bench cluster``.

The configuration has the shape of ``deploy/haproxy.cfg`` (docs/deployment.md) with fast
health checks: ``balance leastconn``, ``GET /healthz`` expecting 200 (a draining replica
answers 503 and leaves the pool within ``fall`` checks), WebSockets kept open for an hour
(``timeout tunnel``), and a request that failed to connect, got no answer or got a 503
(a draining replica refuses upgrades with 503) retried on another replica.

Tests that need it are skipped, saying so, when ``/usr/sbin/haproxy`` is missing
(Debian/Ubuntu: ``apt-get install haproxy``).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from parley.testing.processes import stop_process, wait_until_healthy
from parley.testing.server import free_port

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
MONITOR_URI = "/lb-healthz"
"""Answered 200 by HAProxy itself (not forwarded): HAProxy is up."""
BACKEND = "replicas"


@dataclass(frozen=True, slots=True)
class Timings:
    """Health-check and timeout settings (HAProxy time syntax, e.g. ``500ms``, ``1h``)."""

    inter: str = "500ms"
    fall: int = 2
    rise: int = 2
    connect: str = "2s"
    client: str = "30s"
    server: str = "30s"
    http_request: str = "10s"
    tunnel: str = "1h"
    retries: int = 3


FAST = Timings()
"""For tests: a replica that stops answering leaves the pool after about a second."""


def haproxy_available() -> bool:
    """True if Debian's haproxy is installed."""
    return Path(HAPROXY).is_file()


def backend_address(backend: str) -> str:
    """``host:port`` of a backend given as a URL (``http://127.0.0.1:8001``) or as is."""
    if "://" not in backend:
        return backend
    parsed = urlparse(backend)
    if not parsed.hostname or not parsed.port:
        raise ValueError(f"backend {backend!r} needs a host and a port")
    return f"{parsed.hostname}:{parsed.port}"


def haproxy_config(
    backends: Sequence[str],
    *,
    port: int,
    names: Sequence[str] | None = None,
    stats_socket: Path | None = None,
    timings: Timings = FAST,
) -> str:
    """The configuration text: one frontend on ``127.0.0.1:port``, one backend pool."""
    if not backends:
        raise ValueError("at least one backend is needed")
    names = list(names) if names is not None else [f"s{i + 1}" for i in range(len(backends))]
    if len(names) != len(backends) or len(set(names)) != len(names):
        raise ValueError("one distinct name per backend")
    t = timings
    stats = f"    stats socket {stats_socket} mode 600 level admin\n" if stats_socket else ""
    servers = "".join(
        f"    server {name} {backend_address(b)}\n" for name, b in zip(names, backends, strict=True)
    )
    return (
        "global\n"
        "    maxconn 2000\n"
        f"{stats}"
        "\n"
        "defaults\n"
        "    mode http\n"
        "    option forwardfor\n"
        f"    timeout connect {t.connect}\n"
        f"    timeout client {t.client}\n"
        f"    timeout server {t.server}\n"
        f"    timeout http-request {t.http_request}\n"
        f"    timeout tunnel {t.tunnel}\n"
        "    timeout client-fin 5s\n"
        "    timeout server-fin 5s\n"
        "    option redispatch 1\n"
        f"    retries {t.retries}\n"
        "    retry-on conn-failure empty-response 503\n"
        "\n"
        "frontend parley\n"
        f"    bind 127.0.0.1:{port}\n"
        f"    monitor-uri {MONITOR_URI}\n"
        f"    default_backend {BACKEND}\n"
        "\n"
        f"backend {BACKEND}\n"
        "    balance leastconn\n"
        "    option httpchk GET /healthz\n"
        "    http-check expect status 200\n"
        f"    default-server check inter {t.inter} fall {t.fall} rise {t.rise}\n"
        f"{servers}"
    )


def check_config(path: Path) -> subprocess.CompletedProcess[str]:
    """``haproxy -c -f path``: HAProxy's own check of a configuration file."""
    return subprocess.run(
        [HAPROXY, "-c", "-f", str(path)], capture_output=True, text=True, timeout=30
    )


@dataclass
class HAProxyProcess:
    """A started HAProxy: its URL, process, folder (config, log, admin socket)."""

    url: str
    process: subprocess.Popen[bytes]
    folder: Path

    @property
    def log(self) -> Path:
        """HAProxy's stderr: alerts and warnings, e.g. a server going DOWN."""
        return self.folder / "haproxy.log"

    def server_states(self) -> dict[str, str]:
        """Each backend server's status as HAProxy sees it: ``UP``, ``DOWN``,
        ``UP 1/2`` (going down), ``DOWN 1/2`` (coming up), ``MAINT``..."""
        states = {}
        for line in self._admin("show stat").splitlines():
            if line.startswith("#") or not line:
                continue
            cols = line.split(",")
            if cols[0] == BACKEND and cols[1] not in ("FRONTEND", "BACKEND"):
                states[cols[1]] = cols[17]
        return states

    def wait_for_state(self, name: str, state: str, timeout_s: float = 30.0) -> None:
        """Wait until server ``name`` is in ``state`` (``UP`` or ``DOWN``)."""
        deadline = time.monotonic() + timeout_s
        while (seen := self.server_states().get(name)) != state:
            if time.monotonic() > deadline:
                raise TimeoutError(f"haproxy server {name} is {seen!r}, not {state!r}")
            time.sleep(0.1)

    def _admin(self, command: str) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(str(self.folder / "admin.sock"))
            s.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()


@contextmanager
def running_haproxy_process(
    backends: Sequence[str],
    *,
    names: Sequence[str] | None = None,
    timings: Timings = FAST,
    timeout_s: float = 20.0,
) -> Iterator[HAProxyProcess]:
    """Run HAProxy in the foreground (``-db``) in front of ``backends`` (URLs or
    ``host:port``; servers named ``names``, default ``s1..sN``); stopped by PID, its
    folder removed."""
    with tempfile.TemporaryDirectory(prefix="parley-haproxy-") as tmp:
        folder = Path(tmp)
        port = free_port()
        config = folder / "haproxy.cfg"
        config.write_text(
            haproxy_config(
                backends,
                port=port,
                names=names,
                stats_socket=folder / "admin.sock",
                timings=timings,
            )
        )
        with (folder / "haproxy.log").open("wb") as log:
            process = subprocess.Popen(
                [HAPROXY, "-db", "-f", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        url = f"http://127.0.0.1:{port}"
        proxy = HAProxyProcess(url, process, folder)
        try:
            wait_until_healthy(
                process,
                url + MONITOR_URI,
                timeout_s=timeout_s,
                details=lambda: proxy.log.read_text()[-3000:],
            )
            yield proxy
        finally:
            stop_process(process, grace_s=10)


@contextmanager
def running_haproxy(backends: list[str]) -> Iterator[str]:
    """Run HAProxy in front of ``backends``; yields its base URL (``http://127.0.0.1:PORT``)."""
    with running_haproxy_process(backends) as proxy:
        yield proxy.url
