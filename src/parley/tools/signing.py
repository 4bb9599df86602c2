"""Webhook signatures. Each agent has a signing secret (``whsec_`` + 43 URL-safe
characters); every webhook request carries::

    Parley-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<payload>")>

where the key is the whole secret (UTF-8, prefix included) and ``payload`` is the raw
request body, or for GET and DELETE (no body) the raw query string after ``?``. A
receiver recomputes the HMAC over the bytes it got, compares in constant time, and
rejects timestamps more than 5 minutes off (replays). :func:`verify` does exactly that.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

HEADER = "Parley-Signature"
PREFIX = "whsec_"


def new_secret() -> str:
    """A fresh signing secret."""
    return PREFIX + secrets.token_urlsafe(32)


def _mac(secret: str, timestamp: int, payload: bytes) -> str:
    message = str(timestamp).encode() + b"." + payload
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, now: float) -> str:
    """The ``Parley-Signature`` value for ``body`` sent at ``now`` (unix seconds)."""
    timestamp = int(now)
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def verify(secret: str, header: str, body: bytes, now: float, tolerance_s: float = 300) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` at a time within
    ``tolerance_s`` of ``now``. Several ``v1`` values are allowed (any may match)."""
    timestamp: int | None = None
    macs: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            macs.append(value)
    if timestamp is None or not macs or abs(now - timestamp) > tolerance_s:
        return False
    expected = _mac(secret, timestamp, body).encode()
    return any(hmac.compare_digest(expected, mac.encode()) for mac in macs)
