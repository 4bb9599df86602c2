"""One line of text: names, ids, phrases. Shared by the REST models and the agent layer's
own settings (content policies)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_NOT_IN_A_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
"""Control characters (Unicode category Cc: NUL, tab, newlines, DEL, C1), the line and
paragraph separators, and the bidi embeddings, overrides and isolates, which reorder the
text after them on screen (U+202E makes ``exe.txt`` look like ``txt.exe``). The marks
U+200E/U+200F only set the direction of neutral characters and are allowed."""


def line_problem(text: str) -> str | None:
    """Why ``text`` is not one plain line (see :data:`_NOT_IN_A_LINE`), or None."""
    found = _NOT_IN_A_LINE.search(text)
    if found is None:
        return None
    char = found.group()
    bidi = "\u202a" <= char <= "\u2069"
    what = "bidirectional control characters" if bidi else "line breaks or control characters"
    return f"must not contain {what} (U+{ord(char):04X})"


def _single_line(text: str) -> str:
    problem = line_problem(text)
    if problem is not None:
        raise ValueError(problem)
    return text


ONE_LINE = AfterValidator(_single_line)
"""Put after length constraints, so that those keep their own messages."""
SingleLine = Annotated[str, ONE_LINE]
"""A name or id: one line of text without control or bidi characters (422 otherwise)."""
