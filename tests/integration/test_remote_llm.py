"""The remote LLM provider against real servers: llama.cpp's own OpenAI-compatible HTTP
server running the embedded model on this machine, and nginx answering the ways a model server
fails (HTTP 500, a broken event stream)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from parley.errors import ProviderError
from parley.providers.llm.base import ChatMessage, ToolCall, ToolSpec
from parley.providers.llm.openai_remote import OpenAICompatibleLLM
from parley.providers.remote import Endpoint
from parley.testing.llama_server import running_llama_server
from parley.testing.nginx import nginx_available, running_nginx
from parley.testing.server import free_port

pytestmark = pytest.mark.integration

QUESTION: list[ChatMessage] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "What is the capital of France?"},
]
WEATHER = ToolSpec(
    "get_weather",
    "Current weather in a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
FAILURES = """
        location /error500/ {
            default_type application/json;
            return 500 '{"error": {"message": "the model crashed", "type": "server_error"}}';
        }
        location /badstream/ {
            default_type text/event-stream;
            return 200 "data: {this is not json\\n\\n";
        }
"""
needs_nginx = pytest.mark.skipif(not nginx_available(), reason="nginx is not installed")


@pytest.fixture(scope="module")
def llama_url() -> Iterator[str]:
    with running_llama_server("--parallel", "2") as url:
        yield url


@pytest.fixture(scope="module")
def failing_url() -> Iterator[str]:
    if not nginx_available():
        pytest.skip("nginx is not installed (apt-get install nginx)")
    with running_nginx(FAILURES) as url:
        yield url


def _llm(
    base_url: str,
    name: str = "llm:remote",
    *,
    tools: str = "native",
    timeout_s: float = 30.0,
    max_retries: int = 2,
) -> OpenAICompatibleLLM:
    endpoint = Endpoint(base_url, "local-model", None, timeout_s, max_retries)
    return OpenAICompatibleLLM(name, endpoint, tools=tools)


async def test_the_reply_streams_in_pieces(llama_url: str) -> None:
    pieces = [p async for p in _llm(llama_url).stream(QUESTION, max_tokens=32, temperature=0.0)]
    assert len(pieces) > 3 and all(isinstance(p, str) for p in pieces)
    assert "Paris" in "".join(pieces)


async def test_prompt_mode_forced_tool_call_is_well_formed(llama_url: str) -> None:
    llm = _llm(llama_url, tools="prompt")
    messages: list[ChatMessage] = [{"role": "user", "content": "What's the weather in Oslo?"}]
    items = [
        i
        async for i in llm.stream(
            messages, max_tokens=64, temperature=0.0, tools=[WEATHER], tool_choice="get_weather"
        )
    ]
    (call,) = items
    assert isinstance(call, ToolCall) and call.name == "get_weather"
    assert isinstance(call.arguments.get("city"), str)


async def test_closing_the_stream_stops_it_and_the_server_goes_on(llama_url: str) -> None:
    llm = _llm(llama_url)
    long: list[ChatMessage] = [{"role": "user", "content": "Count from one to a hundred."}]
    stream = llm.stream(long, max_tokens=400, temperature=0.0)
    first = await anext(stream)
    await stream.aclose()  # a barge-in
    assert first
    again = [p async for p in llm.stream(QUESTION, max_tokens=16, temperature=0.0)]
    assert again


async def test_a_slow_server_is_a_timeout_naming_the_provider(llama_url: str) -> None:
    long_prompt: list[ChatMessage] = [
        {"role": "system", "content": "You answer questions about numbers. " * 150},
        {"role": "user", "content": "Which number comes after forty-one?"},
    ]
    llm = _llm(llama_url, name="llm:slow", timeout_s=0.25, max_retries=0)
    started = time.monotonic()
    with pytest.raises(ProviderError, match=r"llm:slow did not answer within 0\.25 s"):
        [p async for p in llm.stream(long_prompt, max_tokens=8, temperature=0.0)]
    assert time.monotonic() - started < 5.0, "the deadline covers the whole call"


async def test_a_dead_server_cannot_be_reached_after_retries() -> None:
    llm = _llm(f"http://127.0.0.1:{free_port()}/v1", name="llm:dead", max_retries=2)
    with pytest.raises(ProviderError, match="llm:dead cannot be reached"):
        [p async for p in llm.stream(QUESTION, max_tokens=8, temperature=0.0)]


@needs_nginx
async def test_an_error_answer_names_the_provider_and_status(failing_url: str) -> None:
    llm = _llm(f"{failing_url}/error500/v1", name="llm:broken", max_retries=1)
    with pytest.raises(ProviderError, match="llm:broken answered HTTP 500: the model crashed"):
        [p async for p in llm.stream(QUESTION, max_tokens=8, temperature=0.0)]


@needs_nginx
async def test_a_malformed_stream_cannot_be_used(failing_url: str) -> None:
    llm = _llm(f"{failing_url}/badstream/v1", name="llm:garbled", max_retries=0)
    with pytest.raises(ProviderError, match="llm:garbled sent an answer that cannot be used"):
        [p async for p in llm.stream(QUESTION, max_tokens=8, temperature=0.0)]


async def test_sessions_stream_at_once_from_parallel_slots(llama_url: str) -> None:
    llm = _llm(llama_url)

    async def ask() -> str:
        return "".join([p async for p in llm.stream(QUESTION, max_tokens=24, temperature=0.0)])

    replies = await asyncio.gather(ask(), ask(), ask())
    assert all(replies)
