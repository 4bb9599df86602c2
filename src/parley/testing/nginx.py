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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from parley.testing.processes import stop_process, wait_until_healthy
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

        def errors() -> str:
            return (
                process.stderr.read().decode()
                if process.stderr and process.poll() is not None
                else ""
            )

        try:
            wait_until_healthy(process, f"{url}/healthz", timeout_s=timeout_s, details=errors)
            yield url
        finally:
            stop_process(process, grace_s=10)
