"""Turning a document into stored chunks, in the background: fetch (for a URL), parse,
chunk, embed, then store every chunk and mark the document ready in one transaction. Any
failure marks it failed with a reason a user can act on; nothing half-ingested is kept.

Documents are ingested one at a time (embedding is CPU work; calls come first: the
embedder answers queries between batches of passages).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from parley.knowledge.chunking import chunk
from parley.knowledge.embedding import Embedder, to_bytes
from parley.knowledge.parsing import extract
from parley.safe_fetch import FetchFailed, fetch
from parley.storage.knowledge import DocumentRecord, KnowledgeRepository, NewChunk

log = logging.getLogger(__name__)

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
"""The largest file or fetched page a knowledge base takes."""
MAX_CHUNKS = 5000
"""The most chunks one document may make (about 700,000 words)."""
FETCH_TIMEOUT_S = 15.0
HTML_TYPES = "text/html,application/xhtml+xml,text/plain,text/markdown,application/pdf;q=0.9"


@dataclass(frozen=True, slots=True)
class Source:
    """What a document is made from: bytes (an upload or text), or a URL to fetch."""

    data: bytes | None = None
    filename: str | None = None
    content_type: str | None = None
    url: str | None = None
    titled: bool = False
    """The user gave the title; otherwise the document's own title (if it has one)
    replaces the file name or URL."""


INTERRUPTED = "the server stopped during ingestion; add it again"
"""Why a document whose ingestion never finished failed."""


class IngestFailed(Exception):
    """A document cannot be ingested; the message says why, for the user."""


class Ingestor:
    """Ingests documents in the background, one at a time."""

    def __init__(
        self,
        repo: KnowledgeRepository,
        embedder: Embedder,
        *,
        allow_private_urls: bool,
        counted: Callable[[str], None] = lambda outcome: None,
    ) -> None:
        self._repo, self._embedder = repo, embedder
        self._allow_private = allow_private_urls
        self._counted = counted
        """Told ``ready`` or ``failed`` after each document."""
        self._turn = asyncio.Semaphore(1)
        self.tasks: set[asyncio.Task[None]] = set()

    def start(self, doc: DocumentRecord, source: Source) -> None:
        """Ingest ``doc`` from ``source`` in a task (kept until done)."""
        task = asyncio.create_task(self.ingest(doc, source), name=f"parley-ingest-{doc.id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def ingest(self, doc: DocumentRecord, source: Source) -> None:
        """Make and store the chunks of ``doc``, or mark it failed."""
        async with self._turn:
            try:
                chunks, title = await self._chunks(doc, source)
                if await self._repo.finish(doc.id, chunks, None if source.titled else title):
                    self._counted("ready")
                else:
                    log.info("document deleted while being ingested", extra={"doc": doc.id})
                return
            except IngestFailed as exc:
                await self._repo.fail(doc.id, str(exc))
            except Exception as exc:
                log.exception("ingestion failed", extra={"doc": doc.id})
                await self._repo.fail(doc.id, f"ingestion failed: {type(exc).__name__}")
            self._counted("failed")

    async def _chunks(
        self, doc: DocumentRecord, source: Source
    ) -> tuple[list[NewChunk], str | None]:
        """The document's chunks with their embeddings, and its own title."""
        data, filename, content_type = source.data, source.filename, source.content_type
        if source.url is not None:
            try:
                got = await fetch(
                    source.url, allow_private=self._allow_private,
                    max_bytes=MAX_DOCUMENT_BYTES, timeout_s=FETCH_TIMEOUT_S, accept=HTML_TYPES,
                )  # fmt: skip
            except FetchFailed as exc:
                raise IngestFailed(str(exc)) from exc
            data, content_type = got.body, got.content_type
            filename = filename or str(got.url).rstrip("/").rsplit("/", 1)[-1]
        assert data is not None
        try:
            extracted = await asyncio.to_thread(
                extract, data, filename=filename, content_type=content_type
            )
        except ValueError as exc:
            raise IngestFailed(str(exc)) from exc
        pieces = chunk(extracted.sections)
        if not pieces:
            raise IngestFailed(f"{doc.title!r} has no text to search")
        if len(pieces) > MAX_CHUNKS:
            raise IngestFailed(
                f"{doc.title!r} makes {len(pieces)} chunks, more than the limit of "
                f"{MAX_CHUNKS}; split it into smaller documents"
            )
        vectors = await self._embedder.passages([p.for_embedding for p in pieces])
        chunks = [
            NewChunk(p.position, p.heading, p.text, to_bytes(v))
            for p, v in zip(pieces, vectors, strict=True)
        ]
        return chunks, extracted.title

    async def close(self) -> None:
        """Stop ingestions still running (their documents stay ``processing`` until
        :meth:`interrupted` marks them failed on the next start)."""
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def interrupted(self, replica_id: str) -> int:
        """Mark the documents replica ``replica_id`` left ``processing`` when it stopped
        as failed; how many (another replica's stay theirs)."""
        left = await self._repo.processing(replica_id)
        for doc in left:
            await self._repo.fail(doc.id, INTERRUPTED)
        return len(left)
