"""Reciprocal-rank fusion of rankings, and spoken questions as safe FTS5 queries."""

from __future__ import annotations

import re
from collections.abc import Sequence

RRF_K = 60
MAX_TERMS = 24

# function words that carry no topic in a spoken question ("um, can you tell me ...")
STOPWORDS = frozenset(
    """
    a about above after again all also am an and any are as at be because been before being
    below between both but by can could did do does doing done down during each either else
    ever every few for from further get gets getting give go going gonna got had has have
    having he her here hers herself him himself his how i if in into is it its itself just
    know let like me might mine more most much must my myself need no nor not now of off oh
    ok okay on once only or other our ours ourselves out over own please really right said
    same say says see she should so some such tell than thank thanks that the their theirs
    them themselves then there these they this those through to too um uh under until up us
    very wanna want was we well were what whats when where whether which while who whom
    whose why will with would yeah yes yet you your yours yourself yourselves hello hi hey
    """.split()  # noqa: SIM905
)


def fuse(
    rankings: Sequence[Sequence[int]], *, k: int = RRF_K, limit: int
) -> list[tuple[int, float]]:
    """Fuse best-first rankings of ids: score = sum of 1 / (k + rank), rank from 1.

    Ties go to the id with the better best rank, then to the earlier ranking.
    """
    scores: dict[int, float] = {}
    best: dict[int, tuple[int, int]] = {}
    for which, ranking in enumerate(rankings):
        seen: set[int] = set()
        for rank, item in enumerate(ranking, start=1):
            if item in seen:
                continue  # a ranking that repeats an id counts it once, at its best rank
            seen.add(item)
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
            best[item] = min(best.get(item, (rank, which)), (rank, which))
    ordered = sorted(scores, key=lambda item: (-scores[item], best[item]))
    return [(item, scores[item]) for item in ordered[: max(limit, 0)]]


def topic_words(text: str) -> list[str]:
    """The words of ``text`` that carry its topic: letters and digits, two or more
    characters (or a digit), lowercased, stopwords dropped, each once, at most
    ``MAX_TERMS``."""
    terms: list[str] = []
    for word in re.findall(r"[^\W_]+", text.lower()):
        if (len(word) < 2 and not word.isdigit()) or word in STOPWORDS or word in terms:
            continue
        terms.append(word)
        if len(terms) == MAX_TERMS:
            break
    return terms


def fts_query(text: str) -> str | None:
    """A SQLite FTS5 MATCH expression for ``text`` that cannot be a syntax error: its
    :func:`topic_words`, each double-quoted, joined with OR; None if there are none."""
    terms = topic_words(text)
    if not terms:
        return None
    return " OR ".join(f'"{term}"' for term in terms)
