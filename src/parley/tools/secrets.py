"""Server secrets in webhook headers: ``{{secret.NAME}}`` is replaced, when the call is
made, by the environment variable ``PARLEY_SECRET_NAME`` of the server. Secret values
never reach the LLM, the API or the logs; only their names appear in messages."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

ENV_PREFIX = "PARLEY_SECRET_"
_REFERENCE = re.compile(r"\{\{\s*secret\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class MissingSecret(LookupError):
    """A referenced secret is not set on the server (``env`` is the variable's name)."""

    def __init__(self, env: str) -> None:
        self.env = env
        super().__init__(f"the server has no secret {env}")


def env_name(name: str) -> str:
    """The environment variable holding secret ``name``."""
    return ENV_PREFIX + name


def secret_names(text: str) -> list[str]:
    """The secret names ``text`` refers to, in order, each once."""
    return list(dict.fromkeys(_REFERENCE.findall(text)))


def resolve(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with each ``{{secret.NAME}}`` replaced by its value; raises
    :class:`MissingSecret` if one is unset or empty."""
    env = os.environ if environ is None else environ

    def one(found: re.Match[str]) -> str:
        key = env_name(found.group(1))
        value = env.get(key)
        if not value:
            raise MissingSecret(key)
        return value

    return _REFERENCE.sub(one, text)


def missing_secrets(defns: Iterable[Any], environ: Mapping[str, str] | None = None) -> list[str]:
    """The environment variables that the webhook headers of ``defns`` need and the
    server lacks (sorted; empty: all set). Anything without ``webhook.headers`` is
    skipped."""
    env = os.environ if environ is None else environ
    needed: set[str] = set()
    for defn in defns:
        webhook = getattr(defn, "webhook", None)
        for value in getattr(webhook, "headers", {}).values():
            needed.update(env_name(n) for n in secret_names(value))
    return sorted(k for k in needed if not env.get(k))
