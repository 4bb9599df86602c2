"""Giving memory back to the operating system once sessions end.

A session's audio, features and tensors are allocated by many threads (the event loop,
the model workers, onnxruntime's and CTranslate2's own). glibc gives each thread an
arena and keeps what is freed there for reuse instead of returning it, so without help
the resident size after a burst of calls stays near the burst's peak. glibc's
``malloc_trim(0)`` hands the free pages of every arena back (measured: 0.3-4 ms on a
1.3 GB server, and ~60 MB returned after three bursts of four calls).

:func:`release_after_session` asks for one trim after a session has ended: at most one
every :data:`TRIM_INTERVAL_S`, in a worker thread (never on the event loop), with the
requests in between folded into one run at the end of the interval, so a burst of
sessions ending together costs one trim. Where there is no glibc (macOS, musl) it does
nothing.

Capping the number of arenas (``MALLOC_ARENA_MAX=2`` in the service's environment) is
another option; it must be set before the process starts, so Parley leaves it to the
deployment (docs/security.md, "Memory").
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import math
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)

TRIM_INTERVAL_S = 5.0
"""Least time between two trims."""


def _find_malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library this process runs on
    except (OSError, AttributeError):  # musl: no malloc_trim
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_MALLOC_TRIM = _find_malloc_trim()


def release_free_memory() -> bool:
    """Return the C heap's free pages to the OS now (blocking, a few ms). True if the
    C library could do it."""
    if _MALLOC_TRIM is None:
        return False
    _MALLOC_TRIM(0)
    return True


class MemoryReleaser:
    """Runs ``release`` after sessions end, throttled and off the event loop."""

    def __init__(
        self,
        interval_s: float = TRIM_INTERVAL_S,
        release: Callable[[], bool] = release_free_memory,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval_s = interval_s
        self._release, self._clock = release, clock
        self._last = -math.inf
        self._scheduled_on: asyncio.AbstractEventLoop | None = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parley-memory")
        self.runs = 0
        """How many releases ran (for tests)."""

    def request(self) -> None:
        """Ask for a release soon; call from the event loop. A release already scheduled
        on this loop covers the request."""
        loop = asyncio.get_running_loop()
        if self._scheduled_on is loop:
            return
        self._scheduled_on = loop
        delay = max(0.0, self._last + self.interval_s - self._clock())
        loop.call_later(delay, self._start)

    def _start(self) -> None:
        self._scheduled_on = None
        self._last = self._clock()
        self._worker.submit(self._run)

    def _run(self) -> None:
        try:
            self._release()
            self.runs += 1
        except Exception:  # pragma: no cover - a failed trim must not hurt anyone
            log.exception("releasing free memory failed")

    def close(self) -> None:
        """Stop the worker thread (a release in progress finishes)."""
        with contextlib.suppress(RuntimeError):
            self._worker.shutdown(wait=False, cancel_futures=True)


RELEASER = MemoryReleaser()
"""The process's releaser."""


def release_after_session() -> None:
    """A session has ended: give its memory back soon (see the module docstring)."""
    RELEASER.request()
