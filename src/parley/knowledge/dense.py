"""In-memory dense (embedding) search per knowledge base, and a byte-bounded cache of them.

``DenseIndex`` holds one knowledge base's chunk ids and their normalised vectors; a
search is one matrix-vector product and an ``argpartition``. ``DenseCache`` keeps the
indexes of recently used knowledge bases, keyed by ``(kb_id, version)`` so that a new
version (after an ingest or a delete) replaces the old, and loads each key once even
when many turns ask for it at the same moment.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable

import numpy as np
import numpy.typing as npt

from parley.knowledge.embedding import DIM

DEFAULT_CACHE_BYTES = 256 * 1024 * 1024


class DenseIndex:
    """Chunk ids and their (n, 384) float32 vectors, searched by cosine similarity."""

    def __init__(self, ids: npt.ArrayLike, matrix: npt.ArrayLike) -> None:
        self.ids = np.ascontiguousarray(ids, dtype=np.int64).reshape(-1)
        self.matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        if self.matrix.size == 0:
            self.matrix = self.matrix.reshape(0, DIM)
        if self.matrix.ndim != 2 or self.matrix.shape[1] != DIM:
            raise ValueError(f"expected an (n, {DIM}) matrix, got {self.matrix.shape}")
        if self.matrix.shape[0] != self.ids.shape[0]:
            raise ValueError(f"{self.ids.shape[0]} ids for {self.matrix.shape[0]} vectors")

    @classmethod
    def empty(cls) -> DenseIndex:
        return cls(np.zeros(0, np.int64), np.zeros((0, DIM), np.float32))

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def nbytes(self) -> int:
        return int(self.ids.nbytes + self.matrix.nbytes)

    def search(self, query: npt.ArrayLike, k: int) -> list[tuple[int, float]]:
        """The ``k`` best (chunk id, cosine score) pairs, best first."""
        n = len(self)
        if k <= 0 or n == 0:
            return []
        q = np.asarray(query, dtype=np.float32).reshape(DIM)
        scores = self.matrix @ q
        if k < n:
            top = np.argpartition(-scores, k - 1)[:k]
            top = top[np.argsort(-scores[top], kind="stable")]
        else:
            top = np.argsort(-scores, kind="stable")
        return [(int(self.ids[i]), float(scores[i])) for i in top]


Loader = Callable[[str], Awaitable[DenseIndex]]


class DenseCache:
    """LRU of ``DenseIndex`` by ``(kb_id, version)``, bounded by their total bytes.

    ``version`` is whatever changes when a knowledge base's chunks change (a counter or
    timestamp); getting a newer version drops the older ones. An index larger than the
    whole budget is returned but not kept. Concurrent ``get`` calls for the same key
    share one load; a failed load is not cached.
    """

    def __init__(self, loader: Loader, *, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self._loader = loader
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, Hashable], DenseIndex] = OrderedDict()
        self._loading: dict[tuple[str, Hashable], asyncio.Future[DenseIndex]] = {}
        self.bytes = 0
        self.loads = 0

    def __contains__(self, key: tuple[str, Hashable]) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, kb_id: str, version: Hashable) -> DenseIndex:
        """The index of ``kb_id`` at ``version``, loading it if needed."""
        key = (kb_id, version)
        index = self._entries.get(key)
        if index is not None:
            self._entries.move_to_end(key)
            return index
        pending = self._loading.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._load(key))
            self._loading[key] = pending
            pending.add_done_callback(lambda done: self._settled(key, done))
        # shielded: a caller that gives up does not cancel the load others wait on
        return await asyncio.shield(pending)

    def _settled(self, key: tuple[str, Hashable], done: asyncio.Future[DenseIndex]) -> None:
        self._loading.pop(key, None)
        if not done.cancelled():
            done.exception()  # retrieved here, so an error nobody awaited is not logged

    async def _load(self, key: tuple[str, Hashable]) -> DenseIndex:
        self.loads += 1
        index = await self._loader(key[0])
        self.invalidate(key[0])  # older versions of this knowledge base
        if index.nbytes <= self.max_bytes:
            self._entries[key] = index
            self.bytes += index.nbytes
            self._evict()
        return index

    def invalidate(self, kb_id: str) -> None:
        """Forget every cached version of ``kb_id`` (e.g. when it is deleted)."""
        for key in [key for key in self._entries if key[0] == kb_id]:
            self.bytes -= self._entries.pop(key).nbytes

    def _evict(self) -> None:
        while self.bytes > self.max_bytes and self._entries:
            _key, index = self._entries.popitem(last=False)
            self.bytes -= index.nbytes
