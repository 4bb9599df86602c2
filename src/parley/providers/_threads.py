"""Dedicated worker threads for blocking model calls."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class ModelWorker:
    """A named single-purpose thread pool.

    Each model gets its own workers so a long LLM answer never delays VAD or STT of
    another session, and the per-model thread count stays bounded on small machines.
    """

    def __init__(self, name: str, workers: int = 1) -> None:
        self.name = name
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"parley-{name}")

    async def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in the pool without blocking the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn)

    def submit(self, fn: Callable[[], None]) -> None:
        """Start ``fn`` in the pool and return at once."""
        self._pool.submit(fn)

    def shutdown(self) -> None:
        """Stop accepting work; running calls finish."""
        self._pool.shutdown(wait=False, cancel_futures=True)
