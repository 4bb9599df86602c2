"""The first step of every JSON-over-WebSocket codec: one text frame → one JSON object,
with the size limit and precise validation errors."""

from __future__ import annotations

import json
from typing import Any

from parley.errors import ValidationError


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
        raise ValidationError(f"message of {size} bytes exceeds the limit of {max_bytes}")
    try:
        raw = json.loads(frame)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"malformed JSON: {exc.msg} at position {exc.pos}") from None
    except RecursionError:
        raise ValidationError("malformed JSON: nested too deeply") from None
    if not isinstance(raw, dict):
        raise ValidationError("a message must be a JSON object")
    return raw
