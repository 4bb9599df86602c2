"""Request checks the REST routers share: single-line text, no booleans as numbers, metadata
limits, JSON Schema."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from pydantic import BeforeValidator
from pydantic.json_schema import SkipJsonSchema

from parley.errors import ValidationError
from parley.single_line import line_problem

MAX_METADATA_BYTES = 16_384
METADATA_SCHEMA: dict[str, Any] = {"maxProperties": 50, "propertyNames": {"maxLength": 64}}


def _not_bool(value: Any) -> Any:
    """JSON ``true`` is not a number (pydantic would read it as 1)."""
    if isinstance(value, bool):
        raise ValueError("Input should be a number, not a boolean")
    return value


NoBool = BeforeValidator(_not_bool)
NoNull = SkipJsonSchema[None]
"""Optional in a PATCH, but ``null`` is not a value (the schema says so; the handler 422s)."""


def check_metadata(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """At most 50 keys of up to 64 characters, each one line, at most 16 KB as JSON."""
    if value is None:
        return None
    if len(value) > 50:
        raise ValueError("metadata holds at most 50 keys")
    if any(len(k) > 64 for k in value):
        raise ValueError("metadata keys are at most 64 characters")
    for key in value:
        problem = line_problem(key)
        if problem is not None:
            raise ValueError(f"metadata keys {problem}")
    if len(json.dumps(value)) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata is larger than {MAX_METADATA_BYTES} bytes")
    return value


class NonFinite:
    """``NaN``, ``Infinity`` or ``-Infinity`` where the parser met it."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


def text_problem(text: str) -> str | None:
    """Why ``text`` may not be stored (NUL, a lone surrogate), or None."""
    if "\x00" in text:
        return "must not contain NUL (\\u0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "must not contain a lone surrogate (\\ud800-\\udfff): it is not Unicode"
    return None


def _problem(value: Any) -> str | None:
    if isinstance(value, NonFinite):
        return f"{value.name} is not a JSON number"
    if isinstance(value, float) and not math.isfinite(value):
        return "the number is too large for a 64-bit float"
    if isinstance(value, str):
        return text_problem(value)
    if isinstance(value, dict):
        for key in value:
            problem = text_problem(key)
            if problem is not None:
                return f"a key {problem}"
    return None


def value_problem(document: Any, prefix: str = "") -> ValidationError | None:
    """The first value of a parsed JSON ``document`` that is unsafe to store (NUL, a lone
    surrogate, a non-finite number), as a 422 whose ``param`` is its path below
    ``prefix``; None when there is none."""
    stack: list[tuple[Any, str]] = [(document, prefix)]
    while stack:
        value, path = stack.pop()
        problem = _problem(value)
        if problem is not None:
            where = path or "the request body"
            return ValidationError(f"{where}: {problem}", param=path or None)
        if isinstance(value, dict):
            items: Iterable[tuple[Any, Any]] = value.items()
        elif isinstance(value, list):
            items = enumerate(value)
        else:
            continue
        children = [(child, f"{path}.{key}" if path else str(key)) for key, child in items]
        stack.extend(reversed(children))
    return None
