"""API key authentication for REST (Bearer header) and WebSockets (query or header)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from parley.errors import AuthenticationError
from parley.server.state import ServerState
from parley.storage import ApiKeyRecord


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


async def require_key(request: Request) -> ApiKeyRecord:
    """FastAPI dependency: the caller's API key."""
    return await authenticate(
        get_state(request), bearer_token(request.headers.get("authorization"))
    )


ApiKey = Annotated[ApiKeyRecord, Depends(require_key)]
State = Annotated[ServerState, Depends(get_state)]
