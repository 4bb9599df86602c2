"""Dedicated worker threads for blocking model calls."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar, TypeVar

T = TypeVar("T")


WaitObserver = Callable[[str, float], None]


class ModelWorker:
    """A named single-purpose thread pool.

    Each model gets its own workers so a long LLM answer never delays VAD or STT of
    another session, and the per-model thread count stays bounded on small machines.
    """

    wait_observers: ClassVar[list[WaitObserver]] = []
    """Called with (model name, seconds queued) for every call (metrics)."""

    def __init__(self, name: str, workers: int = 1) -> None:
        self.name = name
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"parley-{name}")

    async def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in the pool without blocking the event loop."""
        queued = time.perf_counter()

        def timed() -> T:
            self._waited(time.perf_counter() - queued)
            return fn()

        return await asyncio.get_running_loop().run_in_executor(self._pool, timed)

    def _waited(self, seconds: float) -> None:
        for observe in self.wait_observers:
            observe(self.name, seconds)

    def submit(self, fn: Callable[[], None]) -> None:
        """Start ``fn`` in the pool and return at once."""
        queued = time.perf_counter()

        def timed() -> None:
            self._waited(time.perf_counter() - queued)
            fn()

        self._pool.submit(timed)

    def shutdown(self) -> None:
        """Stop accepting work; running calls finish."""
        self._pool.shutdown(wait=False, cancel_futures=True)
