"""Keyword search of knowledge-base chunks on both backends: SQLite FTS5 and Postgres
full-text search (``kb_chunks.search_vector``, migration 0007) find and rank alike."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from parley.knowledge.fusion import fts_query
from parley.storage import Database
from parley.storage.knowledge import KnowledgeRepository, NewChunk


@pytest.fixture
async def repo(database_url: str) -> AsyncIterator[KnowledgeRepository]:
    db = Database(database_url)
    await db.connect()
    try:
        yield KnowledgeRepository(db)
    finally:
        await db.close()


async def _document(
    repo: KnowledgeRepository, kb_id: str, passages: list[tuple[str, str]]
) -> list[int]:
    """Store a ready document of ``(heading, text)`` chunks; their ids, in order."""
    doc = await repo.add_document(kb_id, title="Manual", source="text", size_bytes=1)
    chunks = [NewChunk(i, heading, text, b"\0" * 8) for i, (heading, text) in enumerate(passages)]
    assert await repo.finish(doc.id, chunks)
    ids, _ = await repo.embeddings(kb_id)
    return ids[-len(passages) :]


async def _search(repo: KnowledgeRepository, kb_ids: list[str], question: str) -> list[int]:
    match = fts_query(question)
    assert match is not None
    return await repo.full_text(kb_ids, match, 10)


async def test_keyword_search_finds_stems_ranks_text_over_heading(
    repo: KnowledgeRepository,
) -> None:
    kb = (await repo.create("Kitchen", "")).id
    other = (await repo.create("Garden", "")).id
    warranty, heading_only, kettle, unrelated = await _document(
        repo,
        kb,
        [
            ("Warranty", "The kettle has a two year warranty from the date of purchase."),
            ("Kettle care", "Descale it every month with vinegar."),
            ("Boiling", "The kettles boil a litre of water in ninety seconds."),
            ("Toaster", "Toast bread on setting three."),
        ],
    )
    (hose,) = await _document(repo, other, [("Hose", "The garden hose and the kettle.")])

    found = await _search(repo, [kb], "Um, how long is the warranty on my kettle?")
    assert found[0] == warranty  # both words, in the text
    assert set(found) == {warranty, heading_only, kettle}  # any word; stems match
    assert found.index(kettle) < found.index(heading_only)  # text weighs more than heading
    assert unrelated not in found and hose not in found  # other knowledge bases stay out

    assert await _search(repo, [kb, other], "kettle") != []
    assert hose in await _search(repo, [kb, other], "kettle")
    assert await _search(repo, [kb], "descaling") == [heading_only]  # "descale" stemmed
    assert await _search(repo, [kb], "submarine") == []
    assert await repo.full_text([], '"kettle"', 10) == []


async def test_deleted_documents_leave_the_index(repo: KnowledgeRepository) -> None:
    kb = (await repo.create("Kitchen", "")).id
    doc = await repo.add_document(kb, title="Manual", source="text", size_bytes=1)
    await repo.finish(doc.id, [NewChunk(0, "Kettle", "Descale the kettle.", b"\0" * 8)])
    assert len(await _search(repo, [kb], "kettle")) == 1
    assert await repo.delete_document(kb, doc.id)
    assert await _search(repo, [kb], "kettle") == []


async def test_stored_text_never_fails_on_nul_or_long_titles(repo: KnowledgeRepository) -> None:
    """Postgres refuses NUL in text and values longer than ``String(n)``: parsed text and
    titles taken from URLs or files are made storable the same way on both backends."""
    kb = (await repo.create("Odd", "a\x00b")).id
    doc = await repo.add_document(
        kb,
        title="t\x00" * 400,
        source="url",
        size_bytes=0,
        url="http://x/\x00",
        filename="f" * 400,
        content_type="text/plain; x=" + "y" * 300,
    )
    assert doc.title == "t" * 300 and doc.filename == "f" * 300
    assert doc.content_type is not None and len(doc.content_type) == 200
    assert await repo.finish(doc.id, [NewChunk(0, "He\x00ad", "Te\x00xt", b"")], title="T\x00")
    (chunk_id,) = await _search(repo, [kb], "text")
    stored = (await repo.chunks([chunk_id]))[chunk_id]
    assert (stored.title, stored.heading, stored.text) == ("T", "Head", "Text")
    record = await repo.get(kb)
    assert record is not None and record.description == "ab"
