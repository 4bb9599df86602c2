"""The dense index (exact cosine top-k) and its byte-bounded, load-coalescing cache."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from parley.knowledge.dense import DenseCache, DenseIndex
from parley.knowledge.embedding import DIM


def random_index(n: int, seed: int = 0, first_id: int = 1) -> DenseIndex:
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((n, DIM)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return DenseIndex(np.arange(first_id, first_id + n), matrix)


def test_search_matches_a_full_sort() -> None:
    index = random_index(2000)
    query = index.matrix[17] + 0.1 * index.matrix[400]
    query /= np.linalg.norm(query)
    got = index.search(query, 5)
    scores = index.matrix @ query
    expected = [int(index.ids[i]) for i in np.argsort(-scores)[:5]]
    assert [chunk_id for chunk_id, _ in got] == expected
    assert got[0][0] == 18  # ids start at 1
    assert got[0][1] == pytest.approx(float(scores[17]))
    assert [s for _, s in got] == sorted((s for _, s in got), reverse=True)


def test_k_larger_than_the_index_and_empty_index() -> None:
    index = random_index(3)
    assert len(index.search(index.matrix[0], 10)) == 3
    assert DenseIndex.empty().search(index.matrix[0], 5) == []
    assert index.search(index.matrix[0], 0) == []


def test_shapes_are_checked() -> None:
    with pytest.raises(ValueError, match="384"):
        DenseIndex(np.arange(2), np.zeros((2, 10), np.float32))
    with pytest.raises(ValueError, match="3 ids for 2 vectors"):
        DenseIndex(np.arange(3), np.zeros((2, DIM), np.float32))


async def test_cache_is_lru_bounded_by_bytes() -> None:
    size = random_index(100).nbytes
    loaded: list[str] = []

    async def load(kb_id: str) -> DenseIndex:
        loaded.append(kb_id)
        return random_index(100)

    cache = DenseCache(load, max_bytes=size * 2)
    await cache.get("kb_a", 1)
    await cache.get("kb_b", 1)
    await cache.get("kb_a", 1)  # a is now the most recent
    await cache.get("kb_c", 1)  # evicts b
    assert ("kb_a", 1) in cache and ("kb_c", 1) in cache and ("kb_b", 1) not in cache
    assert cache.bytes == size * 2 <= cache.max_bytes
    assert loaded == ["kb_a", "kb_b", "kb_c"]


async def test_a_new_version_replaces_the_old_and_invalidate_forgets() -> None:
    async def load(kb_id: str) -> DenseIndex:
        return random_index(10)

    cache = DenseCache(load)
    await cache.get("kb_a", 1)
    await cache.get("kb_a", 2)
    assert len(cache) == 1 and ("kb_a", 2) in cache
    cache.invalidate("kb_a")
    assert len(cache) == 0 and cache.bytes == 0


async def test_an_index_over_the_budget_is_served_but_not_kept() -> None:
    async def load(kb_id: str) -> DenseIndex:
        return random_index(100)

    cache = DenseCache(load, max_bytes=1000)
    assert len(await cache.get("kb_big", 1)) == 100
    assert len(cache) == 0


async def test_concurrent_gets_share_one_load() -> None:
    release = asyncio.Event()
    calls = 0

    async def load(kb_id: str) -> DenseIndex:
        nonlocal calls
        calls += 1
        await release.wait()
        return random_index(5)

    cache = DenseCache(load)
    waiters = [asyncio.create_task(cache.get("kb_a", 7)) for _ in range(10)]
    await asyncio.sleep(0)
    waiters[0].cancel()  # one caller giving up does not cancel the others' load
    release.set()
    results = await asyncio.gather(*waiters[1:])
    assert calls == 1 and cache.loads == 1
    assert all(r is results[0] for r in results)


async def test_a_failed_load_is_not_cached() -> None:
    attempts = 0

    async def load(kb_id: str) -> DenseIndex:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise RuntimeError("database is locked")
        return random_index(5)

    cache = DenseCache(load)
    with pytest.raises(RuntimeError, match="database is locked"):
        await cache.get("kb_a", 1)
    assert len(await cache.get("kb_a", 1)) == 5
    assert attempts == 2
