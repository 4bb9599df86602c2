"""Native tool calls streamed by an OpenAI-compatible server, read into ToolCalls.

No real server on this machine emits native ``tool_calls`` (see docs/providers.md), so
the reading is checked here on the official client's own delta types."""

from __future__ import annotations

import pytest
from openai.types.chat.chat_completion_chunk import ChoiceDeltaToolCall, ChoiceDeltaToolCallFunction

from parley.errors import ProviderError
from parley.providers.llm.base import ToolSpec
from parley.providers.llm.openai_remote import (
    OpenAICompatibleLLM,
    _PartialCall,
    absorb_tool_deltas,
    tool_choice_of,
    tool_definitions,
)
from parley.providers.remote import Endpoint


def _part(
    index: int, call_id: str | None, name: str | None, args: str | None
) -> ChoiceDeltaToolCall:
    return ChoiceDeltaToolCall(
        index=index, id=call_id, type="function" if call_id else None,
        function=ChoiceDeltaToolCallFunction(name=name, arguments=args),
    )  # fmt: skip


def test_two_parallel_calls_assembled_from_fragments() -> None:
    calls: dict[int, _PartialCall] = {}
    absorb_tool_deltas(
        calls, [_part(0, "call_a", "get_weather", ""), _part(1, "call_b", "get_time", "")]
    )
    absorb_tool_deltas(calls, [_part(0, None, None, '{"city": "Os'), _part(1, None, None, "{}")])
    absorb_tool_deltas(calls, [_part(0, None, None, 'lo"}')])
    llm = OpenAICompatibleLLM("llm:x", Endpoint("http://127.0.0.1:1/v1", "m"))
    first, second = (llm._tool_call(calls[i]) for i in sorted(calls))
    assert (first.call_id, first.name, first.arguments) == (
        "call_a",
        "get_weather",
        {"city": "Oslo"},
    )
    assert (second.call_id, second.name, second.arguments) == ("call_b", "get_time", {})


def test_a_malformed_call_names_the_provider() -> None:
    llm = OpenAICompatibleLLM("llm:x", Endpoint("http://127.0.0.1:1/v1", "m"))
    with pytest.raises(ProviderError, match="llm:x sent a malformed tool call"):
        llm._tool_call(_PartialCall("call_a", "get_weather", '{"city": '))


def test_tools_and_choice_in_openai_form() -> None:
    spec = ToolSpec("get_weather", "Weather", {"type": "object"})
    assert tool_definitions([spec]) == [
        {"type": "function", "function": {"name": "get_weather", "description": "Weather",
                                          "parameters": {"type": "object"}}}
    ]  # fmt: skip
    assert tool_choice_of("auto") == "auto"
    assert tool_choice_of("get_weather") == {
        "type": "function",
        "function": {"name": "get_weather"},
    }
