"""How long a rate-limited client should wait, as an HTTP header."""

from __future__ import annotations

import math


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
