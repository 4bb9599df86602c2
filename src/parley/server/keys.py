"""API keys: create (shown once), list, revoke. Admin keys only."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from parley.cluster.base import ClusterUnavailableError
from parley.errors import NotFoundError, ValidationError
from parley.server.auth import AdminKey, State
from parley.server.errors import error_responses
from parley.server.validation import NoBool
from parley.single_line import ONE_LINE, SingleLine
from parley.storage import ApiKeyRecord

router = APIRouter(prefix="/v1/api-keys", tags=["api-keys"])


class RateLimit(BaseModel):
    """A token bucket: ``burst`` requests at once, refilled at ``requests_per_minute``."""

    model_config = ConfigDict(extra="forbid")

    requests_per_minute: Annotated[float, Field(gt=0, le=1_000_000), NoBool]
    burst: Annotated[int, Field(ge=1, le=100_000), NoBool]


class ApiKeyCreate(BaseModel):
    """A new key."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=200), ONE_LINE]
    kind: Literal["secret", "publishable"] = Field(
        "secret", description="secret: the REST API; publishable: only opens conversations"
    )
    admin: StrictBool = Field(False, description="secret keys only: may manage API keys")
    agent_ids: Annotated[list[SingleLine], Field(min_length=1, max_length=100)] | None = Field(
        None, description="publishable keys only: the agents it may talk to (default: any)"
    )
    rate_limit: RateLimit | None = Field(None, description="default: the server's limit")


class ApiKey(BaseModel):
    """A key as listed: never the key itself, only its first characters."""

    id: str
    name: str
    kind: Literal["secret", "publishable"]
    prefix: str
    admin: bool
    agent_ids: list[str] | None
    rate_limit: RateLimit | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, record: ApiKeyRecord) -> ApiKey:
        """From a stored record."""
        limit = None
        if record.rate_limit_per_minute is not None and record.rate_limit_burst is not None:
            limit = RateLimit(
                requests_per_minute=record.rate_limit_per_minute, burst=record.rate_limit_burst
            )
        return cls(
            id=record.id,
            name=record.name,
            kind=record.kind,
            prefix=record.prefix,
            admin=record.is_admin,
            agent_ids=None if record.agent_ids is None else list(record.agent_ids),
            rate_limit=limit,
            created_at=record.created_at,
            last_used_at=record.last_used_at,
            revoked_at=record.revoked_at,
        )


class ApiKeyCreated(ApiKey):
    """A new key, with the plaintext ``key``: shown only in this response."""

    key: str


class ApiKeyList(BaseModel):
    """All keys, revoked ones included, oldest first."""

    data: list[ApiKey]
    total: int


@router.post("", status_code=201, response_model=ApiKeyCreated, responses=error_responses(403))
async def create_key(body: ApiKeyCreate, state: State, _admin: AdminKey) -> ApiKeyCreated:
    """Create a key. The response is the only time the key is shown."""
    if body.kind == "publishable" and body.admin:
        raise ValidationError("admin: a publishable key cannot be an admin key", param="admin")
    if body.kind == "secret" and body.agent_ids is not None:
        raise ValidationError(
            "agent_ids: only publishable keys are limited to agents", param="agent_ids"
        )
    for agent_id in body.agent_ids or []:
        if await state.agents.get(agent_id) is None:
            raise ValidationError(f"agent_ids: agent {agent_id!r} not found", param="agent_ids")
    limit = body.rate_limit
    record, plaintext = await state.keys.create(
        body.name,
        is_admin=body.admin,
        kind=body.kind,
        agent_ids=body.agent_ids,
        rate_limit_per_minute=None if limit is None else limit.requests_per_minute,
        rate_limit_burst=None if limit is None else limit.burst,
    )
    return ApiKeyCreated(**ApiKey.of(record).model_dump(), key=plaintext)


@router.get("", response_model=ApiKeyList, responses=error_responses(403))
async def list_keys(state: State, _admin: AdminKey) -> ApiKeyList:
    """Every key, revoked ones included (never the keys themselves)."""
    keys = [ApiKey.of(k) for k in await state.keys.list()]
    return ApiKeyList(data=keys, total=len(keys))


@router.delete("/{key_id}", response_model=ApiKey, responses=error_responses(403, 404))
async def revoke_key(key_id: SingleLine, state: State, _admin: AdminKey) -> ApiKey:
    """Revoke a key: it stops working at once. Revoking twice keeps the first time."""
    if not await state.keys.revoke(key_id):
        raise NotFoundError(f"API key {key_id!r} not found", param="key_id")
    with contextlib.suppress(ClusterUnavailableError):  # a lapsed bucket expires anyway
        await state.cluster.forget(key_id)
    record = await state.keys.get(key_id)
    assert record is not None
    return ApiKey.of(record)
