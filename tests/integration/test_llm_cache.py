"""The local LLM's prompt reuse: a turn evaluates only what is new even when sessions take
turns on the one model (the real embedded LLM through llama.cpp).

Reuse is not bit-exact: llama.cpp evaluates a reused prefix in other batch sizes than a
fresh one, so greedy replies may part after some tokens (llama.cpp documents this for
``cache_prompt``); the first turn of each session, with nothing to reuse, is identical."""

from __future__ import annotations

import pytest

from parley.providers.llm.base import ChatMessage
from parley.providers.llm.llama_local import LlamaCppLLM
from parley.providers.llm.qwen_weights import qwen_path
from parley.testing.server import shared_models_dir

pytestmark = pytest.mark.integration


async def _two_sessions(llm: LlamaCppLLM) -> tuple[list[str], list[dict[str, float]]]:
    a: list[ChatMessage] = [{"role": "system", "content": "Be brief. " * 20}]
    b: list[ChatMessage] = [{"role": "system", "content": "You are a pirate. " * 20}]
    replies, timings = [], []
    for i in range(2):
        for conversation in (a, b):  # two sessions taking turns on one model
            conversation.append({"role": "user", "content": f"Tell me about number {i}."})
            tokens = [t async for t in llm.stream(conversation, max_tokens=20, temperature=0.0)]
            conversation.append({"role": "assistant", "content": "".join(tokens)})
            replies.append("".join(tokens))
            timings.append(llm.last_timings)
    return replies, timings


async def test_reused_prompts_change_nothing_and_evaluate_only_the_new_turn() -> None:
    model = qwen_path(shared_models_dir())
    reused, fresh = LlamaCppLLM(model), LlamaCppLLM(model, reuse_prompts=False)
    try:
        (with_cache, timings), (without, fresh_timings) = (
            await _two_sessions(reused),
            await _two_sessions(fresh),
        )
        assert with_cache[:2] == without[:2]
        first_round, second_round = timings[:2], timings[2:]
        for before, after in zip(first_round, second_round, strict=True):
            whole_first_prompt = before["cache_n"] + before["prompt_n"]
            assert after["cache_n"] >= whole_first_prompt, "each session's prefix came back"
        assert all(t["prompt_n"] < 40 for t in second_round), "only the new turn was evaluated"
        assert all(t["cache_n"] == 0 for t in fresh_timings)
    finally:
        reused.close()
        fresh.close()
