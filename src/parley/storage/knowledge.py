"""Stored knowledge bases, their documents and chunks: records and the repository.

A document is stored as ``processing`` when it is added; ingestion (in the background)
then either stores all its chunks and marks it ``ready`` in one transaction, or marks it
``failed`` with the reason. Nothing half-ingested is ever visible to retrieval.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, overload

from sqlalchemy import bindparam, delete, func, or_, select, text, update

from parley.errors import ValidationError
from parley.storage.db import Database
from parley.storage.ids import new_id
from parley.storage.models import (
    AgentRow,
    ChunkRow,
    DocumentRow,
    KnowledgeBaseRow,
    utcnow,
    without_nul,
)
from parley.storage.records import insert, page, record_of, rowcount


@dataclass(frozen=True, slots=True)
class KnowledgeBaseRecord:
    """A stored knowledge base and how much it holds."""

    id: str
    name: str
    description: str
    version: int
    created_at: datetime
    updated_at: datetime
    document_count: int = 0
    chunk_count: int = 0


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    """A stored document (its text lives only in its chunks)."""

    id: str
    knowledge_base_id: str
    title: str
    source: str
    filename: str | None
    url: str | None
    content_type: str | None
    size_bytes: int
    status: str
    error: str | None
    chunk_count: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class NewChunk:
    """A chunk to store: where it sits in its document, its text and embedding."""

    position: int
    heading: str
    text: str
    embedding: bytes


@dataclass(frozen=True, slots=True)
class StoredChunk:
    """A chunk as retrieval returns it, with its document's title."""

    id: int
    document_id: str
    knowledge_base_id: str
    title: str
    heading: str
    text: str


_SQLITE_SEARCH = text(
    "SELECT c.id FROM kb_chunks_fts f JOIN kb_chunks c ON c.id = f.rowid "
    "WHERE kb_chunks_fts MATCH :match AND c.knowledge_base_id IN :kbs "
    "ORDER BY bm25(kb_chunks_fts, 1.0, 0.5), c.id LIMIT :limit"
).bindparams(bindparam("kbs", expanding=True))
_POSTGRES_SEARCH = text(
    "SELECT c.id FROM kb_chunks c, websearch_to_tsquery('english', :match) q "
    "WHERE c.search_vector @@ q AND c.knowledge_base_id IN :kbs "
    "ORDER BY ts_rank_cd('{0.1, 0.2, 0.5, 1.0}', c.search_vector, q, 1) DESC, c.id "
    "LIMIT :limit"
).bindparams(bindparam("kbs", expanding=True))
"""Postgres: weights D, C, B (heading), A (text); rank divided by 1 + log(length)."""
_QUOTED = re.compile(r'"((?:[^"]|"")*)"')


@overload
def _fit(value: str, length: int) -> str: ...
@overload
def _fit(value: None, length: int) -> None: ...
def _fit(value: str | None, length: int) -> str | None:
    """``value`` without NUL, cut to ``length`` characters (a ``String(length)`` column)."""
    return None if value is None else without_nul(value)[:length]


class KnowledgeRepository:
    """Knowledge bases, documents and chunks."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # ------------------------------------------------------------ knowledge bases

    async def create(self, name: str, description: str) -> KnowledgeBaseRecord:
        """Store a new, empty knowledge base."""
        now = utcnow()
        row = KnowledgeBaseRow(
            id=new_id("kb"), name=name, description=description, version=0,
            created_at=now, updated_at=now,
        )  # fmt: skip
        await insert(self._db, row, ValidationError(f"id {row.id!r} is already in use"))
        return record_of(KnowledgeBaseRecord, row, document_count=0, chunk_count=0)

    async def _counted(self, rows: Sequence[KnowledgeBaseRow]) -> list[KnowledgeBaseRecord]:
        ids = [r.id for r in rows]
        if not ids:
            return []
        async with self._db.session() as s:
            counts = await s.execute(
                select(
                    DocumentRow.knowledge_base_id,
                    func.count(DocumentRow.id),
                    func.coalesce(func.sum(DocumentRow.chunk_count), 0),
                )
                .where(DocumentRow.knowledge_base_id.in_(ids))
                .group_by(DocumentRow.knowledge_base_id)
            )
            by_kb = {kb: (int(d), int(c)) for kb, d, c in counts}
        return [
            record_of(
                KnowledgeBaseRecord,
                r,
                document_count=by_kb.get(r.id, (0, 0))[0],
                chunk_count=by_kb.get(r.id, (0, 0))[1],
            )
            for r in rows
        ]

    async def get(self, kb_id: str) -> KnowledgeBaseRecord | None:
        """The knowledge base, or ``None`` if unknown."""
        async with self._db.session() as s:
            row = await s.get(KnowledgeBaseRow, kb_id)
        return None if row is None else (await self._counted([row]))[0]

    async def existing(self, kb_ids: Sequence[str]) -> set[str]:
        """Which of ``kb_ids`` exist."""
        if not kb_ids:
            return set()
        async with self._db.session() as s:
            found = await s.scalars(
                select(KnowledgeBaseRow.id).where(KnowledgeBaseRow.id.in_(list(kb_ids)))
            )
            return set(found)

    async def versions(self, kb_ids: Sequence[str]) -> dict[str, int]:
        """The current version of each existing knowledge base of ``kb_ids``."""
        async with self._db.session() as s:
            rows = await s.execute(
                select(KnowledgeBaseRow.id, KnowledgeBaseRow.version).where(
                    KnowledgeBaseRow.id.in_(list(kb_ids))
                )
            )
            return {kb: int(v) for kb, v in rows}

    async def list(self, limit: int, offset: int) -> tuple[builtins.list[KnowledgeBaseRecord], int]:
        """A page of knowledge bases, newest first, and the total count."""
        newest_first = (KnowledgeBaseRow.created_at.desc(), KnowledgeBaseRow.id.desc())
        rows, total = await page(
            self._db, KnowledgeBaseRow, KnowledgeBaseRow.id.is_not(None), newest_first,
            limit, offset,
        )  # fmt: skip
        return await self._counted(rows), total

    async def update(self, kb_id: str, changes: dict[str, Any]) -> KnowledgeBaseRecord | None:
        """Set ``name`` and/or ``description``; ``None`` if unknown."""
        async with self._db.session() as s, s.begin():
            row = await s.get(KnowledgeBaseRow, kb_id)
            if row is None:
                return None
            for name, value in changes.items():
                setattr(row, name, value)
            row.updated_at = utcnow()
        return await self.get(kb_id)

    async def users(self, kb_id: str) -> builtins.list[str]:
        """The ids of the (not deleted) agents that use the knowledge base."""
        async with self._db.session() as s:
            rows = await s.execute(
                select(AgentRow.id, AgentRow.knowledge_base_ids)
                .where(AgentRow.status != "deleted")
                .order_by(AgentRow.id)
            )
            return [agent for agent, kbs in rows if kb_id in (kbs or [])][:20]

    async def delete(self, kb_id: str) -> bool:
        """Delete the knowledge base with its documents and chunks; False if unknown."""
        async with self._db.session() as s, s.begin():
            await s.execute(delete(ChunkRow).where(ChunkRow.knowledge_base_id == kb_id))
            await s.execute(delete(DocumentRow).where(DocumentRow.knowledge_base_id == kb_id))
            result = await s.execute(
                delete(KnowledgeBaseRow)
                .where(KnowledgeBaseRow.id == kb_id)
                .returning(KnowledgeBaseRow.id)
            )
            return result.first() is not None

    # ------------------------------------------------------------ documents

    async def add_document(
        self,
        kb_id: str,
        *,
        title: str,
        source: str,
        size_bytes: int,
        filename: str | None = None,
        url: str | None = None,
        content_type: str | None = None,
        replica_id: str | None = None,
    ) -> DocumentRecord:
        """Store a new document as ``processing`` (by replica ``replica_id``). The title,
        file name and content type are cut to what their columns hold (a title taken from
        a long URL, a multipart part's Content-Type), so no backend refuses them."""
        now = utcnow()
        row = DocumentRow(
            id=new_id("doc"), knowledge_base_id=kb_id, title=_fit(title, 300), source=source,
            filename=_fit(filename, 300), url=url, content_type=_fit(content_type, 200),
            size_bytes=size_bytes,
            status="processing", error=None, chunk_count=0, created_at=now, updated_at=now,
            replica_id=replica_id,
        )  # fmt: skip
        await insert(self._db, row, ValidationError(f"knowledge base {kb_id!r} is gone"))
        return record_of(DocumentRecord, row)

    async def document(self, kb_id: str, doc_id: str) -> DocumentRecord | None:
        """The document of knowledge base ``kb_id``, or ``None``."""
        async with self._db.session() as s:
            row = await s.get(DocumentRow, doc_id)
        if row is None or row.knowledge_base_id != kb_id:
            return None
        return record_of(DocumentRecord, row)

    async def documents(
        self, kb_id: str, limit: int, offset: int
    ) -> tuple[builtins.list[DocumentRecord], int]:
        """A page of the knowledge base's documents, newest first."""
        newest_first = (DocumentRow.created_at.desc(), DocumentRow.id.desc())
        where = DocumentRow.knowledge_base_id == kb_id
        rows, total = await page(self._db, DocumentRow, where, newest_first, limit, offset)
        return [record_of(DocumentRecord, r) for r in rows], total

    async def processing(self, replica_id: str) -> builtins.list[DocumentRecord]:
        """Documents replica ``replica_id`` (or no replica) left processing (it stopped)."""
        mine = or_(DocumentRow.replica_id == replica_id, DocumentRow.replica_id.is_(None))
        async with self._db.session() as s:
            rows = await s.scalars(
                select(DocumentRow).where(DocumentRow.status == "processing", mine)
            )
            return [record_of(DocumentRecord, r) for r in rows]

    async def processing_replicas(self) -> set[str]:
        """The replicas processing a document now."""
        async with self._db.session() as s:
            rows = await s.scalars(
                select(DocumentRow.replica_id)
                .where(DocumentRow.status == "processing", DocumentRow.replica_id.is_not(None))
                .distinct()
            )
            return {r for r in rows if r is not None}

    async def fail_processing(self, replica_id: str, error: str) -> int:
        """Mark every document replica ``replica_id`` was processing failed; how many."""
        async with self._db.session() as s, s.begin():
            result = await s.execute(
                update(DocumentRow)
                .where(DocumentRow.status == "processing", DocumentRow.replica_id == replica_id)
                .values(status="failed", error=error[:1000], updated_at=utcnow())
            )
            return rowcount(result)

    async def finish(
        self, doc_id: str, chunks: Sequence[NewChunk], title: str | None = None
    ) -> bool:
        """Store the document's chunks and mark it ``ready`` (retitled ``title`` if given),
        in one transaction. False (and nothing stored) if the document was deleted
        meanwhile."""
        async with self._db.session() as s, s.begin():
            row = await s.get(DocumentRow, doc_id)
            if row is None or row.status != "processing":
                return False
            s.add_all(
                ChunkRow(
                    document_id=doc_id,
                    knowledge_base_id=row.knowledge_base_id,
                    position=c.position,
                    heading=c.heading,
                    text=c.text,
                    embedding=c.embedding,
                )
                for c in chunks
            )
            row.status, row.chunk_count, row.updated_at = "ready", len(chunks), utcnow()
            if title:
                row.title = _fit(title, 300)
            await self._bump(s, row.knowledge_base_id)
        return True

    async def fail(self, doc_id: str, error: str) -> None:
        """Mark the document ``failed`` with ``error`` (it has no chunks)."""
        async with self._db.session() as s, s.begin():
            await s.execute(
                update(DocumentRow)
                .where(DocumentRow.id == doc_id, DocumentRow.status == "processing")
                .values(status="failed", error=error[:1000], updated_at=utcnow())
            )

    async def delete_document(self, kb_id: str, doc_id: str) -> bool:
        """Delete the document and its chunks; False if unknown."""
        async with self._db.session() as s, s.begin():
            await s.execute(delete(ChunkRow).where(ChunkRow.document_id == doc_id))
            result = await s.execute(
                delete(DocumentRow)
                .where(DocumentRow.id == doc_id, DocumentRow.knowledge_base_id == kb_id)
                .returning(DocumentRow.id)
            )
            gone = result.first() is not None
            if gone:
                await self._bump(s, kb_id)
            return gone

    @staticmethod
    async def _bump(s: Any, kb_id: str) -> None:
        await s.execute(
            update(KnowledgeBaseRow)
            .where(KnowledgeBaseRow.id == kb_id)
            .values(version=KnowledgeBaseRow.version + 1, updated_at=utcnow())
        )

    # ------------------------------------------------------------ chunks

    async def embeddings(self, kb_id: str) -> tuple[builtins.list[int], builtins.list[bytes]]:
        """Every chunk id of the knowledge base with its embedding, in id order."""
        async with self._db.session() as s:
            rows = await s.execute(
                select(ChunkRow.id, ChunkRow.embedding)
                .where(ChunkRow.knowledge_base_id == kb_id)
                .order_by(ChunkRow.id)
            )
            ids, vectors = [], []
            for chunk_id, vector in rows:
                ids.append(int(chunk_id))
                vectors.append(bytes(vector))
            return ids, vectors

    async def full_text(self, kb_ids: Sequence[str], match: str, limit: int) -> builtins.list[int]:
        """Chunk ids of ``kb_ids`` matching ``match``, best first. ``match`` is an FTS5
        expression of double-quoted terms joined with OR
        (:func:`parley.knowledge.fusion.fts_query`).

        SQLite: FTS5, ranked by BM25 (text weighs 1, heading 0.5). Postgres: the same
        terms, any of them, against ``kb_chunks.search_vector`` (English stemming, GIN
        index), ranked by ``ts_rank_cd`` with the same weights. Empty on other databases.
        """
        if not kb_ids:
            return []
        dialect = self._db.dialect
        if dialect == "sqlite":
            query = _SQLITE_SEARCH
            params: dict[str, Any] = {"match": match}
        elif dialect == "postgresql":
            terms = [t.replace('""', '"') for t in _QUOTED.findall(match)]
            if not terms:
                return []
            query = _POSTGRES_SEARCH
            params = {"match": " or ".join(terms)}
        else:
            return []
        params.update(kbs=list(kb_ids), limit=limit)
        async with self._db.session() as s:
            return [int(r[0]) for r in await s.execute(query, params)]

    async def chunks(self, chunk_ids: Sequence[int]) -> dict[int, StoredChunk]:
        """The chunks of ``chunk_ids`` that still exist, with their documents' titles."""
        if not chunk_ids:
            return {}
        async with self._db.session() as s:
            rows = await s.execute(
                select(
                    ChunkRow.id,
                    ChunkRow.document_id,
                    ChunkRow.knowledge_base_id,
                    DocumentRow.title,
                    ChunkRow.heading,
                    ChunkRow.text,
                )
                .join(DocumentRow, DocumentRow.id == ChunkRow.document_id)
                .where(ChunkRow.id.in_(list(chunk_ids)))
            )
            return {int(r[0]): StoredChunk(int(r[0]), *r[1:]) for r in rows}
