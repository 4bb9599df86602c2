"""The retrieval question set answers only from the test documents, and every fact is
whole in at least one chunk of its document (so hit@k measures retrieval, not chunking)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from parley.knowledge.chunking import chunk
from parley.knowledge.parsing import extract
from parley.testing.documents import all_documents


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


def test_every_fact_is_whole_in_a_chunk_of_its_document() -> None:
    data: dict[str, Any] = json.loads(
        (resources.files("parley.bench") / "data" / "retrieval_questions.json").read_text()
    )
    questions = data["questions"]
    assert len(questions) >= 30
    assert len({q["id"] for q in questions}) == len(questions)
    chunks = {}
    for document in all_documents():
        sections = extract(
            document.data, filename=document.filename, content_type=document.content_type
        ).sections
        chunks[document.filename] = [normalise(c.text) for c in chunk(sections)]
    for question in questions:
        fact = normalise(question["fact"])
        assert any(fact in text for text in chunks[question["document"]]), question
    assert sum(q["spoken"] for q in questions) >= 10
