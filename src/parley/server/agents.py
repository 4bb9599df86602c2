"""Agents: create, list, get, update (incl. pause), delete (ends its live sessions).

The agent's fields and the request and response models are in :mod:`.agent_fields`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from parley.errors import NotFoundError, ValidationError
from parley.server.agent_checks import check_agent_layer
from parley.server.agent_fields import (
    NOT_NULL,
    TURN_SETTINGS,
    Agent,
    AgentCreate,
    AgentUpdate,
)
from parley.server.auth import ApiKey, State
from parley.server.errors import error_responses
from parley.server.languages import check_agent_languages
from parley.server.state import ServerState
from parley.single_line import SingleLine
from parley.storage import AgentRecord
from parley.tools.signing import new_secret

router = APIRouter(prefix="/v1/agents", tags=["agents"])


class AgentList(BaseModel):
    """A page of agents."""

    data: list[Agent]
    total: int
    limit: int
    offset: int
    has_more: bool


class AgentDeleted(BaseModel):
    """The result of deleting an agent."""

    id: str
    status: Literal["deleted"] = "deleted"
    deleted: bool = True
    sessions_ended: int = Field(description="live and waiting sessions that were ended")


def check_providers(state: ServerState, overrides: dict[str, Any] | None) -> None:
    """422 unless every provider named in ``overrides`` exists on this server."""
    pool = state.providers
    for kind in ("stt", "llm", "tts"):
        spec = (overrides or {}).get(kind)
        if spec is not None and spec not in pool.names(kind):
            raise ValidationError(
                f"provider_overrides.{kind}: unknown {kind} provider {spec!r}; "
                f"known: {pool.names(kind)}",
                param=f"provider_overrides.{kind}",
            )


def list_providers_in_schema(schema: dict[str, Any], state: ServerState) -> dict[str, Any]:
    """The OpenAPI ``schema`` with this server's provider names as the enums of
    ``ProviderOverrides`` (the dashboard's agent form offers them)."""
    model = schema.get("components", {}).get("schemas", {}).get("ProviderOverrides", {})
    for kind in ("stt", "llm", "tts"):
        field = model.get("properties", {}).get(kind)
        if field is not None:
            field["enum"] = [*state.providers.names(kind), None]
    return schema


async def check_voice(
    state: ServerState, voice_id: str, overrides: dict[str, Any] | None = None
) -> None:
    """422 unless ``voice_id`` is a voice of the agent's TTS provider (the one its
    ``overrides`` name, or the default); 503 while the models load."""
    pool = state.ready_providers()
    spec = (overrides or {}).get("tts") or pool.defaults["tts"]
    voices = [v.id for v in (await pool.load(spec)).voices()]
    if voice_id not in voices:
        raise ValidationError(
            f"voice_id: unknown voice {voice_id!r} for {spec}; available: {', '.join(voices)}",
            param="voice_id",
        )


async def live_agent(state: ServerState, agent_id: str) -> AgentRecord:
    """The agent, or 404 (deleted agents are gone)."""
    record = await state.agents.get(agent_id)
    if record is None:
        raise NotFoundError(f"agent {agent_id!r} not found", param="agent_id")
    return record


_AGENT_ERRORS = error_responses(403, 404)


def _stored(values: dict[str, Any]) -> dict[str, Any]:
    """Request values as storage keeps them: provider overrides without unset choices."""
    if "provider_overrides" in values:
        overrides = values["provider_overrides"] or {}
        values["provider_overrides"] = {k: v for k, v in overrides.items() if v is not None}
    return values


async def _create(body: AgentCreate, state: ServerState) -> Agent:
    values = body.model_dump()
    check_providers(state, values["provider_overrides"])
    await check_agent_layer(state, values)
    await check_voice(state, values["voice_id"], values["provider_overrides"])
    await check_agent_languages(
        state.ready_providers(), values["language"], values["voice_id"], values["voices"],
        values["provider_overrides"],
    )  # fmt: skip
    turn = {name: values.pop(name) for name in TURN_SETTINGS}
    settings = {name: value for name, value in turn.items() if value is not None}
    record = await state.agents.create(**_stored(values), settings=settings)
    return Agent.of(record, state)


@router.post("", status_code=201, response_model=Agent, responses=_AGENT_ERRORS)
async def create_agent(body: AgentCreate, state: State, _key: ApiKey) -> Agent:
    """Create an agent."""
    return await _create(body, state)


@router.post("/create", status_code=201, response_model=Agent, responses=_AGENT_ERRORS)
async def create_agent_alias(body: AgentCreate, state: State, _key: ApiKey) -> Agent:
    """Create an agent (same as ``POST /v1/agents``)."""
    return await _create(body, state)


@router.get("", response_model=AgentList, responses=error_responses(403))
async def list_agents(
    state: State,
    _key: ApiKey,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
) -> AgentList:
    """List agents (deleted ones excluded), newest first."""
    items, total = await state.agents.list(limit, offset)
    return AgentList(
        data=[Agent.of(a, state) for a in items],
        total=total,
        limit=limit,
        offset=offset,
        has_more=offset + len(items) < total,
    )


@router.get("/{agent_id}", response_model=Agent, responses=_AGENT_ERRORS)
async def get_agent(agent_id: SingleLine, state: State, _key: ApiKey) -> Agent:
    """One agent; 404 once deleted."""
    return Agent.of(await live_agent(state, agent_id), state)


@router.patch("/{agent_id}", response_model=Agent, responses=_AGENT_ERRORS)
async def update_agent(
    agent_id: SingleLine, body: AgentUpdate, state: State, _key: ApiKey
) -> Agent:
    """Change some fields of an agent; ``{"status": "paused"}`` pauses it."""
    current = await live_agent(state, agent_id)
    changes = body.model_dump(include=body.model_fields_set)
    for name in sorted(NOT_NULL & changes.keys()):
        if changes[name] is None:
            raise ValidationError(f"{name}: may not be null", param=name)
    if "provider_overrides" in changes:
        check_providers(state, changes["provider_overrides"])
    await check_agent_layer(
        state, changes, {"tools": current.tools, "web_search": current.web_search}
    )
    if "voice_id" in changes or (changes.get("provider_overrides") or {}).get("tts"):
        overrides = changes.get("provider_overrides", current.provider_overrides)
        await check_voice(state, changes.get("voice_id", current.voice_id), overrides)
    if changes.keys() & {"language", "voices", "voice_id", "provider_overrides"}:
        await check_agent_languages(
            state.ready_providers(),
            changes.get("language", current.language),
            changes.get("voice_id", current.voice_id),
            changes.get("voices", current.voices),
            changes.get("provider_overrides", current.provider_overrides),
        )
    turn = {name: changes.pop(name) for name in TURN_SETTINGS if name in changes}
    if turn:
        settings = dict(current.settings)
        for name, value in turn.items():
            if value is None:
                settings.pop(name, None)
            else:
                settings[name] = value
        changes["settings"] = settings
    if not changes:
        return Agent.of(current, state)
    record = await state.agents.update(agent_id, **_stored(changes))
    if record is None:
        raise NotFoundError(f"agent {agent_id!r} not found", param="agent_id")
    return Agent.of(record, state)


class SigningSecret(BaseModel):
    """The secret that signs the agent's webhook calls (header ``Parley-Signature``)."""

    agent_id: str
    signing_secret: str


@router.post("/{agent_id}/signing-secret", response_model=SigningSecret, responses=_AGENT_ERRORS)
async def rotate_signing_secret(agent_id: SingleLine, state: State, _key: ApiKey) -> SigningSecret:
    """Make a new signing secret for the agent's webhook calls and return it (the only
    time it is shown; calls already running keep signing with the old one)."""
    secret = await state.agents.signing_secret(agent_id, new_secret(), rotate=True)
    if secret is None:
        raise NotFoundError(f"agent {agent_id!r} not found", param="agent_id")
    return SigningSecret(agent_id=agent_id, signing_secret=secret)


@router.delete("/{agent_id}", response_model=AgentDeleted, responses=_AGENT_ERRORS)
async def delete_agent(agent_id: SingleLine, state: State, _key: ApiKey) -> AgentDeleted:
    """Delete an agent for good; its live sessions end at once (``agent_deleted``), on
    every replica."""
    if not await state.agents.delete(agent_id):
        raise NotFoundError(f"agent {agent_id!r} not found", param="agent_id")
    ended = await state.replica.end_agent_sessions(agent_id, "agent_deleted")
    ended += await state.sessions.end_waiting_for_agent(agent_id, "agent_deleted")
    return AgentDeleted(id=agent_id, sessions_ended=ended)


__all__ = [
    "TURN_SETTINGS",
    "check_voice",
    "live_agent",
    "router",
]
