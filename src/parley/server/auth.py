"""API keys for REST (Bearer header) and WebSockets (query or header); per-key rate limits.

Two kinds of key: secret (``sk_live_``) for the REST API, and publishable
(``pk_live_``), which may only open conversations, optionally only with listed
agents. Admin keys (secret) also manage keys.
"""

from __future__ import annotations

import logging
from typing import Annotated, Protocol

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from parley.cluster.base import ClusterUnavailableError
from parley.errors import AuthenticationError, AuthorizationError, RateLimitError
from parley.server.state import ServerState
from parley.storage import ApiKeyRecord

log = logging.getLogger(__name__)

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


class MultiValues(Protocol):
    """Query parameters or headers: every value of a name (Starlette's have this)."""

    def getlist(self, key: str) -> list[str]: ...


def credential(query: MultiValues | None, headers: MultiValues, *others: object) -> str | None:
    """The one key (or session token) a caller presents: the ``api_key`` query parameter,
    a Bearer ``Authorization`` header, or ``others`` (a Socket.IO auth payload's key, a
    WebSocket subprotocol); None if none. The same key in several places is fine.
    AuthenticationError when it is ambiguous: ``api_key`` or ``Authorization`` given
    twice, or places that hold different keys (a proxy may have checked the other)."""
    keys = [] if query is None else query.getlist("api_key")
    if len(keys) > 1:
        raise AuthenticationError("ambiguous credentials: api_key is given more than once")
    authorizations = headers.getlist("authorization")
    if len(authorizations) > 1:
        raise AuthenticationError("ambiguous credentials: more than one Authorization header")
    given = [*keys, *(bearer_token(h) for h in authorizations), *others]
    found = {value for value in given if isinstance(value, str) and value}
    if len(found) > 1:
        raise AuthenticationError("ambiguous credentials: two different keys were given")
    return found.pop() if found else None


async def authenticate(state: ServerState, key: str | None) -> ApiKeyRecord:
    """The key's record, or AuthenticationError (the key itself is never logged)."""
    if not key:
        raise AuthenticationError("missing API key: send 'Authorization: Bearer <key>'")
    record = await state.keys.verify(key)
    if record is None:
        raise AuthenticationError("invalid or revoked API key")
    return record


async def check_rate(state: ServerState, key: ApiKeyRecord) -> None:
    """Take a token from the key's bucket (shared by all replicas), or raise
    RateLimitError. When the shared store is down, the request is let through."""
    limits = state.settings.rate_limits
    if not limits.enabled:
        return
    try:
        wait = await state.cluster.take(
            key.id,
            key.rate_limit_per_minute or limits.requests_per_minute,
            key.rate_limit_burst or limits.burst,
        )
    except ClusterUnavailableError:
        state.metrics.cluster_errors.labels("rate_limit").inc()
        log.warning("rate limit not checked: the shared store is down")
        return
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
    credential(request.query_params, request.headers)  # refuses ambiguity; REST reads the header
    state = get_state(request)
    record = await authenticate(state, bearer_token(header))
    await check_rate(state, record)
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
