"""A real nginx (Debian's ``nginx``) on a free loopback port, with the ``server`` block a
test gives it: for model servers that misbehave in exact ways (an HTTP 500, a broken
event stream, HTML instead of audio), and later as a load balancer.

Tests that need it are skipped, saying so, when ``/usr/sbin/nginx`` is missing
(Debian/Ubuntu: ``apt-get install nginx``).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from parley.testing.server import free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
_CONFIG = """
daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location = /healthz {{ return 200 "ok"; }}
{locations}
    }}
}}
"""


def nginx_available() -> bool:
    """True if Debian's nginx is installed."""
    return Path(NGINX).is_file()


@contextmanager
def running_nginx(locations: str, timeout_s: float = 20.0) -> Iterator[str]:
    """Run nginx with ``locations`` (nginx ``location`` blocks) in its server block;
    yields its base URL (``http://127.0.0.1:PORT``)."""
    with tempfile.TemporaryDirectory(prefix="parley-nginx-") as tmp:
        port = free_port()
        config = Path(tmp) / "nginx.conf"
        config.write_text(_CONFIG.format(dir=tmp, port=port, locations=locations))
        process = subprocess.Popen(
            [NGINX, "-c", str(config), "-p", tmp], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                if process.poll() is not None:
                    error = process.stderr.read().decode() if process.stderr else ""
                    raise RuntimeError(f"nginx exited with {process.returncode}: {error}")
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("nginx did not start in time")
                time.sleep(0.05)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
