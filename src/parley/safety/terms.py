"""Blocked terms: does a clause the agent is about to speak (or a user turn) contain one?

Text and terms are reduced to the same word sequence by :func:`words`: case, accents and
punctuation are ignored (``"Compétitor-Co!"`` → ``competitor co``), digits are word
characters, and an apostrophe inside a word stays in it (``"he'll"`` is not ``hell``).
A term matches whole words only: ``ass`` is not found in ``class``, nor ``co`` in ``cost``.

Written together or apart: a term also matches when the text writes it with its words
joined or split differently (``competitorco`` ~ ``competitor co`` ~ ``CompetitorCo``), but
only when the joined letters are at least :data:`MIN_JOINED` long and the text's span is
at most :data:`MAX_JOINED_WORDS` words. The length floor keeps ordinary word pairs from
spelling a short blocked word (``pen is``, ``an al``, ``he ll``); at 6 letters and more
such accidents are rare and the split spelling is almost always the term itself.

Cost: one dictionary lookup per word and per joined span; no regular expression over the
term list, so 1000 terms cost the same as 10 (see ``parley bench safety_terms``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

MIN_JOINED = 6
"""Fewest letters for a term to match with its words joined or split differently."""
MAX_JOINED_WORDS = 3
"""Most text words joined into one to compare with a term written without spaces."""

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_FOLD = str.maketrans(
    {
        "æ": "ae",
        "œ": "oe",
        "ø": "o",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "ł": "l",
        "\u0131": "i",  # dotless i
        "ħ": "h",
        "ŧ": "t",
        "\u2019": "'",
        "\u2018": "'",
        "\u02bc": "'",
        "`": "'",
    }
)


def words(text: str) -> list[str]:
    """``text`` as lowercase words without accents or punctuation (see the module)."""
    if text.isascii():
        return _WORD.findall(text.lower().replace("`", "'"))
    folded = unicodedata.normalize("NFKD", text).casefold().translate(_FOLD)
    folded = unicodedata.normalize("NFKD", folded)
    return _WORD.findall("".join(ch for ch in folded if not unicodedata.combining(ch)))


class BlockedTerms:
    """A policy's blocked terms, indexed once; :meth:`find` tells whether a text has one.

    Terms with no letters or digits never match. Of duplicate terms (after
    normalization) the first one's index is reported.
    """

    def __init__(self, terms: Sequence[str]) -> None:
        self._first: dict[str, list[tuple[tuple[str, ...], int]]] = {}
        self._joined: dict[str, int] = {}
        self.max_words = 1
        """The most text words one match can cover (exact or joined)."""
        self._max_joined_len = 0
        for index, term in enumerate(terms):
            tokens = tuple(words(term))
            if not tokens:
                continue
            candidates = self._first.setdefault(tokens[0], [])
            if all(t != tokens for t, _ in candidates):
                candidates.append((tokens, index))
            joined = "".join(tokens)
            if len(joined) >= MIN_JOINED and joined not in self._joined:
                self._joined[joined] = index
                self._max_joined_len = max(self._max_joined_len, len(joined))
            self.max_words = max(self.max_words, len(tokens))
        for candidates in self._first.values():
            candidates.sort(key=lambda c: c[1])
        if self._joined:
            self.max_words = max(self.max_words, MAX_JOINED_WORDS)
        self.count = len(terms)

    def __bool__(self) -> bool:
        return bool(self._first)

    def find(self, text: str) -> int | None:
        """The index of the blocked term that starts first in ``text`` (ties: the lowest
        index), or None."""
        return self.find_words(words(text))

    def find_words(self, tokens: Sequence[str], min_end: int = 0) -> int | None:
        """:meth:`find` on words from :func:`words`; a match must end after the first
        ``min_end`` words (those were checked before, see :class:`ClauseScanner`)."""
        n = len(tokens)
        for i in range(n):
            found: int | None = None
            for term, index in self._first.get(tokens[i], ()):
                end = i + len(term)
                if end > min_end and end <= n and tuple(tokens[i:end]) == term:
                    found = index
                    break
            if self._joined:
                joined = ""
                for j in range(i, min(n, i + MAX_JOINED_WORDS)):
                    joined += tokens[j]
                    if len(joined) > self._max_joined_len:
                        break
                    hit = self._joined.get(joined)
                    if hit is not None and j >= min_end and (found is None or hit < found):
                        found = hit
            if found is not None:
                return found
        return None


class ClauseScanner:
    """Checks one agent reply clause by clause, so that a term split over two clauses
    (``"... refund."`` + ``"Guaranteed!"``) is still found. It keeps the last
    ``terms.max_words - 1`` words of what came before."""

    def __init__(self, terms: BlockedTerms) -> None:
        self._terms = terms
        self._keep = terms.max_words - 1
        self._tail: list[str] = []

    def check(self, clause: str) -> int | None:
        """The index of a blocked term in ``clause``, or spanning the end of the earlier
        clauses and this one; None if there is none. Terms wholly inside earlier clauses
        were reported by their own check and are not reported again."""
        if not self._terms:
            return None
        new = words(clause)
        if not new:
            return None
        tokens = self._tail + new
        found = self._terms.find_words(tokens, min_end=len(self._tail))
        self._tail = tokens[-self._keep :] if self._keep else []
        return found

    def reset(self) -> None:
        """Forget the earlier clauses (a new reply starts)."""
        self._tail = []
