"""Stored knowledge bases, their documents and chunks: records and the repository.

A document is stored as ``processing`` when it is added; ingestion (in the background)
then either stores all its chunks and marks it ``ready`` in one transaction, or marks it
``failed`` with the reason. Nothing half-ingested is ever visible to retrieval.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text, update

from parley.errors import ValidationError
from parley.storage.db import Database
from parley.storage.ids import new_id
from parley.storage.models import AgentRow, ChunkRow, DocumentRow, KnowledgeBaseRow, utcnow
from parley.storage.records import insert, page, record_of


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
    ) -> DocumentRecord:
        """Store a new document as ``processing``."""
        now = utcnow()
        row = DocumentRow(
            id=new_id("doc"), knowledge_base_id=kb_id, title=title, source=source,
            filename=filename, url=url, content_type=content_type, size_bytes=size_bytes,
            status="processing", error=None, chunk_count=0, created_at=now, updated_at=now,
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

    async def processing(self) -> builtins.list[DocumentRecord]:
        """Documents whose ingestion never finished (e.g. the server stopped)."""
        async with self._db.session() as s:
            rows = await s.scalars(select(DocumentRow).where(DocumentRow.status == "processing"))
            return [record_of(DocumentRecord, r) for r in rows]

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
                row.title = title[:300]
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
        """Chunk ids of ``kb_ids`` matching FTS5 expression ``match``, best first (BM25).
        Empty where the database has no full-text index."""
        if self._db.engine.dialect.name != "sqlite" or not kb_ids:
            return []
        marks = ", ".join(f":kb{i}" for i in range(len(kb_ids)))
        query = text(
            "SELECT c.id FROM kb_chunks_fts f JOIN kb_chunks c ON c.id = f.rowid "
            f"WHERE kb_chunks_fts MATCH :match AND c.knowledge_base_id IN ({marks}) "
            "ORDER BY bm25(kb_chunks_fts, 1.0, 0.5) LIMIT :limit"
        )
        params: dict[str, Any] = {"match": match, "limit": limit}
        params.update({f"kb{i}": kb for i, kb in enumerate(kb_ids)})
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
