"""Hybrid retrieval over knowledge bases: full-text (SQLite FTS5, BM25) and dense
(multilingual-e5-small embeddings, cosine) rankings fused by reciprocal rank.

The question is embedded while the full-text query runs; each knowledge base's dense
index is kept in memory (bounded, keyed by the base's version, so a changed base is
reloaded on its next search).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from parley.core.events import Citation
from parley.knowledge.dense import DenseCache, DenseIndex
from parley.knowledge.embedding import Embedder, matrix_from_blobs
from parley.knowledge.fusion import fts_query, fuse
from parley.storage.knowledge import KnowledgeRepository

CANDIDATES = 50
"""How many chunks each ranking contributes to the fusion."""


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrieved chunk: where it comes from, its text, its fused score (reciprocal
    rank) and its cosine similarity to the question."""

    chunk_id: int
    document_id: str
    knowledge_base_id: str
    title: str
    heading: str
    text: str
    score: float
    similarity: float
    text_match: bool
    """The full-text search found it too."""

    def citation(self) -> Citation:
        """How a turn cites it."""
        return Citation(
            self.chunk_id,
            self.document_id,
            self.knowledge_base_id,
            self.title,
            self.heading,
            round(self.score, 5),
        )


@dataclass(frozen=True, slots=True)
class Found:
    """The passages of one search and how long it took."""

    passages: list[Passage]
    took_ms: float


class Retriever:
    """Searches knowledge bases (shared by every session of a server)."""

    def __init__(
        self, repo: KnowledgeRepository, embedder: Embedder, cache: DenseCache | None = None
    ) -> None:
        self._repo, self._embedder = repo, embedder
        self._cache = cache or DenseCache(self._load)

    async def _load(self, kb_id: str) -> DenseIndex:
        ids, vectors = await self._repo.embeddings(kb_id)
        if not ids:
            return DenseIndex.empty()
        return DenseIndex(np.asarray(ids, np.int64), matrix_from_blobs(vectors))

    async def search(self, kb_ids: Sequence[str], question: str, k: int = 5) -> Found:
        """The ``k`` best passages of ``kb_ids`` for ``question``."""
        started = time.perf_counter()
        versions = await self._repo.versions(kb_ids)
        if not versions or not question.strip():
            return Found([], 0.0)
        embedding = asyncio.ensure_future(self._embedder.query(question))
        try:
            match = fts_query(question)
            texts = await self._repo.full_text(list(versions), match, CANDIDATES) if match else []
            q = await embedding
        finally:
            embedding.cancel()
        similarity: dict[int, float] = {}
        for kb_id, version in versions.items():
            index = await self._cache.get(kb_id, version)
            similarity.update(index.search(q, CANDIDATES))
        dense = sorted(similarity, key=lambda c: -similarity[c])[:CANDIDATES]
        fused = fuse([texts, dense], limit=k)
        chunks = await self._repo.chunks([c for c, _ in fused])
        matched = set(texts)
        passages = [
            Passage(
                c.id,
                c.document_id,
                c.knowledge_base_id,
                c.title,
                c.heading,
                c.text,
                score,
                similarity.get(c.id, 0.0),
                c.id in matched,
            )
            for chunk_id, score in fused
            if (c := chunks.get(chunk_id)) is not None
        ]
        return Found(passages, round((time.perf_counter() - started) * 1000.0, 2))
