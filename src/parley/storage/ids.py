"""Random, prefixed identifiers such as ``agt_…``, ``ses_…`` and ``key_…``."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_lowercase + string.digits
_LENGTH = 24


def new_id(prefix: str) -> str:
    """Return ``prefix`` + ``"_"`` + 24 random lowercase alphanumeric characters."""
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH))
