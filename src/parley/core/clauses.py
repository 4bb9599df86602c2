"""Aggregates streamed LLM tokens into clauses that can be spoken as soon as complete.

Rules (small and table-driven):
- a sentence ends at ``.``, ``!`` or ``?`` (plus closing quotes/brackets) followed by
  whitespace, unless the word is a known abbreviation or a single initial;
- the first clause of a reply may also end at ``,`` ``;`` ``:`` or a dash once it has
  ``first_clause_min_chars``, so the agent starts talking sooner;
- any clause longer than ``max_clause_chars`` is cut at the last clause mark or space.
Markdown decoration is removed, since it would be read aloud. The marks and
abbreviations come from the reply's language pack (:mod:`parley.languages.packs`;
English by default): e.g. Amharic sentences end at ``።``, Chinese ones at ``。`` with no
space after it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from parley.languages.packs import ENGLISH, LanguagePack

_CLOSERS = "\"')\\]\u300d\u300f\uff09"
"""Closing quotes and brackets that stay with the sentence before them (also CJK ones)."""
_DASH = r"\s[-\u2013\u2014]\s"  # hyphen, en and em dash


@dataclass(frozen=True, slots=True)
class _Marks:
    sentence_end: re.Pattern[str]
    clause_end: re.Pattern[str]
    abbreviations: frozenset[str]
    ordinal_dot: bool


def _class(marks: str) -> str:
    return f"[{re.escape(marks)}]+"


@cache
def _marks(pack: LanguagePack) -> _Marks:
    sentence = rf"{_class(pack.sentence_marks)}[{_CLOSERS}]*(?=\s)"
    if pack.closed_sentence_marks:
        sentence += rf"|{_class(pack.closed_sentence_marks)}[{_CLOSERS}]*"
    clause = rf"{_class(pack.clause_marks)}(?=\s)|{_DASH}"
    if pack.closed_clause_marks:
        clause += rf"|{_class(pack.closed_clause_marks)}"
    return _Marks(re.compile(sentence), re.compile(clause), pack.abbreviations, pack.ordinal_dot)


ABBREVIATIONS = ENGLISH.abbreviations
"""The English abbreviations."""
SENTENCE_END = _marks(ENGLISH).sentence_end
CLAUSE_END = _marks(ENGLISH).clause_end
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


_ENGLISH_MARKS = _marks(ENGLISH)


def _is_abbreviation(text: str, dot_index: int, marks: _Marks = _ENGLISH_MARKS) -> bool:
    word = text[:dot_index].rsplit(None, 1)[-1].lower() if text[:dot_index].strip() else ""
    word = word.lstrip("(\"'")
    if marks.ordinal_dot and word.isdigit() and len(word) <= 2:
        return True  # "am 3. Mai"
    return word in marks.abbreviations or (len(word) == 1 and word.isalpha())


class ClauseAggregator:
    """Feed tokens with :meth:`push`; get finished clauses; :meth:`flush` at the end.

    ``pack``: the language of the reply (its sentence and clause marks, abbreviations).
    """

    def __init__(
        self,
        first_clause_min_chars: int = 16,
        max_clause_chars: int = 200,
        *,
        pack: LanguagePack = ENGLISH,
    ) -> None:
        self._marks = _marks(pack)
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
        marks = self._marks
        for m in marks.sentence_end.finditer(self._buf):
            if m.group().startswith(".") and _is_abbreviation(self._buf, m.start(), marks):
                continue
            return m.end()
        if self._emitted == 0:
            for m in marks.clause_end.finditer(self._buf):
                if m.start() >= self._first_min:
                    return m.end()
        if len(self._buf) > self._max:
            window = self._buf[: self._max]
            ends = [m.end() for m in marks.clause_end.finditer(window)]
            if ends:
                return ends[-1]
            space = window.rfind(" ")
            return space if space > 0 else self._max
        return None
