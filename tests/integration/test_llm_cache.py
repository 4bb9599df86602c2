"""The LLM prompt-state cache: same answers, bounded memory (real SmolLM2)."""

from __future__ import annotations

import pytest

from parley.providers.llm.base import ChatMessage
from parley.providers.llm.llama_local import LlamaCppLLM

pytestmark = pytest.mark.integration


async def _two_sessions(llm: LlamaCppLLM) -> list[str]:
    a: list[ChatMessage] = [{"role": "system", "content": "Be brief."}]
    b: list[ChatMessage] = [{"role": "system", "content": "You are a pirate."}]
    replies = []
    for i in range(2):
        for conversation in (a, b):  # two sessions taking turns on one model
            conversation.append({"role": "user", "content": f"Tell me about number {i}."})
            tokens = [t async for t in llm.stream(conversation, max_tokens=20, temperature=0.0)]
            conversation.append({"role": "assistant", "content": "".join(tokens)})
            replies.append("".join(tokens))
    return replies


async def test_cache_changes_nothing_but_keeps_only_one_row_of_logits() -> None:
    cached, uncached = LlamaCppLLM(), LlamaCppLLM(cache_bytes=1)
    try:
        assert await _two_sessions(cached) == await _two_sessions(uncached)
        states = list(cached._llm.cache.cache_state.values())  # type: ignore[union-attr]
        assert states, "conversations were cached"
        assert all(state.scores.shape[0] == 1 for state in states)
    finally:
        cached.close()
        uncached.close()
