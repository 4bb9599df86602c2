"""A searx engine that searches a local SQLite FTS5 index (no network).

:mod:`parley.testing.search_server` copies this file into searx's ``engines`` folder as
``parley_corpus.py``; searx runs it in its own process and sets ``database`` from the
engine's entry in settings.yml. The index is a table ``pages(url, title, body)``.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

offline = True  # searx calls search() instead of making an HTTP request
categories = ["general"]
paging = False
database = ""  # set by searx from settings.yml
_TERM = re.compile(r"\w+")


def search(query: str | bytes, params: dict[str, Any]) -> list[dict[str, str]]:
    """The pages matching any word of ``query``, best (BM25) first."""
    text = query.decode("utf-8") if isinstance(query, bytes) else query
    terms = " OR ".join(f'"{word}"' for word in _TERM.findall(text))
    if not terms:
        return []
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        rows = connection.execute(
            "SELECT url, title, snippet(pages, 2, '', '', ' … ', 40) FROM pages "
            "WHERE pages MATCH ? ORDER BY bm25(pages) LIMIT 20",
            (terms,),
        ).fetchall()
    finally:
        connection.close()
    return [{"url": url, "title": title, "content": content} for url, title, content in rows]
