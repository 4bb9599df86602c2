"""The HAProxy helper and deploy/haproxy.cfg: HAProxy's own check accepts both, and a real
HAProxy in front of two small real HTTP servers routes, retries and checks health as the
multi-replica tests rely on (loopback only, a second or two)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from parley.testing.haproxy import (
    backend_address,
    check_config,
    haproxy_available,
    haproxy_config,
    running_haproxy,
    running_haproxy_process,
)
from parley.testing.postgres import services_required

ROOT = Path(__file__).resolve().parents[2]

needs_haproxy = pytest.mark.skipif(
    not haproxy_available() and not services_required(),
    reason="needs HAProxy (Debian/Ubuntu: apt-get install haproxy)",
)


def test_config_has_the_load_balancing_the_cluster_needs() -> None:
    text = haproxy_config(["http://127.0.0.1:8001", "127.0.0.1:8002"], port=9000, names=["a", "b"])
    lines = [line.strip() for line in text.splitlines()]
    for wanted in (
        "mode http",
        "bind 127.0.0.1:9000",
        "balance leastconn",
        "option httpchk GET /healthz",
        "http-check expect status 200",
        "default-server check inter 500ms fall 2 rise 2",
        "timeout tunnel 1h",
        "option redispatch 1",
        "retries 3",
        "retry-on conn-failure empty-response 503",
        "server a 127.0.0.1:8001",
        "server b 127.0.0.1:8002",
    ):
        assert wanted in lines, wanted


def test_config_refuses_bad_backends() -> None:
    with pytest.raises(ValueError):
        haproxy_config([], port=9000)
    with pytest.raises(ValueError):
        haproxy_config(["127.0.0.1:1", "127.0.0.1:2"], port=9000, names=["a", "a"])
    with pytest.raises(ValueError):
        backend_address("http://127.0.0.1")


@needs_haproxy
def test_haproxy_accepts_the_generated_config(tmp_path: Path) -> None:
    config = tmp_path / "haproxy.cfg"
    config.write_text(
        haproxy_config(["127.0.0.1:8001"], port=9000, stats_socket=tmp_path / "admin.sock")
    )
    result = check_config(config)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_haproxy
def test_haproxy_accepts_the_deployment_config() -> None:
    result = check_config(ROOT / "deploy" / "haproxy.cfg")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ALERT" not in result.stdout + result.stderr


class _Backend:
    """A tiny real HTTP server: /healthz answers ``health``, other paths ``status`` and
    its name."""

    def __init__(self, name: str) -> None:
        self.name, self.health, self.status = name, 200, 200
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                code = backend.health if self.path == "/healthz" else backend.status
                body = backend.name.encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@contextmanager
def _backends(*names: str) -> Iterator[list[_Backend]]:
    backends = [_Backend(n) for n in names]
    threads = [threading.Thread(target=b.server.serve_forever, daemon=True) for b in backends]
    for t in threads:
        t.start()
    try:
        yield backends
    finally:
        for b in backends:
            b.server.shutdown()
            b.server.server_close()


@needs_haproxy
def test_a_503_is_retried_on_the_other_replica_and_a_failing_health_check_removes_one() -> None:
    with _backends("a", "b") as (a, b), running_haproxy_process([a.url, b.url]) as proxy:
        # b is healthy but refuses requests with 503, as a draining replica refuses upgrades
        b.status = 503
        with httpx.Client(base_url=proxy.url, timeout=10) as http:
            answers = {http.get("/x").text for _ in range(8)}
            assert answers == {"a"}
            # b's health check fails (draining): HAProxy takes it out of the pool
            b.health = 503
            proxy.wait_for_state("s2", "DOWN")
            assert proxy.server_states() == {"s1": "UP", "s2": "DOWN"}
            # and back in when it answers 200 again
            b.health, b.status = 200, 200
            proxy.wait_for_state("s2", "UP")
            assert {http.get("/x").text for _ in range(8)} == {"a", "b"}
        assert http.is_closed


@needs_haproxy
def test_running_haproxy_yields_its_url_and_stops() -> None:
    with _backends("a") as (a,), running_haproxy([a.url]) as url:
        assert httpx.get(f"{url}/anything", timeout=10).text == "a"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/anything", timeout=2)
