"""Dedicated worker threads for blocking model calls."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class ModelWorker:
    """A named single-purpose thread pool; queue wait is measured for metrics.

    Each model gets its own workers so a long LLM answer never delays VAD or STT of
    another session, and the per-model thread count stays bounded on small machines.
    """

    def __init__(self, name: str, workers: int = 1) -> None:
        self.name = name
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"parley-{name}")
        self.last_queue_wait_ms = 0.0

    async def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in the pool without blocking the event loop."""
        queued = time.perf_counter()

        def timed() -> T:
            self.last_queue_wait_ms = (time.perf_counter() - queued) * 1000.0
            return fn()

        return await asyncio.get_running_loop().run_in_executor(self._pool, timed)

    def submit(self, fn: Callable[[], None]) -> None:
        """Start ``fn`` in the pool and return at once."""
        self._pool.submit(fn)

    def shutdown(self) -> None:
        """Stop accepting work; running calls finish."""
        self._pool.shutdown(wait=False, cancel_futures=True)
