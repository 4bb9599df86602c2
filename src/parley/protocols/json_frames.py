"""The first steps of every JSON codec: one text frame → one JSON object, with the size
limit; base64 audio fields; and pydantic's first validation problem → Parley's
:class:`ValidationError`."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from parley.errors import AudioError, PayloadTooLargeError, ValidationError

_UNION_TAG = re.compile(r"[\[(]|^(literal|int|float|str|bool|none|list|dict)$")
"""Union-member tags pydantic puts into an error's location, e.g. ``literal['inf']``."""


def frame_object(frame: str | bytes, *, max_bytes: int, binary_hint: str) -> dict[str, Any]:
    """Parse ``frame`` as a JSON object of at most ``max_bytes`` UTF-8 bytes.

    Raises :class:`~parley.errors.ValidationError` for binary frames (``binary_hint``
    says what to send instead), oversized frames, malformed or too deeply nested JSON,
    and JSON that is not an object.
    """
    if isinstance(frame, bytes):
        raise ValidationError(f"binary frames are not supported: {binary_hint}")
    size = len(frame) if frame.isascii() else len(frame.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise PayloadTooLargeError(
            f"message of {size} bytes exceeds the limit of {max_bytes} bytes"
        )
    try:
        raw = json.loads(frame)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"malformed JSON: {exc.msg} at position {exc.pos}") from None
    except RecursionError:
        raise ValidationError("malformed JSON: nested too deeply") from None
    if not isinstance(raw, dict):
        raise ValidationError("a message must be a JSON object")
    return raw


def decode_base64(text: str, *, what: str, param: str) -> bytes:
    """The bytes of a base64 field; AudioError ``"{what} is not valid base64"`` if it is not."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise AudioError(f"{what} is not valid base64", param=param) from None


class ValidationProblems(Protocol):
    """What pydantic's and FastAPI's validation errors have in common."""

    def errors(self) -> Sequence[Any]: ...


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One validation problem: where (union-member tags left out), what, and the input."""

    loc: tuple[int | str, ...]
    msg: str
    """pydantic's message, without its ``Value error, `` prefix."""
    kind: str
    """pydantic's error type, e.g. ``missing`` or ``int_parsing``."""
    input: Any = None

    def path(self, *, prefix: str = "", brackets: bool = False) -> str:
        """``field.sub.0``, or ``field.sub[0]`` with ``brackets``, below ``prefix``."""
        path = prefix
        for part in self.loc:
            if brackets and isinstance(part, int):
                path += f"[{part}]"
            else:
                path = f"{path}.{part}" if path else str(part)
        return path


def first_problem(
    exc: ValidationProblems, *, skip: int = 0, tags: frozenset[str] = frozenset()
) -> FieldProblem:
    """The first problem of a validation error; ``skip`` leading location parts (a
    discriminator's tag, FastAPI's ``body``/``query``/``path``) are left out, and so is
    a list item's discriminator tag (one of ``tags`` right after an index)."""
    err: Mapping[str, Any] = exc.errors()[0]
    loc = tuple(err.get("loc", ()))[skip:]
    loc = tuple(p for p in loc if isinstance(p, int) or not _UNION_TAG.search(p))
    loc = tuple(
        p for i, p in enumerate(loc) if not (p in tags and i and isinstance(loc[i - 1], int))
    )
    msg = str(err.get("msg", "")).removeprefix("Value error, ")
    return FieldProblem(loc, msg, str(err.get("type", "")), err.get("input"))


def first_error(
    exc: ValidationProblems,
    *,
    prefix: str = "",
    skip: int = 0,
    fallback: str = "",
    tags: frozenset[str] = frozenset(),
) -> ValidationError:
    """The first problem as Parley's ValidationError: ``"{prefix}field.path: msg"`` with
    ``param`` the path (``fallback`` when the problem is the whole object; None if empty).
    ``tags``: see :func:`first_problem`."""
    problem = first_problem(exc, skip=skip, tags=tags)
    path = problem.path() or fallback
    where = f"{path}: " if path else ""
    return ValidationError(f"{prefix}{where}{problem.msg}", param=path or None)
