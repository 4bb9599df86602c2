"""The part of a passage worth giving a small LLM: the sentences that share words with
the caller's question, in their order, up to a word budget.

Every word of context costs prefill time before the first word of the answer (on the
CPU, roughly 10 ms per token for the embedded 0.5B model), and a small model answers
better from a few relevant sentences than from a whole chunk.
"""

from __future__ import annotations

import re

from parley.knowledge.fusion import topic_words

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=\S)|\n+")
MAX_WORDS = 90


def _stem(word: str) -> str:
    """A crude shared prefix (``returns``/``returned`` → ``retur``), enough to match
    a question's words with a passage's."""
    return word[:5] if len(word) > 5 else word


def excerpt(text: str, question: str, max_words: int = MAX_WORDS) -> str:
    """The sentences of ``text`` richest in ``question``'s topic words, then their
    neighbours (a fact often follows the sentence that names its subject), in their
    order, at most ``max_words`` words (the first sentence taken is kept whole)."""
    sentences = [s.strip() for s in _SENTENCE.split(text) if s.strip()]
    if not sentences:
        return ""
    wanted = {_stem(w) for w in topic_words(question)}
    scores = [len(wanted & {_stem(w) for w in topic_words(s)}) for s in sentences]
    best = max(range(len(sentences)), key=lambda i: (scores[i], -i))
    order = sorted(range(len(sentences)), key=lambda i: (-scores[i], abs(i - best), i))
    chosen: list[int] = []
    words = 0
    for i in order:
        size = len(sentences[i].split())
        if chosen and words + size > max_words:
            continue
        chosen.append(i)
        words += size
    return " ".join(sentences[i] for i in sorted(chosen))
