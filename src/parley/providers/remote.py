"""What the OpenAI-compatible remote providers share: one pooled client per provider,
the time budget of a call, and errors that name the provider.

The official ``openai`` client does the HTTP: connection pooling, retries of connect
errors, 429 and 5xx answers with exponential backoff, and SSE parsing. Each provider
adds a deadline (``timeout_s``) over the whole call, retries included, so a turn never
waits longer than that for a dead or slow server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from parley.errors import ProviderError

CallObserver = Callable[[str, str, float], None]
"""Called with (provider, outcome, seconds) after every call (metrics)."""
CALL_OBSERVERS: list[CallObserver] = []


@dataclass(frozen=True)
class Endpoint:
    """Where a remote provider is: its server, model, key and the time budget of a call."""

    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    timeout_s: float = 30.0
    max_retries: int = 2

    def client(self) -> Any:
        """A pooled client of the server."""
        from openai import AsyncOpenAI

        return AsyncOpenAI(
            base_url=self.base_url,
            api_key=self.api_key or "none",  # servers without keys ignore it
            timeout=self.timeout_s,
            max_retries=self.max_retries,
        )


def provider_error(name: str, exc: BaseException, timeout_s: float) -> ProviderError:
    """What went wrong with a call to provider ``name``, for the client and the log."""
    import openai

    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, TimeoutError | openai.APITimeoutError):
        return ProviderError(f"{name} did not answer within {timeout_s:g} s")
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError(f"{name} cannot be reached: {exc.__cause__ or exc}")
    if isinstance(exc, openai.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        detail = str(body.get("message") or exc.message)[:200]
        return ProviderError(f"{name} answered HTTP {exc.status_code}: {detail}")
    return ProviderError(
        f"{name} sent an answer that cannot be used ({type(exc).__name__}: {exc})"[:300]
    )


@asynccontextmanager
async def call(name: str, timeout_s: float) -> AsyncIterator[None]:
    """One call to provider ``name``: at most ``timeout_s`` in all; any failure becomes
    a :class:`ProviderError` naming the provider; the outcome is observed."""
    started = time.monotonic()
    outcome = "error"
    try:
        async with asyncio.timeout(timeout_s):
            yield
        outcome = "ok"
    except asyncio.CancelledError:
        outcome = "cancelled"
        raise
    except Exception as exc:
        failure = provider_error(name, exc, timeout_s)
        outcome = "timeout" if "did not answer" in failure.message else "error"
        raise failure from exc
    finally:
        for observe in CALL_OBSERVERS:
            observe(name, outcome, time.monotonic() - started)


async def reachable(base_url: str, timeout_s: float = 2.0) -> bool:
    """True if an HTTP server answers at ``base_url`` (any status: it is there)."""
    import httpx

    try:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            await client.get(base_url.rstrip("/") + "/models")
    except (httpx.HTTPError, OSError):
        return False
    return True
