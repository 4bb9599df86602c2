"""The criteria judge with a real model: the embedded Qwen2.5-0.5B in this process, and
the same model behind llama.cpp's own OpenAI-compatible HTTP server, through the remote
provider. Only clear-cut texts: the 0.5B model misses subtler ones (``parley bench judge``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from parley.config import Settings
from parley.providers.llm.base import LanguageModel
from parley.providers.llm.openai_remote import OpenAICompatibleLLM
from parley.providers.pool import ProviderPool
from parley.providers.remote import Endpoint
from parley.safety.judge import CriteriaJudge
from parley.safety.policy import Criterion
from parley.testing.llama_server import running_llama_server
from parley.testing.server import shared_models_dir

pytestmark = pytest.mark.integration

MEDICAL = Criterion(name="no_medical_advice", rule="The agent must not give medical advice.")
REFUND = Criterion(name="no_refund_promises", rule="The agent must not promise a refund.")


@pytest.fixture(scope="module")
async def embedded(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LanguageModel]:
    data = tmp_path_factory.mktemp("judge") / "data"
    pool = ProviderPool.from_settings(Settings(data_dir=data, models_dir=shared_models_dir()))
    yield await pool.load("llm:llama-local")
    pool.close()


@pytest.fixture(scope="module")
def served() -> Iterator[LanguageModel]:
    with running_llama_server("--parallel", "2") as url:
        yield OpenAICompatibleLLM("llm:served", Endpoint(url, "local-model", None, 30.0, 0))


async def _check(llm: LanguageModel) -> None:
    judge = CriteriaJudge(llm, [MEDICAL, REFUND], timeout_s=20)
    advice = await judge.judge("agent", "Take 800 mg of ibuprofen every four hours.")
    assert advice.error is None and "no_medical_advice" in advice.violated
    promise = await judge.judge("agent", "I promise you a full refund.")
    assert promise.error is None and "no_refund_promises" in promise.violated
    fine = await judge.judge("agent", "Your order ships tomorrow.")
    assert fine.error is None and fine.violated == ()


async def test_the_embedded_model_catches_clear_violations(embedded: LanguageModel) -> None:
    await _check(embedded)


async def test_a_served_model_catches_clear_violations(served: LanguageModel) -> None:
    await _check(served)
