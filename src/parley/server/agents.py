"""Minimal agent endpoints (the full REST API is built on these)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from parley.errors import NotFoundError, ValidationError
from parley.server.auth import ApiKey, State
from parley.server.bootstrap import DEFAULT_VOICE_ID
from parley.storage import AgentRecord

router = APIRouter(prefix="/v1/agents", tags=["agents"])


class AgentCreate(BaseModel):
    """Fields accepted when creating an agent."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    system_prompt: Annotated[str, Field(min_length=1, max_length=20_000)]
    voice_id: str = DEFAULT_VOICE_ID
    first_message: Annotated[str | None, Field(max_length=2000)] = None
    language: Annotated[str, Field(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")] = "en"
    max_turns: Annotated[int, Field(ge=1, le=1000)] = 50
    end_of_turn_silence_ms: Annotated[int | None, Field(ge=100, le=5000)] = None
    vad_threshold: Annotated[float | None, Field(ge=0.05, le=0.95)] = None


class Agent(BaseModel):
    """An agent as returned by the API."""

    id: str
    name: str
    system_prompt: str
    voice_id: str
    first_message: str | None
    language: str
    max_turns: int
    status: str
    settings: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, record: AgentRecord) -> Agent:
        """From a stored record."""
        return cls(
            id=record.id,
            name=record.name,
            system_prompt=record.system_prompt,
            voice_id=record.voice_id,
            first_message=record.first_message,
            language=record.language,
            max_turns=record.max_turns,
            status=record.status,
            settings=dict(record.settings),
            created_at=record.created_at,
            updated_at=record.updated_at,
        )


class AgentList(BaseModel):
    """A page of agents."""

    data: list[Agent]
    total: int
    limit: int
    offset: int
    has_more: bool


@router.post("/create", status_code=201, response_model=Agent)
async def create_agent(body: AgentCreate, state: State, _key: ApiKey) -> Agent:
    """Create an agent."""
    if state.providers is not None:
        voices = [v.id for v in state.providers.tts.voices()]
        if body.voice_id not in voices:
            raise ValidationError(
                f"unknown voice_id {body.voice_id!r}; available: {', '.join(voices)}",
                param="voice_id",
            )
    turn_settings = {
        k: v
        for k, v in {
            "end_of_turn_silence_ms": body.end_of_turn_silence_ms,
            "vad_threshold": body.vad_threshold,
        }.items()
        if v is not None
    }
    record = await state.agents.create(
        name=body.name,
        system_prompt=body.system_prompt,
        voice_id=body.voice_id,
        first_message=body.first_message,
        language=body.language,
        max_turns=body.max_turns,
        settings=turn_settings,
    )
    return Agent.of(record)


@router.get("", response_model=AgentList)
async def list_agents(
    state: State,
    _key: ApiKey,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> AgentList:
    """List agents, newest first."""
    items, total = await state.agents.list(limit, offset)
    return AgentList(
        data=[Agent.of(a) for a in items],
        total=total,
        limit=limit,
        offset=offset,
        has_more=offset + len(items) < total,
    )


@router.get("/{agent_id}", response_model=Agent)
async def get_agent(agent_id: str, state: State, _key: ApiKey) -> Agent:
    """One agent."""
    record = await state.agents.get(agent_id)
    if record is None:
        raise NotFoundError(f"agent {agent_id!r} not found", param="agent_id")
    return Agent.of(record)
