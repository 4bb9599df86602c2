"""Any OpenAI-compatible ``/chat/completions`` server (vLLM, Ollama, llama.cpp's server,
hosted APIs): streamed over SSE. Tools go through the server's own tool calling
(``native``), or, for servers and models without it, through the same prompt and
``<tool_call>`` convention as the local model (``prompt``; a forced call is then
generated under a JSON schema with ``response_format``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from parley.errors import ProviderError
from parley.providers.llm.base import ChatMessage, LanguageModel, ToolCall, ToolChoice, ToolSpec
from parley.providers.llm.tool_calls import (
    active_tools,
    forced_call_schema,
    plain_messages,
    read_calls,
)
from parley.providers.remote import CALL_OBSERVERS, Endpoint, provider_error


@dataclass
class _PartialCall:
    call_id: str = ""
    name: str = ""
    arguments: str = ""


def absorb_tool_deltas(calls: dict[int, _PartialCall], parts: Sequence[Any]) -> None:
    """Add the streamed pieces of tool calls (OpenAI ``delta.tool_calls``) to ``calls``,
    by index: the id and name come once, the arguments' JSON in fragments."""
    for part in parts:
        partial = calls.setdefault(part.index or 0, _PartialCall())
        partial.call_id = part.id or partial.call_id
        if part.function is not None:
            partial.name += part.function.name or ""
            partial.arguments += part.function.arguments or ""


def tool_definitions(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    """Our tool specs in OpenAI's ``tools`` form."""
    return [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
        }
        for t in tools
    ]


def tool_choice_of(choice: ToolChoice) -> Any:
    """Our ``tool_choice`` in OpenAI's form (a tool's name forces that tool)."""
    if choice in ("auto", "none", "required"):
        return choice
    return {"type": "function", "function": {"name": choice}}


class OpenAICompatibleLLM(LanguageModel):
    """Streams chat completions from a remote server; each call has ``timeout_s`` to
    start answering, and as long between two pieces of the answer."""

    def __init__(self, name: str, endpoint: Endpoint, *, tools: str = "native") -> None:
        self.name = name
        self._model, self._timeout, self._tool_mode = endpoint.model, endpoint.timeout_s, tools
        self._client = endpoint.client()

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
        request: dict[str, Any] = {
            "model": self._model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
        }
        if callable_tools and self._tool_mode == "prompt":
            request["messages"] = plain_messages(messages, callable_tools)
            if tool_choice != "auto":
                schema = {"name": "call", "schema": forced_call_schema(callable_tools)}
                request["response_format"] = {"type": "json_schema", "json_schema": schema}
            try:
                async with contextlib.aclosing(self._completion(request)) as pieces:
                    async for item in read_calls(pieces, callable_tools, tool_choice):
                        yield item
            except ValueError as exc:
                raise ProviderError(f"{self.name}: {exc}") from exc
            return
        if callable_tools:
            request["tools"] = tool_definitions(callable_tools)
            request["tool_choice"] = tool_choice_of(tool_choice)
        async for item in self._completion(request):
            yield item

    async def _completion(self, request: dict[str, Any]) -> AsyncGenerator[Any, None]:
        """Stream the reply's text pieces, then the native tool calls it made."""
        started, outcome = time.monotonic(), "error"
        stream: Any = None
        calls: dict[int, _PartialCall] = {}
        try:
            async with asyncio.timeout(self._timeout):
                stream = await self._client.chat.completions.create(**request)
            chunks = aiter(stream)
            while True:
                async with asyncio.timeout(self._timeout):
                    chunk = await anext(chunks, None)
                if chunk is None:
                    break
                for choice in chunk.choices or ():
                    delta = choice.delta
                    if delta is None:
                        continue
                    if delta.content:
                        yield delta.content
                    absorb_tool_deltas(calls, delta.tool_calls or ())
            for index in sorted(calls):
                yield self._tool_call(calls[index])
            outcome = "ok"
        except (GeneratorExit, asyncio.CancelledError):
            outcome = "cancelled"
            raise
        except Exception as exc:
            failure = provider_error(self.name, exc, self._timeout)
            outcome = "timeout" if "did not answer" in failure.message else "error"
            raise failure from exc
        finally:
            if stream is not None:
                await stream.close()
            for observe in CALL_OBSERVERS:
                observe(self.name, outcome, time.monotonic() - started)

    def _tool_call(self, partial: _PartialCall) -> ToolCall:
        try:
            arguments = json.loads(partial.arguments or "{}")
        except json.JSONDecodeError:
            arguments = None
        if not partial.name or not isinstance(arguments, dict):
            call = f"{partial.name!r} {partial.arguments!r}"[:200]
            raise ProviderError(f"{self.name} sent a malformed tool call: {call}")
        return ToolCall(partial.call_id or f"call_{partial.name}", partial.name, arguments)
