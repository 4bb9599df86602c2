"""Agents: create, list, get, update (incl. pause), delete (ends its live sessions)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, field_validator
from pydantic.json_schema import SkipJsonSchema

from parley.errors import ModelsNotReadyError, NotFoundError, ValidationError
from parley.providers.registry import REGISTRY
from parley.server.auth import ApiKey, State
from parley.server.bootstrap import DEFAULT_VOICE_ID
from parley.server.errors import error_responses
from parley.server.state import ServerState
from parley.storage import AgentRecord

router = APIRouter(prefix="/v1/agents", tags=["agents"])

TURN_SETTINGS = (
    "vad_threshold",
    "end_of_turn_silence_ms",
    "interrupt_threshold",
    "idle_timeout_ms",
    "idle_prompts",
    "record_audio",
)
_ID = r"^[A-Za-z0-9_-]{1,64}$"
_JSON_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}
_MAX_METADATA_BYTES = 16_384
_MAX_SCHEMA_DEPTH = 16


def _not_bool(value: Any) -> Any:
    """JSON ``true`` is not a number (pydantic would read it as 1)."""
    if isinstance(value, bool):
        raise ValueError("Input should be a number, not a boolean")
    return value


NoBool = BeforeValidator(_not_bool)
NoNull = SkipJsonSchema[None]
"""Optional in a PATCH, but ``null`` is not a value (the schema says so; the handler 422s)."""
Id = Annotated[str, Field(pattern=_ID)]
VadThreshold = Annotated[float, Field(ge=0.05, le=0.95), NoBool]
EndOfTurnSilence = Annotated[int, Field(ge=100, le=5000), NoBool]
InterruptThreshold = Annotated[int, Field(ge=1, le=50), NoBool]
IdleTimeout = Annotated[int, Field(ge=0, le=600_000), NoBool]
IdlePrompts = Annotated[int, Field(ge=0, le=5), NoBool]
Name = Annotated[str, Field(min_length=1, max_length=200)]
SystemPrompt = Annotated[str, Field(min_length=1, max_length=20_000)]
FirstMessage = Annotated[str, Field(min_length=1, max_length=2000)]
Language = Annotated[str, Field(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")]
MaxTurns = Annotated[int, Field(ge=1, le=1000), NoBool]


def check_json_schema(schema: Any, path: str, depth: int = 0) -> None:
    """A structural check of a JSON Schema: known types, properties, required, items."""
    if not isinstance(schema, dict):
        raise ValueError(f"{path} must be a JSON Schema object")
    if depth > _MAX_SCHEMA_DEPTH:
        raise ValueError(f"{path} is nested more than {_MAX_SCHEMA_DEPTH} levels deep")
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        bad = [k for k in kinds if not isinstance(k, str) or k not in _JSON_TYPES]
        if bad or not kinds:
            raise ValueError(f"{path}.type must be one of {sorted(_JSON_TYPES)}")
    if "description" in schema and not isinstance(schema["description"], str):
        raise ValueError(f"{path}.description must be a string")
    properties = schema.get("properties")
    if properties is not None:
        if not isinstance(properties, dict):
            raise ValueError(f"{path}.properties must be an object")
        for name, sub in properties.items():
            check_json_schema(sub, f"{path}.properties.{name}", depth + 1)
    required = schema.get("required")
    if required is not None:
        if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
            raise ValueError(f"{path}.required must be a list of property names")
        missing = [r for r in required if properties is None or r not in properties]
        if missing:
            raise ValueError(f"{path}.required names undefined properties: {missing}")
    if "items" in schema:
        check_json_schema(schema["items"], f"{path}.items", depth + 1)
    if "enum" in schema and (not isinstance(schema["enum"], list) or not schema["enum"]):
        raise ValueError(f"{path}.enum must be a non-empty list")


class Tool(BaseModel):
    """A function the agent may call: a name, what it does, and its JSON-Schema parameters."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["function"] = "function"
    name: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")]
    description: Annotated[str, Field(min_length=1, max_length=1024)]
    parameters: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}},
        description="JSON Schema of the arguments; its type must be 'object'",
    )

    @field_validator("parameters")
    @classmethod
    def _schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        if value.get("type") != "object":
            raise ValueError("parameters.type must be 'object'")
        check_json_schema(value, "parameters")
        if len(json.dumps(value)) > _MAX_METADATA_BYTES:
            raise ValueError(f"parameters is larger than {_MAX_METADATA_BYTES} bytes")
        return value


def _provider_spec(kind: str) -> Any:
    def check(value: str | None) -> str | None:
        if value is None:
            return None
        known = sorted(k for k in REGISTRY if k.startswith(f"{kind}:"))
        if value not in known:
            raise ValueError(f"unknown {kind} provider {value!r}; known: {known}")
        return value

    return check


def _known(kind: str) -> dict[str, Any]:
    return {"enum": [*sorted(k for k in REGISTRY if k.startswith(f"{kind}:")), None]}


METADATA_SCHEMA: dict[str, Any] = {"maxProperties": 50, "propertyNames": {"maxLength": 64}}


class ProviderOverrides(BaseModel):
    """Per-agent choices that replace the server's defaults."""

    model_config = ConfigDict(extra="forbid")

    stt: str | None = Field(None, description="an STT provider", json_schema_extra=_known("stt"))
    llm: str | None = Field(None, description="an LLM provider", json_schema_extra=_known("llm"))
    tts: str | None = Field(None, description="a TTS provider", json_schema_extra=_known("tts"))
    llm_temperature: Annotated[float, Field(ge=0.0, le=2.0), NoBool] | None = None
    llm_max_tokens: Annotated[int, Field(ge=8, le=2048), NoBool] | None = None

    _stt = field_validator("stt")(_provider_spec("stt"))
    _llm = field_validator("llm")(_provider_spec("llm"))
    _tts = field_validator("tts")(_provider_spec("tts"))


def check_metadata(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    if len(value) > 50:
        raise ValueError("metadata holds at most 50 keys")
    if any(len(k) > 64 for k in value):
        raise ValueError("metadata keys are at most 64 characters")
    if len(json.dumps(value)) > _MAX_METADATA_BYTES:
        raise ValueError(f"metadata is larger than {_MAX_METADATA_BYTES} bytes")
    return value


def _check_tools(value: list[Tool] | None) -> list[Tool] | None:
    if value is None:
        return None
    names = [t.name for t in value]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"tool names must be unique; repeated: {duplicates}")
    return value


def _unique(value: list[str] | None) -> list[str] | None:
    return None if value is None else list(dict.fromkeys(value))


class _AgentFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    _metadata = field_validator("metadata", check_fields=False)(check_metadata)
    _tools = field_validator("tools", check_fields=False)(_check_tools)
    _kbs = field_validator("knowledge_base_ids", check_fields=False)(_unique)


class AgentCreate(_AgentFields):
    """Fields accepted when creating an agent."""

    name: Name
    system_prompt: SystemPrompt
    voice_id: str = Field(DEFAULT_VOICE_ID, description="an installed voice (GET /v1/voices)")
    first_message: FirstMessage | None = Field(None, description="spoken when a call starts")
    language: Language = "en"
    tools: Annotated[list[Tool], Field(max_length=64)] = Field(default_factory=list)
    max_turns: MaxTurns = 50
    content_policy_id: Id | None = None
    knowledge_base_ids: Annotated[list[Id], Field(max_length=20)] = Field(default_factory=list)
    web_search: StrictBool = False
    vad_threshold: VadThreshold | None = None
    end_of_turn_silence_ms: EndOfTurnSilence | None = None
    interrupt_threshold: InterruptThreshold | None = Field(
        None, description="32 ms frames of user speech that interrupt the agent"
    )
    idle_timeout_ms: IdleTimeout | None = None
    idle_prompts: IdlePrompts | None = None
    record_audio: StrictBool | None = Field(
        None, description="keep a stereo WAV of each conversation (GET /v1/sessions/{id}/recording)"
    )
    provider_overrides: ProviderOverrides | None = None
    metadata: dict[str, Any] = Field(default_factory=dict, json_schema_extra=METADATA_SCHEMA)


class AgentUpdate(_AgentFields):
    """Fields to change; those left out keep their value. ``null`` on a turn setting
    goes back to the server default. ``status`` pauses or resumes the agent."""

    name: Name | NoNull = None
    system_prompt: SystemPrompt | NoNull = None
    voice_id: str | NoNull = None
    first_message: FirstMessage | None = None
    language: Language | NoNull = None
    tools: Annotated[list[Tool], Field(max_length=64)] | NoNull = None
    max_turns: MaxTurns | NoNull = None
    content_policy_id: Id | None = None
    knowledge_base_ids: Annotated[list[Id], Field(max_length=20)] | NoNull = None
    web_search: StrictBool | NoNull = None
    vad_threshold: VadThreshold | None = None
    end_of_turn_silence_ms: EndOfTurnSilence | None = None
    interrupt_threshold: InterruptThreshold | None = None
    idle_timeout_ms: IdleTimeout | None = None
    idle_prompts: IdlePrompts | None = None
    record_audio: StrictBool | None = None
    provider_overrides: ProviderOverrides | None = None
    metadata: dict[str, Any] | NoNull = Field(None, json_schema_extra=METADATA_SCHEMA)
    status: Literal["active", "paused"] | NoNull = Field(
        None, description="'paused' refuses new conversations; DELETE deletes"
    )


class Agent(BaseModel):
    """An agent as returned by the API. Turn settings show the values in effect;
    ``settings`` holds only those set on the agent."""

    id: str
    name: str
    system_prompt: str
    voice_id: str
    first_message: str | None
    language: str
    tools: list[dict[str, Any]]
    max_turns: int
    content_policy_id: str | None
    knowledge_base_ids: list[str]
    web_search: bool
    vad_threshold: float
    end_of_turn_silence_ms: int
    interrupt_threshold: int
    idle_timeout_ms: int
    idle_prompts: int
    record_audio: bool
    provider_overrides: dict[str, Any]
    metadata: dict[str, Any]
    status: Literal["active", "paused", "deleted"]
    settings: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, record: AgentRecord, state: ServerState) -> Agent:
        """From a stored record."""
        defaults = state.settings.turns
        turn = {name: record.settings.get(name, getattr(defaults, name)) for name in TURN_SETTINGS}
        return cls(
            id=record.id,
            name=record.name,
            system_prompt=record.system_prompt,
            voice_id=record.voice_id,
            first_message=record.first_message,
            language=record.language,
            tools=record.tools,
            max_turns=record.max_turns,
            content_policy_id=record.content_policy_id,
            knowledge_base_ids=record.knowledge_base_ids,
            web_search=record.web_search,
            provider_overrides=record.provider_overrides,
            metadata=record.metadata,
            status=record.status,
            settings=dict(record.settings),
            created_at=record.created_at,
            updated_at=record.updated_at,
            **turn,
        )


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


def check_voice(state: ServerState, voice_id: str) -> None:
    """422 unless ``voice_id`` is an installed voice (503 while the models load)."""
    if state.providers is None:
        raise ModelsNotReadyError("the server is still loading its models; retry shortly")
    voices = [v.id for v in state.providers.tts.voices()]
    if voice_id not in voices:
        raise ValidationError(
            f"voice_id: unknown voice {voice_id!r}; available: {', '.join(voices)}",
            param="voice_id",
        )


async def live_agent(state: ServerState, agent_id: str) -> AgentRecord:
    """The agent, or 404 (deleted agents are gone)."""
    record = await state.agents.get(agent_id)
    if record is None:
        raise NotFoundError(f"agent {agent_id!r} not found", param="agent_id")
    return record


_AGENT_ERRORS = error_responses(403, 404)


async def _create(body: AgentCreate, state: ServerState) -> Agent:
    check_voice(state, body.voice_id)
    overrides = body.provider_overrides
    record = await state.agents.create(
        name=body.name,
        system_prompt=body.system_prompt,
        voice_id=body.voice_id,
        first_message=body.first_message,
        language=body.language,
        max_turns=body.max_turns,
        settings={n: getattr(body, n) for n in TURN_SETTINGS if getattr(body, n) is not None},
        tools=[t.model_dump() for t in body.tools],
        content_policy_id=body.content_policy_id,
        knowledge_base_ids=list(body.knowledge_base_ids),
        web_search=body.web_search,
        provider_overrides={} if overrides is None else overrides.model_dump(exclude_none=True),
        metadata=body.metadata,
    )
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
async def get_agent(agent_id: str, state: State, _key: ApiKey) -> Agent:
    """One agent; 404 once deleted."""
    return Agent.of(await live_agent(state, agent_id), state)


_NOT_NULL = frozenset(
    {"name", "system_prompt", "voice_id", "language", "tools", "max_turns", "web_search"}
    | {"knowledge_base_ids", "metadata", "status"}
)


@router.patch("/{agent_id}", response_model=Agent, responses=_AGENT_ERRORS)
async def update_agent(agent_id: str, body: AgentUpdate, state: State, _key: ApiKey) -> Agent:
    """Change some fields of an agent; ``{"status": "paused"}`` pauses it."""
    current = await live_agent(state, agent_id)
    given = body.model_fields_set
    for name in sorted(_NOT_NULL & given):
        if getattr(body, name) is None:
            raise ValidationError(f"{name}: may not be null", param=name)
    if "voice_id" in given and body.voice_id is not None:
        check_voice(state, body.voice_id)
    changes: dict[str, Any] = {}
    for name in given - set(TURN_SETTINGS):
        value = getattr(body, name)
        if name == "tools":
            value = [t.model_dump() for t in value]
        elif name == "provider_overrides":
            value = {} if value is None else value.model_dump(exclude_none=True)
        changes[name] = value
    if given & set(TURN_SETTINGS):
        settings = dict(current.settings)
        for name in given & set(TURN_SETTINGS):
            value = getattr(body, name)
            if value is None:
                settings.pop(name, None)
            else:
                settings[name] = value
        changes["settings"] = settings
    if not changes:
        return Agent.of(current, state)
    record = await state.agents.update(agent_id, **changes)
    if record is None:
        raise NotFoundError(f"agent {agent_id!r} not found", param="agent_id")
    return Agent.of(record, state)


@router.delete("/{agent_id}", response_model=AgentDeleted, responses=_AGENT_ERRORS)
async def delete_agent(agent_id: str, state: State, _key: ApiKey) -> AgentDeleted:
    """Delete an agent for good; its live sessions end at once (``agent_deleted``)."""
    if not await state.agents.delete(agent_id):
        raise NotFoundError(f"agent {agent_id!r} not found", param="agent_id")
    ended = await state.live.terminate_agent(agent_id, "agent_deleted")
    ended += await state.sessions.end_waiting_for_agent(agent_id, "agent_deleted")
    return AgentDeleted(id=agent_id, sessions_ended=ended)


__all__ = ["TURN_SETTINGS", "check_voice", "live_agent", "router"]
