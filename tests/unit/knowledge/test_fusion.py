"""Reciprocal-rank fusion, and FTS5 queries from hostile text against a real FTS5 table."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parley.knowledge.fusion import fts_query, fuse


def test_fuse_rewards_agreement() -> None:
    fused = fuse([[1, 2, 3], [3, 1, 4]], limit=10)
    assert [item for item, _ in fused] == [1, 3, 2, 4]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)
    assert fuse([[1, 2, 3]], limit=2) == [(1, 1 / 61), (2, 1 / 62)]


def test_fuse_edge_cases() -> None:
    assert fuse([], limit=5) == []
    assert fuse([[], []], limit=5) == []
    assert fuse([[5, 5, 6]], limit=5) == [(5, 1 / 61), (6, 1 / 63)]  # a repeat counts once
    assert [i for i, _ in fuse([[1], [2]], limit=5)] == [1, 2]  # ties: earlier ranking first
    assert fuse([[1, 2]], limit=0) == []


def test_fts_query_keeps_topic_words() -> None:
    assert (
        fts_query("Um, how long is the WARRANTY on the kettle?")
        == '"long" OR "warranty" OR "kettle"'
    )
    assert fts_query("what's the number for model 5") == '"number" OR "model" OR "5"'
    assert fts_query("is it ... the?") is None
    assert fts_query("") is None
    assert fts_query("café crème") == '"café" OR "crème"'


@pytest.fixture(scope="module")
def table() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE docs USING fts5(text, heading)")
    db.executemany(
        "INSERT INTO docs (text, heading) VALUES (?, ?)",
        [
            ("You can return a kettle within 45 days.", "Returns"),
            ("Descale with citric acid every 6 weeks.", "Descaling"),
            ("NEAR the door: the AND OR NOT words.", "Hostile"),
        ],
    )
    return db


def search(db: sqlite3.Connection, text: str) -> list[str]:
    query = fts_query(text)
    if query is None:
        return []
    rows = db.execute(
        "SELECT heading FROM docs WHERE docs MATCH ? ORDER BY bm25(docs)", (query,)
    ).fetchall()
    return [row[0] for row in rows]


def test_fts_query_finds_rows(table: sqlite3.Connection) -> None:
    assert search(table, "How many days to return my kettle?") == ["Returns"]
    assert search(table, "citric acid") == ["Descaling"]


@pytest.mark.parametrize(
    "text",
    [
        'he said "return" and left',
        "NEAR(kettle return, 2)",
        "kettle*",
        "-kettle",
        "heading: Returns",
        "text:kettle OR",
        "AND OR NOT",
        "^start",
        '"""',
        "(((",
        "{heading text}: kettle",
        "kettle + - * / \\ ' ; --",
        "\x00 nul",
        "👍 emoji",
    ],
)
def test_hostile_input_never_raises(table: sqlite3.Connection, text: str) -> None:
    search(table, text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_is_a_valid_match_expression(text: str) -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE docs USING fts5(text, heading)")
    db.execute("INSERT INTO docs VALUES ('and or not near', 'x')")
    search(db, text)
