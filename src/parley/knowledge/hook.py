"""Grounding each reply in the agent's knowledge bases, as a turn hook.

Retrieval starts on the speculative transcript during the end-of-turn silence, so by
the time the turn ends the passages are usually there; before the LLM call the best
ones go into the caller's message with their sources (for this LLM call only: the
conversation keeps the caller's own words), and the turn cites them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from parley.core.hooks import TurnHook, TurnInfo
from parley.knowledge.excerpt import excerpt
from parley.knowledge.retrieval import Found, Passage, Retriever
from parley.providers.llm.base import ChatMessage

log = logging.getLogger(__name__)

MIN_SIMILARITY = 0.80
"""A passage the full-text search did not find goes into the context only if its
cosine similarity to the question is at least this (e5 similarities of unrelated
text sit around 0.70-0.78)."""

GROUNDING = (
    "Passages from the knowledge base:\n{passages}\n\nAnswer from these passages when "
    "they are relevant, with their exact numbers and names; do not guess.\n\n"
    "Question: {question}"
)


def grounding(passages: Sequence[Passage], question: str) -> str:
    """The caller's ``question`` with ``passages`` and their sources before it (small
    models follow context best in the user's own message)."""
    lines = []
    for i, p in enumerate(passages, 1):
        # the section's own name is the source a caller may hear: a small model tends to
        # read out whatever stands before the text, and a heading path reads badly
        source = p.heading.rsplit(" > ", 1)[-1] if p.heading else p.title
        lines.append(f"[{i}] {source}: {excerpt(p.text, question)}")
    return GROUNDING.format(passages="\n".join(lines), question=question)


def relevant(found: Found, k: int) -> list[Passage]:
    """The passages worth giving the LLM: found by words, or close in meaning."""
    keep = [p for p in found.passages if p.text_match or p.similarity >= MIN_SIMILARITY]
    return keep[:k]


class KnowledgeHook(TurnHook):
    """Retrieves passages of ``kb_ids`` for each user turn and adds them to the context."""

    name = "retrieval"

    def __init__(self, retriever: Retriever, kb_ids: Sequence[str], k: int = 2) -> None:
        self._retriever, self._kb_ids, self._k = retriever, tuple(kb_ids), k
        self._early: dict[str, asyncio.Task[Found]] = {}
        """Searches started on speculative transcripts, by text (at most a few)."""

    def _search(self, text: str) -> asyncio.Task[Found]:
        task = self._early.get(text)
        if task is None:
            task = asyncio.create_task(self._retriever.search(self._kb_ids, text, self._k * 2))
            self._early[text] = task
            while len(self._early) > 4:
                old = next(iter(self._early))
                self._early.pop(old).cancel()
        return task

    def on_speculative_transcript(self, turn: TurnInfo, text: str) -> None:
        self._search(text)

    async def on_context(self, turn: TurnInfo, messages: list[ChatMessage]) -> list[ChatMessage]:
        question = _last_user(messages)
        if question is None:
            return messages
        try:
            found = await self._search(question)
        except Exception:
            log.exception("retrieval failed; answering without the knowledge base")
            self._early.pop(question, None)
            return messages
        turn.stages["retrieval"] = found.took_ms
        passages = relevant(found, self._k)
        turn.cite([p.citation() for p in passages])
        if not passages:
            return messages
        grounded: ChatMessage = {"role": "user", "content": grounding(passages, question)}
        return [*messages[:-1], grounded]


def _last_user(messages: Sequence[ChatMessage]) -> str | None:
    """The text of the last message if it is the user's."""
    if not messages:
        return None
    last: dict[str, Any] = dict(messages[-1])
    content = last.get("content")
    return content if last.get("role") == "user" and isinstance(content, str) else None
