"""The embedded LLM's weights: joined once from their chunk packages, checked, and the
model answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from parley.config import Settings
from parley.providers.llm.base import ChatMessage
from parley.providers.llm.qwen_weights import FILE_NAME, SIZE, qwen_path
from parley.providers.pool import ProviderPool

pytestmark = pytest.mark.integration


async def test_the_weights_are_joined_once_and_the_model_answers(tmp_path: Path) -> None:
    path = qwen_path(tmp_path)
    assert path.stat().st_size == SIZE and path.parent == tmp_path
    mtime = path.stat().st_mtime_ns
    assert qwen_path(tmp_path) == path and path.stat().st_mtime_ns == mtime, "not joined again"
    pool = ProviderPool.from_settings(Settings(data_dir=tmp_path / "data", models_dir=tmp_path))
    llm = await pool.load("llm:llama-local")
    messages: list[ChatMessage] = [
        {"role": "system", "content": "Answer in one short sentence."},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    answer = "".join([p async for p in llm.stream(messages, max_tokens=24, temperature=0.0)])
    assert "Paris" in answer
    pool.close()


def test_a_cut_off_file_is_joined_again(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).write_bytes(b"GGUF" + bytes(100))
    assert qwen_path(tmp_path).stat().st_size == SIZE
