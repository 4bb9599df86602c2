"""Function calling for models without a native tool format: tools are described in the
system prompt, calls are written as ``<tool_call>{json}</tool_call>`` and read back from
the generated text; results go back as ``tool`` messages in plain text.

A forced call (``tool_choice`` ``required`` or a tool's name) is generated under a JSON
schema (:func:`forced_call_schema`), so it is always well formed.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Sequence
from typing import Any

from parley.providers.llm.base import ChatMessage, ToolCall, ToolChoice, ToolSpec

OPEN, CLOSE = "<tool_call>", "</tool_call>"


def new_call_id() -> str:
    """A fresh id for a tool call (``call_`` + 20 url-safe characters)."""
    return "call_" + secrets.token_urlsafe(15)


def active_tools(tools: Sequence[ToolSpec], choice: ToolChoice) -> list[ToolSpec]:
    """The tools the model may call under ``choice`` (none, all, or the named one)."""
    if choice == "none":
        return []
    if choice in ("auto", "required"):
        return list(tools)
    return [t for t in tools if t.name == choice]


def tool_instructions(tools: Sequence[ToolSpec]) -> str:
    """System-prompt text that tells the model what it may call and how."""
    lines = [
        "You can call these functions when they help answer the user:",
        *(
            json.dumps(
                {"name": t.name, "description": t.description, "parameters": t.parameters},
                separators=(",", ":"),
            )
            for t in tools
        ),
        f'To call one, reply with only {OPEN}{{"name": "...", "arguments": {{...}}}}{CLOSE}.',
    ]
    return "\n".join(lines)


def forced_call_schema(tools: Sequence[ToolSpec]) -> dict[str, Any]:
    """JSON schema of one call to any of ``tools``: ``{"name", "arguments"}``."""
    options = [
        {
            "type": "object",
            "properties": {
                "name": {"const": t.name},
                "arguments": t.parameters or {"type": "object"},
            },
            "required": ["name", "arguments"],
        }
        for t in tools
    ]
    return options[0] if len(options) == 1 else {"anyOf": options}


def parse_call(text: str, tools: Sequence[ToolSpec]) -> ToolCall | None:
    """The call in ``text`` (with or without the tags), if it names one of ``tools``."""
    body = text.strip()
    if body.startswith(OPEN):
        body = body[len(OPEN) :]
    body = body.split(CLOSE, 1)[0].strip()
    try:
        raw = json.loads(body)
    except json.JSONDecodeError:
        return None
    if not isinstance(raw, dict) or raw.get("name") not in {t.name for t in tools}:
        return None
    arguments = raw.get("arguments", {})
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            return None
    if not isinstance(arguments, dict):
        return None
    return ToolCall(new_call_id(), str(raw["name"]), arguments)


def plain_messages(messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]) -> list[ChatMessage]:
    """``messages`` for a model that knows only system/user/assistant text: the tool
    instructions join the system prompt; calls and results become text."""
    out: list[ChatMessage] = []
    for m in messages:
        if m["role"] == "system" and tools and not out:
            out.append(
                {"role": "system", "content": f"{m['content']}\n\n{tool_instructions(tools)}"}
            )
        elif m["role"] == "assistant" and m.get("tool_calls"):
            calls = "".join(
                OPEN
                + json.dumps(
                    {"name": c["function"]["name"], "arguments": c["function"]["arguments"]}
                )
                + CLOSE
                for c in m.get("tool_calls", [])
            )
            out.append({"role": "assistant", "content": f"{m['content']} {calls}".strip()})
        elif m["role"] == "tool":
            out.append({"role": "user", "content": f"Function result: {m['content']}"})
        else:
            out.append({"role": m["role"], "content": m["content"]})
    return out


class CallSniffer:
    """Watches streamed text: holds it back while it could be the start of a tool call,
    then releases it as text or, once the call closes, as a :class:`ToolCall`."""

    def __init__(self, tools: Sequence[ToolSpec]) -> None:
        self._tools = tools
        self._held = ""
        self._decided: bool | None = None  # True: a call; False: plain text

    def push(self, piece: str) -> tuple[str, ToolCall | None]:
        """Text to pass on now, and the call if it is complete."""
        if self._decided is False:
            return piece, None
        self._held += piece
        if self._decided is None:
            start = self._held.lstrip()
            if not start or OPEN.startswith(start):
                return "", None
            if not start.startswith(OPEN):
                self._decided = False
                text, self._held = self._held, ""
                return text, None
            self._decided = True
        if CLOSE in self._held:
            return "", parse_call(self._held, self._tools)
        return "", None

    def finish(self) -> tuple[str, ToolCall | None]:
        """At the end of generation: what is still held, as text or as a call."""
        held, self._held = self._held, ""
        if self._decided:
            call = parse_call(held, self._tools)
            return ("", call) if call is not None else ("", None)
        return held, None


async def read_calls(
    pieces: AsyncIterator[str], tools: Sequence[ToolSpec], choice: ToolChoice
) -> AsyncIterator[str | ToolCall]:
    """The text and calls in a model's output written as this module asks. A forced
    call (``choice`` not ``auto``; generated under :func:`forced_call_schema`) is the
    whole output; otherwise a call may follow nothing but whitespace."""
    if tools and choice != "auto":
        text = "".join([p async for p in pieces])
        call = parse_call(text, tools)
        if call is None:
            raise ValueError(f"the model wrote no valid call to {choice!r}: {text[:200]!r}")
        yield call
        return
    sniffer = CallSniffer(tools) if tools else None
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
