"""Content policies: create, list, get, update, delete (refused while agents use one).

The settings are :class:`parley.safety.policy.PolicyBody`; a policy is attached to an
agent by the agent's ``content_policy_id``. A live conversation keeps the policy it
started with, so changing or deleting one never breaks a call.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo

from parley.errors import ConflictError, NotFoundError, ValidationError
from parley.safety.policy import PolicyBody
from parley.server.auth import ApiKey, State
from parley.server.errors import error_responses
from parley.server.state import ServerState
from parley.single_line import SingleLine
from parley.storage import PolicyRecord

router = APIRouter(prefix="/v1/policies", tags=["policies"])
_ERRORS = error_responses(403, 404)


class Policy(PolicyBody):
    """A content policy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    object: Literal["policy"] = "policy"
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, record: PolicyRecord) -> Policy:
        """The API form of a stored policy."""
        body = PolicyBody.model_validate(record.body)
        times = {"created_at": record.created_at, "updated_at": record.updated_at}
        return cls(id=record.id, **body.model_dump(), **times)


def _with_constraints(f: FieldInfo) -> Any:
    """A field's type with its constraints (length limits, patterns)."""
    return Annotated[f.annotation, *f.metadata] if f.metadata else f.annotation


PolicyUpdate = create_model(  # type: ignore[call-overload]
    "PolicyUpdate",
    __config__=ConfigDict(extra="forbid"),
    __doc__="Any of a policy's settings; the others keep their values.",
    **{
        name: (_with_constraints(f) | None, Field(None, description=f.description))
        for name, f in PolicyBody.model_fields.items()
    },
)
"""The body of ``PATCH /v1/policies/{id}``: every setting optional (``null`` is refused)."""


class PolicyList(BaseModel):
    """A page of policies."""

    data: list[Policy]
    total: int
    limit: int
    offset: int
    has_more: bool


class PolicyDeleted(BaseModel):
    """The result of deleting a policy."""

    id: str
    object: Literal["policy"] = "policy"
    deleted: bool = True


async def known_policy(state: ServerState, policy_id: str) -> PolicyRecord:
    """The stored policy (404 ``not_found_error`` if unknown)."""
    record = await state.policies.get(policy_id)
    if record is None:
        raise NotFoundError(f"policy {policy_id!r} not found", param="policy_id")
    return record


async def check_policy_id(state: ServerState, policy_id: str | None) -> None:
    """An agent's ``content_policy_id`` must name a policy (422 otherwise)."""
    if policy_id is not None and await state.policies.get(policy_id) is None:
        raise ValidationError(
            f"content_policy_id: no policy {policy_id!r} (GET /v1/policies lists them)",
            param="content_policy_id",
        )


def check_judge(state: ServerState, body: PolicyBody) -> None:
    """The judge must be an LLM provider of this server (422 otherwise)."""
    names = state.providers.names("llm")
    if body.judge_provider is not None and body.judge_provider not in names:
        raise ValidationError(
            f"judge_provider: unknown llm provider {body.judge_provider!r}; known: {names}",
            param="judge_provider",
        )


@router.post("", status_code=201, response_model=Policy, responses=_ERRORS)
async def create_policy(body: PolicyBody, state: State, _key: ApiKey) -> Policy:
    """Create a content policy."""
    check_judge(state, body)
    return Policy.of(await state.policies.create(body.model_dump(mode="json")))


@router.get("", response_model=PolicyList, responses=error_responses(403))
async def list_policies(
    state: State,
    _key: ApiKey,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
) -> PolicyList:
    """List content policies, newest first."""
    items, total = await state.policies.list(limit, offset)
    return PolicyList(
        data=[Policy.of(p) for p in items],
        total=total,
        limit=limit,
        offset=offset,
        has_more=offset + len(items) < total,
    )


@router.get("/{policy_id}", response_model=Policy, responses=_ERRORS)
async def get_policy(policy_id: SingleLine, state: State, _key: ApiKey) -> Policy:
    """One content policy."""
    return Policy.of(await known_policy(state, policy_id))


@router.patch("/{policy_id}", response_model=Policy, responses=_ERRORS)
async def update_policy(
    policy_id: SingleLine, body: PolicyUpdate, state: State, _key: ApiKey
) -> Policy:
    """Change some settings of a policy. Conversations already running keep the
    version they started with; new ones get the new one."""
    current = await known_policy(state, policy_id)
    changes: dict[str, Any] = body.model_dump(include=body.model_fields_set)
    for name in sorted(changes):
        if changes[name] is None:
            raise ValidationError(f"{name}: may not be null", param=name)
    merged = PolicyBody.model_validate({**current.body, **changes})
    check_judge(state, merged)
    record = await state.policies.replace(policy_id, merged.model_dump(mode="json"))
    if record is None:
        raise NotFoundError(f"policy {policy_id!r} not found", param="policy_id")
    return Policy.of(record)


@router.delete(
    "/{policy_id}", response_model=PolicyDeleted, responses=error_responses(403, 404, 409)
)
async def delete_policy(policy_id: SingleLine, state: State, _key: ApiKey) -> PolicyDeleted:
    """Delete a policy; refused (409 ``conflict_error``) while an agent uses it: detach it
    first (``PATCH /v1/agents/{id}`` with ``content_policy_id: null``)."""
    await known_policy(state, policy_id)
    users = await state.policies.users(policy_id)
    if users:
        raise ConflictError(
            f"policy {policy_id!r} is used by agents {', '.join(users)}; "
            "set their content_policy_id to null first",
            param="policy_id",
        )
    if not await state.policies.delete(policy_id):
        raise NotFoundError(f"policy {policy_id!r} not found", param="policy_id")
    return PolicyDeleted(id=policy_id)
