"""API keys for REST (Bearer header) and WebSockets (query or header); per-key rate limits.

Two kinds of key: secret (``sk_live_``) for the REST API, and publishable
(``pk_live_``), which may only open conversations, optionally only with listed
agents. Admin keys (secret) also manage keys.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from parley.errors import AuthenticationError, AuthorizationError, RateLimitError
from parley.server.state import ServerState
from parley.storage import ApiKeyRecord

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="`Authorization: Bearer sk_live_...` (secret key) or `pk_live_...` "
    "(publishable key: may only create sessions)",
)


def get_state(request: Request) -> ServerState:
    """The app's shared state."""
    state: ServerState = request.app.state.parley
    return state


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def authenticate(state: ServerState, key: str | None) -> ApiKeyRecord:
    """The key's record, or AuthenticationError (the key itself is never logged)."""
    if not key:
        raise AuthenticationError("missing API key: send 'Authorization: Bearer <key>'")
    record = await state.keys.verify(key)
    if record is None:
        raise AuthenticationError("invalid or revoked API key")
    return record


def check_rate(state: ServerState, key: ApiKeyRecord) -> None:
    """Take a token from the key's bucket, or raise RateLimitError."""
    limits = state.settings.rate_limits
    if not limits.enabled:
        return
    wait = state.limiter.take(
        key.id,
        key.rate_limit_per_minute or limits.requests_per_minute,
        key.rate_limit_burst or limits.burst,
    )
    if wait is not None:
        raise RateLimitError(
            f"rate limit exceeded for API key {key.prefix}...; retry in {wait:.1f} s",
            retry_after=wait,
        )


async def require_key(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> ApiKeyRecord:
    """FastAPI dependency: the caller's API key, of either kind, within its rate limit."""
    header = request.headers.get("authorization")
    if header and bearer_token(header) is None:
        raise AuthenticationError("malformed Authorization header: use 'Bearer <key>'")
    state = get_state(request)
    record = await authenticate(state, bearer_token(header))
    check_rate(state, record)
    return record


async def require_secret(key: Annotated[ApiKeyRecord, Depends(require_key)]) -> ApiKeyRecord:
    """FastAPI dependency: a secret key (publishable keys may only open conversations)."""
    if key.kind != "secret":
        raise AuthorizationError(
            "publishable keys may only open conversations; use a secret key (sk_live_...)"
        )
    return key


async def require_admin(key: Annotated[ApiKeyRecord, Depends(require_secret)]) -> ApiKeyRecord:
    """FastAPI dependency: an admin key."""
    if not key.is_admin:
        raise AuthorizationError("managing API keys needs an admin key")
    return key


AnyKey = Annotated[ApiKeyRecord, Depends(require_key)]
ApiKey = Annotated[ApiKeyRecord, Depends(require_secret)]
AdminKey = Annotated[ApiKeyRecord, Depends(require_admin)]
State = Annotated[ServerState, Depends(get_state)]
