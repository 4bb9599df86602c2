"""Aggregates streamed LLM tokens into clauses that can be spoken as soon as complete.

Rules (small and table-driven):
- a sentence ends at ``.``, ``!`` or ``?`` (plus closing quotes/brackets) followed by
  whitespace, unless the word is a known abbreviation or a single initial;
- the first clause of a reply may also end at ``,`` ``;`` ``:`` or a dash once it has
  ``first_clause_min_chars``, so the agent starts talking sooner;
- any clause longer than ``max_clause_chars`` is cut at the last clause mark or space.
Markdown decoration is removed, since it would be read aloud.
"""

from __future__ import annotations

import re

ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "no", "approx"}
)
SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*(?=\s)")
CLAUSE_END = re.compile(r"[,;:]+(?=\s)|\s[-\u2013\u2014]\s")  # hyphen, en and em dash
_MARKDOWN = re.compile(r"[*_`#>]+")
_BULLET = re.compile(r"\n[ \t]*[-•][ \t]+")
_LEADING_BULLET = re.compile(r"^\s*[-•][ \t]+")
_SPACES = re.compile(r"\s+")
_ANNOTATION = re.compile(r"\[[^\[\]\n]{0,80}\]")
"""A bracketed note such as "[laughs]" or a copied "[interrupted by the user]"."""


def speakable(text: str, *, line_start: bool = True) -> str:
    """Remove markdown decoration and bracketed notes; collapse whitespace.

    A leading ``-``/``•`` is a bullet only when ``text`` starts a line (``line_start``).
    """
    if line_start:
        text = _LEADING_BULLET.sub("", text)
    text = _ANNOTATION.sub(" ", text)
    return _SPACES.sub(" ", _MARKDOWN.sub("", _BULLET.sub("\n", text))).strip()


def _is_abbreviation(text: str, dot_index: int) -> bool:
    word = text[:dot_index].rsplit(None, 1)[-1].lower() if text[:dot_index].strip() else ""
    word = word.lstrip("(\"'")
    return word in ABBREVIATIONS or (len(word) == 1 and word.isalpha())


class ClauseAggregator:
    """Feed tokens with :meth:`push`; get finished clauses; :meth:`flush` at the end."""

    def __init__(self, first_clause_min_chars: int = 16, max_clause_chars: int = 200) -> None:
        self._buf = ""
        self._line_start = True
        self._emitted = 0
        self._first_min = first_clause_min_chars
        self._max = max_clause_chars

    def push(self, token: str) -> list[str]:
        """Add a token; return the clauses it completed."""
        self._buf += token
        out: list[str] = []
        while (cut := self._find_cut()) is not None:
            clause = speakable(self._buf[:cut], line_start=self._line_start)
            rest = self._buf[cut:]
            self._buf = rest.lstrip()
            self._line_start = "\n" in rest[: len(rest) - len(self._buf)]
            if clause:
                out.append(clause)
                self._emitted += 1
        return out

    def flush(self) -> list[str]:
        """Return whatever text is left as a final clause."""
        clause, self._buf = speakable(self._buf, line_start=self._line_start), ""
        if clause:
            self._emitted += 1
            return [clause]
        return []

    def _find_cut(self) -> int | None:
        for m in SENTENCE_END.finditer(self._buf):
            if m.group().startswith(".") and _is_abbreviation(self._buf, m.start()):
                continue
            return m.end()
        if self._emitted == 0:
            for m in CLAUSE_END.finditer(self._buf):
                if m.start() >= self._first_min:
                    return m.end()
        if len(self._buf) > self._max:
            window = self._buf[: self._max]
            marks = [m.end() for m in CLAUSE_END.finditer(window)]
            if marks:
                return marks[-1]
            space = window.rfind(" ")
            return space if space > 0 else self._max
        return None
