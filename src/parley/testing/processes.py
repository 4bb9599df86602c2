"""Child processes of tests and benchmarks: wait until one is healthy, stop it for sure."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import Any

import httpx


def wait_until_healthy(
    process: subprocess.Popen[Any],
    health_url: str,
    *,
    timeout_s: float,
    details: Callable[[], str] = lambda: "",
    poll_s: float = 0.1,
) -> None:
    """Poll ``health_url`` until it answers 200. Raises :class:`RuntimeError` (ending with
    ``details()``, e.g. the log's tail) if the process exits first or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}: {details()}")
        try:
            if httpx.get(health_url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{health_url} not healthy after {timeout_s:g} s: {details()}")
        time.sleep(poll_s)


def stop_process(process: subprocess.Popen[Any], grace_s: float = 20.0) -> None:
    """Terminate ``process``, and kill it if it has not exited after ``grace_s``."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
