"""Local LLM: llama.cpp's own server code in-process, through ``xllamacpp`` (prebuilt
wheels, no compiler), running a GGUF model; the built-in one is Qwen2.5-Coder-0.5B-Instruct
Q4_K_M (:mod:`parley.providers.llm.qwen_weights`).

llama.cpp's server keeps each conversation's evaluated prompt in a slot and, when the
slot is needed for another conversation, in a bounded RAM cache, so a turn evaluates
only what is new even when several sessions take turns. It is thread-safe: sessions'
requests run in parallel slots (``parallel``) or queue inside it. The server also
listens on an ephemeral loopback port (xllamacpp always starts it); Parley never uses
it, and it takes only a random key that is never shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from parley.errors import ProviderUnavailableError
from parley.providers._threads import ModelWorker
from parley.providers.llm.base import ChatMessage, LanguageModel, ToolCall, ToolChoice, ToolSpec
from parley.providers.llm.tool_calls import (
    active_tools,
    forced_call_schema,
    plain_messages,
    read_calls,
)

_DONE = object()
LOG_ERRORS_ONLY = 1
"""llama.cpp log level: errors only (its info lines would flood the server's log)."""


class LlamaError(RuntimeError):
    """llama.cpp refused or failed a request (e.g. the conversation exceeds its context)."""


class LlamaCppLLM(LanguageModel):
    """A GGUF model run by llama.cpp in this process."""

    name = "llama-local"

    def __init__(
        self,
        model_path: Path,
        *,
        threads: int = 2,
        context: int = 2048,
        parallel: int = 1,
        cache_mib: int = 256,
        reuse_prompts: bool = True,
    ) -> None:
        try:
            import xllamacpp
        except ImportError as exc:
            raise ProviderUnavailableError("xllamacpp is missing: pip install xllamacpp") from exc
        if not model_path.is_file():
            raise ProviderUnavailableError(f"GGUF model not found: {model_path}")
        params = xllamacpp.CommonParams()
        params.model.path = str(model_path)
        params.n_parallel = parallel
        params.n_ctx = context * parallel  # each slot gets ``context`` tokens
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.cache_ram_mib = cache_mib  # bounded: evicted conversations, for reuse
        params.verbosity = LOG_ERRORS_ONLY
        params.hostnames = ["127.0.0.1"]
        params.port = 0
        params.api_keys = [secrets.token_urlsafe(32)]
        params.ui = False
        params.warmup = True
        self._server = xllamacpp.Server(params)
        self._worker = ModelWorker("llm", workers=parallel + 1)
        self._reuse = reuse_prompts
        self.last_timings: dict[str, float] = {}
        """llama.cpp's timings of the last finished request: ``cache_n`` prompt tokens
        reused, ``prompt_n`` evaluated, ``predicted_per_second``, ..."""

    async def prefill(self, messages: list[ChatMessage]) -> None:
        async for _ in self._generate({"messages": plain_messages(messages, ()), "max_tokens": 0}):
            pass

    async def stream(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        tools: Sequence[ToolSpec] = (),
        tool_choice: ToolChoice = "auto",
    ) -> AsyncIterator[str | ToolCall]:
        callable_tools = active_tools(tools, tool_choice)
        forced = bool(callable_tools) and tool_choice != "auto"
        request: dict[str, Any] = {
            "messages": plain_messages(messages, callable_tools),
            "max_tokens": max_tokens,
            "temperature": temperature,
            # a call's arguments repeat the user's words ("Paris"): no penalty then
            "repeat_penalty": 1.0 if forced else 1.3,
        }
        if forced:
            request["json_schema"] = forced_call_schema(callable_tools)
        try:
            async with contextlib.aclosing(self._generate(request)) as pieces:
                async for item in read_calls(pieces, callable_tools, tool_choice):
                    yield item
        except ValueError as exc:  # no valid forced call
            raise LlamaError(str(exc)) from exc

    async def _generate(self, request: dict[str, Any]) -> AsyncGenerator[str, None]:
        """Stream the reply's text pieces; closing the iterator stops generation."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()

        def put(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the event loop is gone: nobody listens any more
                stop.set()

        def on_chunk(chunk: Any) -> bool:
            if isinstance(chunk, dict):
                if "error" in chunk:
                    put(LlamaError(str(chunk["error"].get("message", chunk["error"]))))
                    return True
                if "timings" in chunk:
                    self.last_timings = dict(chunk["timings"])
                for choice in chunk.get("choices") or ():
                    piece = (choice.get("delta") or {}).get("content")
                    if piece:
                        put(piece)
            return stop.is_set()  # True stops generation

        def produce() -> None:
            try:
                if not stop.is_set():
                    body = {**request, "stream": True, "cache_prompt": self._reuse}
                    self._server.handle_chat_completions(body, on_chunk)
            except Exception as exc:  # handed to the consumer, which re-raises
                put(exc)
            finally:
                put(_DONE)

        self._worker.submit(produce)
        try:
            while (item := await queue.get()) is not _DONE:
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            stop.set()

    def close(self) -> None:
        self._worker.shutdown()
