"""The grounding hook's pure parts: which passages go to the LLM and how they read."""

from __future__ import annotations

from parley.knowledge.hook import MIN_SIMILARITY, grounding, relevant
from parley.knowledge.retrieval import Found, Passage


def passage(chunk_id: int, similarity: float, text_match: bool) -> Passage:
    return Passage(
        chunk_id, "doc_1", "kb_1", "FAQ", "Returns", f"text {chunk_id}", 0.03,
        similarity, text_match,
    )  # fmt: skip


def test_only_passages_found_by_words_or_close_in_meaning_are_given() -> None:
    found = Found(
        [
            passage(1, 0.70, True),
            passage(2, MIN_SIMILARITY - 0.01, False),
            passage(3, MIN_SIMILARITY, False),
            passage(4, 0.95, True),
        ],
        5.0,
    )
    assert [p.chunk_id for p in relevant(found, 2)] == [1, 3]
    assert relevant(Found([passage(9, 0.5, False)], 1.0), 2) == []


def test_the_passages_come_with_their_sources_before_the_question() -> None:
    text = grounding([passage(1, 0.9, True)], "how do returns work?")
    assert "[1] Returns: text 1" in text
    assert text.endswith("Question: how do returns work?")
