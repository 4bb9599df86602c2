"""Sessions: create one (with a single-use WebSocket token), read it with its transcript,
list an agent's sessions, end one."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from parley.core.events import SafetyAction, SafetyKind
from parley.errors import AuthorizationError, NotFoundError, SessionError
from parley.server.agents import live_agent
from parley.server.auth import AnyKey, ApiKey, State
from parley.server.errors import error_responses
from parley.server.session_config import check_variables
from parley.server.state import ServerState
from parley.server.validation import METADATA_SCHEMA, NoBool, check_metadata
from parley.single_line import SingleLine
from parley.storage import ApiKeyRecord, SessionRecord, StoredTurn
from parley.storage.models import utcnow

router = APIRouter(prefix="/v1", tags=["sessions"])

TOKEN_PREFIX = "wst_"
MAX_TOKEN_TTL_S = 3600


def hash_token(token: str) -> str:
    """The SHA-256 hex digest under which a session token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class SessionCreate(BaseModel):
    """Options of a new session."""

    model_config = ConfigDict(extra="forbid")

    metadata: dict[str, Any] = Field(default_factory=dict, json_schema_extra=METADATA_SCHEMA)
    initial_message: Annotated[str, Field(min_length=1, max_length=2000)] | None = Field(
        None, description="spoken first, in place of the agent's first_message"
    )
    expires_in: Annotated[int, Field(ge=1, le=MAX_TOKEN_TTL_S), NoBool] | None = Field(
        None, description="seconds the websocket_url stays usable (server default 300)"
    )

    _metadata = field_validator("metadata")(check_metadata)


class Session(BaseModel):
    """A conversation session. ``websocket_url`` is only returned when it is created."""

    session_id: str
    agent_id: str
    status: Literal["active", "ended", "expired"]
    websocket_url: str | None = Field(
        None, description="connect here within expires_at; its token works once"
    )
    created_at: datetime
    expires_at: datetime | None
    connected_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    initial_message: str | None
    metadata: dict[str, Any]
    replica_id: str | None = Field(
        None, description="the replica that holds (or last held) the live conversation"
    )
    resumable_until: datetime | None = Field(
        None,
        description="an ended conversation whose connection dropped may be resumed with its "
        "resume_token until then (docs/protocol.md)",
    )

    @classmethod
    def of(cls, record: SessionRecord, websocket_url: str | None = None) -> Session:
        """From a stored record."""
        return cls(
            session_id=record.id,
            agent_id=record.agent_id,
            status=record.status,
            websocket_url=websocket_url,
            created_at=record.started_at,
            expires_at=record.expires_at,
            connected_at=record.connected_at,
            ended_at=record.ended_at,
            end_reason=record.end_reason,
            initial_message=record.initial_message,
            metadata=record.metadata,
            replica_id=record.replica_id,
            resumable_until=record.resume_until,
        )


class ToolCallMade(BaseModel):
    """A function an agent turn called, with the client's result (null until it came)."""

    call_id: str
    name: str
    arguments: dict[str, Any]
    output: Any = None


class SafetyMark(BaseModel):
    """Something content safety did about a turn's words (never the words themselves)."""

    kind: SafetyKind
    action: SafetyAction
    detail: str
    policy_id: str | None = None
    role: Literal["user", "agent"] = "agent"


class CitedPassage(BaseModel):
    """A knowledge-base passage an agent turn was given to answer from."""

    chunk_id: int
    document_id: str
    knowledge_base_id: str
    title: str
    heading: str
    score: float


class Turn(BaseModel):
    """One finished turn, with its latency metrics in milliseconds."""

    turn_id: str
    role: Literal["user", "agent"]
    text: str
    interrupted: bool
    started_at: datetime
    ended_at: datetime
    latency_ms: dict[str, float | None]
    tool_calls: list[ToolCallMade] = []
    safety: list[SafetyMark] = []
    citations: list[CitedPassage] = []
    language: str | None = Field(
        None,
        description="a user turn's detected language; an agent turn's reply language "
        "(ISO 639-1; null when unknown)",
    )
    language_probability: float | None = Field(
        None, description="how sure speech-to-text was of a user turn's language (0-1)"
    )

    @classmethod
    def of(cls, turn: StoredTurn) -> Turn:
        """From a stored turn."""
        return cls(
            turn_id=turn.turn_id,
            role=turn.role,
            text=turn.text,
            interrupted=turn.interrupted,
            started_at=turn.started_at,
            ended_at=turn.ended_at,
            latency_ms=turn.latency_ms,
            tool_calls=[ToolCallMade.model_validate(c) for c in turn.tool_calls],
            safety=[SafetyMark.model_validate(m) for m in turn.safety],
            citations=[CitedPassage.model_validate(c) for c in turn.citations],
            language=turn.language,
            language_probability=turn.language_probability,
        )


class SessionDetail(Session):
    """A session with its transcript."""

    transcript: list[Turn]


class SessionList(BaseModel):
    """A page of sessions."""

    data: list[Session]
    total: int
    limit: int
    offset: int
    has_more: bool


def websocket_base(state: ServerState, request: Request) -> str:
    """``ws(s)://host:port`` clients should connect to."""
    base = (state.settings.public_url or str(request.base_url)).rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base.removeprefix("https://")
    return "ws://" + base.removeprefix("http://")


async def _session(state: ServerState, session_id: str) -> SessionRecord:
    await state.sessions.expire_overdue()
    record = await state.sessions.get(session_id)
    if record is None:
        raise NotFoundError(f"session {session_id!r} not found", param="session_id")
    return record


async def create_token_session(
    state: ServerState,
    key: ApiKeyRecord | None,
    agent_id: str,
    metadata: dict[str, Any],
    ttl_s: int,
    *,
    initial_message: str | None = None,
) -> tuple[SessionRecord, str]:
    """A session of an active agent that waits for its single-use connect token (returned
    in plain text; only its hash is stored) for ``ttl_s`` seconds. ``key`` is the caller's
    API key, if any (a publishable key must be allowed the agent)."""
    if key is not None and not key.may_use_agent(agent_id):
        raise AuthorizationError(
            f"this publishable key may not open conversations with agent {agent_id!r}",
            param="agent_id",
        )
    agent = await live_agent(state, agent_id)
    if agent.status != "active":
        raise SessionError(
            f"agent {agent_id!r} is {agent.status} and takes no new conversations",
            param="agent_id",
        )
    check_variables(agent, metadata, initial_message)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = await state.sessions.create(
        agent.id,
        metadata,
        initial_message=initial_message,
        api_key_id=key.id if key is not None else None,
        token_hash=hash_token(token),
        expires_at=utcnow() + timedelta(seconds=ttl_s),
    )
    return record, token


@router.post(
    "/agents/{agent_id}/sessions",
    status_code=201,
    response_model=Session,
    responses=error_responses(403, 404, 409),
)
async def create_session(
    agent_id: SingleLine, body: SessionCreate, request: Request, state: State, key: AnyKey
) -> Session:
    """Create a session; connect to its ``websocket_url`` before ``expires_at``.

    Publishable keys may call this (for the agents they are limited to).
    """
    ttl = body.expires_in or state.settings.sessions.token_ttl_s
    record, token = await create_token_session(
        state, key, agent_id, body.metadata, ttl, initial_message=body.initial_message
    )
    url = f"{websocket_base(state, request)}/v1/voice/conversation?{urlencode({'token': token})}"
    return Session.of(record, url)


@router.get(
    "/sessions/{session_id}",
    response_model=SessionDetail,
    responses=error_responses(403, 404),
)
async def get_session(session_id: SingleLine, state: State, _key: ApiKey) -> SessionDetail:
    """A session with its transcript turns and per-turn latency metrics."""
    record = await _session(state, session_id)
    turns = await state.sessions.turns(session_id)
    return SessionDetail(**Session.of(record).model_dump(), transcript=[Turn.of(t) for t in turns])


@router.get(
    "/agents/{agent_id}/sessions",
    response_model=SessionList,
    responses=error_responses(403, 404),
)
async def list_sessions(
    agent_id: SingleLine,
    state: State,
    _key: ApiKey,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
    status: Literal["active", "ended", "expired"] | None = None,
) -> SessionList:
    """The agent's sessions, newest first."""
    await live_agent(state, agent_id)
    await state.sessions.expire_overdue()
    items, total = await state.sessions.list_for_agent(agent_id, limit, offset, status)
    return SessionList(
        data=[Session.of(s) for s in items],
        total=total,
        limit=limit,
        offset=offset,
        has_more=offset + len(items) < total,
    )


@router.post(
    "/sessions/{session_id}/end",
    response_model=Session,
    responses=error_responses(403, 404, 409),
)
async def end_session(session_id: SingleLine, state: State, _key: ApiKey) -> Session:
    """End a session now: a live conversation gets ``session_ended`` and is closed;
    a session not yet connected can no longer be."""
    record = await _session(state, session_id)
    if record.status != "active":
        raise SessionError(f"session {session_id!r} is already {record.status}")
    await state.replica.end_session(session_id, "client")  # on whichever replica holds it
    await state.sessions.end(session_id, "client")
    return Session.of(await _session(state, session_id))


@router.get(
    "/sessions/{session_id}/recording",
    response_class=FileResponse,
    responses={
        200: {"content": {"audio/wav": {}}, "description": "stereo WAV: user left, agent right"},
        **error_responses(403, 404),
    },
)
async def get_recording(session_id: SingleLine, state: State, _key: ApiKey) -> FileResponse:
    """The session's recording (agents with ``record_audio``), once the session ended."""
    await _session(state, session_id)
    path = state.recording_path(session_id)
    if not path.exists():
        raise NotFoundError(f"session {session_id!r} has no recording", param="session_id")
    return FileResponse(path, media_type="audio/wav", filename=f"{session_id}.wav")


@router.delete(
    "/sessions/{session_id}",
    status_code=204,
    response_class=Response,
    responses=error_responses(403, 404, 409),
)
async def delete_session(session_id: SingleLine, state: State, _key: ApiKey) -> Response:
    """Delete an ended session with its transcript and recording (end it first)."""
    record = await _session(state, session_id)
    if record.status == "active":
        raise SessionError(f"session {session_id!r} is active: end it first", param="session_id")
    state.recording_path(session_id).unlink(missing_ok=True)
    await state.sessions.delete(session_id)
    return Response(status_code=204)
