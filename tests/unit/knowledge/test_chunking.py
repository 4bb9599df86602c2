"""Chunking: headings are never crossed, sizes are bounded, consecutive chunks overlap."""

from __future__ import annotations

import itertools

import pytest

from parley.knowledge.chunking import Chunk, chunk
from parley.knowledge.parsing import Section, extract
from parley.testing.documents import public_domain_text


def sentences(prefix: str, count: int, words: int = 12) -> str:
    """``count`` numbered sentences of ``words`` words each."""
    return " ".join(
        f"{prefix}{n} " + " ".join(f"w{n}x{i}" for i in range(words - 2)) + " end."
        for n in range(count)
    )


def test_short_sections_are_one_chunk_each_and_keep_their_heading() -> None:
    got = chunk([Section("Returns", "Within 45 days."), Section("Returns > Damaged", "Call us.")])
    assert got == [
        Chunk(0, "Returns", "Within 45 days."),
        Chunk(1, "Returns > Damaged", "Call us."),
    ]
    assert got[1].for_embedding == "Returns > Damaged: Call us."
    assert Chunk(2, "", "No heading.").for_embedding == "No heading."


def test_long_section_is_split_within_the_limit_with_overlap() -> None:
    text = sentences("s", 40)  # 480 words in one paragraph
    got = chunk([Section("Long", text), Section("Next", "Other.")], max_words=100, overlap_words=20)
    long_chunks = [c for c in got if c.heading == "Long"]
    assert len(long_chunks) >= 5
    assert all(c.words <= 100 for c in got)
    for before, after in itertools.pairwise(long_chunks):
        first_sentence = after.text.split(" end.")[0] + " end."
        assert first_sentence in before.text  # the overlap is whole sentences
        assert len(first_sentence.split()) <= 20
    assert got[-1] == Chunk(len(got) - 1, "Next", "Other.")  # no chunk spans two sections
    assert [c.position for c in got] == list(range(len(got)))
    # every sentence survives
    joined = " ".join(c.text for c in long_chunks)
    assert all(f"s{n} " in joined for n in range(40))


def test_paragraph_boundaries_are_preferred() -> None:
    paragraph = sentences("p", 5)  # 60 words
    text = "\n\n".join([paragraph] * 4)
    got = chunk([Section("", text)], max_words=130, overlap_words=0)
    assert [c.words for c in got] == [120, 120]
    assert all(c.text.count("\n\n") == 1 for c in got)


def test_a_sentence_longer_than_the_limit_is_cut_by_words() -> None:
    text = " ".join(f"w{i}" for i in range(250))
    got = chunk([Section("", text)], max_words=100, overlap_words=10)
    assert all(c.words <= 100 for c in got)
    assert got[0].text.split()[0] == "w0"
    assert got[-1].text.split()[-1] == "w249"
    assert got[1].text.split()[:10] == got[0].text.split()[-10:]  # word overlap as a last resort


def test_no_overlap() -> None:
    got = chunk([Section("", sentences("s", 20))], max_words=50, overlap_words=0)
    assert sum(c.words for c in got) == 240


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="overlap_words"):
        chunk([], max_words=100, overlap_words=60)
    with pytest.raises(ValueError, match="max_words"):
        chunk([], max_words=5, overlap_words=0)


def test_a_real_play_chunks_within_bounds() -> None:
    doc = public_domain_text()
    sections = extract(doc.data, filename=doc.filename, content_type=None).sections
    got = chunk(sections)
    assert 100 < len(got) < 200
    assert max(c.words for c in got) <= 180
    assert {c.heading for c in got} == {s.heading for s in sections}
    assert sum("Out, damned spot!" in c.text for c in got) >= 1
