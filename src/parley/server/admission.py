"""Admission: who may open a conversation, with which agent, and the stored session
it runs in. Every voice endpoint calls :func:`open_session` before anything else; it
also takes the conversation's slot of the server's capacity, which the conversation
gives back when it ends (:func:`abandon` when it never ran)."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from parley.errors import (
    AuthenticationError,
    AuthorizationError,
    NotFoundError,
    ServerAtCapacityError,
    ServerDrainingError,
    SessionError,
    ValidationError,
)
from parley.providers.pool import KINDS
from parley.server.auth import authenticate, check_rate
from parley.server.sessions import hash_token
from parley.server.state import ServerState, Slot
from parley.storage import AgentRecord, ApiKeyRecord, SessionRecord
from parley.storage.models import utcnow

RESUME_TOKEN_PREFIX = "rt_"
DRAINING_MESSAGE = (
    "this server is shutting down and takes no new conversations; reconnect (another "
    "replica will take it)"
)
_TOKEN_PROBLEMS = {
    "unknown": "invalid session token",
    "used": "this session token was already used; create a new session",
    "ended": "this session has ended; create a new session",
    "expired": "this session token has expired; create a new session",
}


async def open_session(
    state: ServerState,
    *,
    token: str | None = None,
    api_key: str | None = None,
    agent_id: str | None = None,
    protocol: str = "native",
    default_agent: bool = False,
    metadata: dict[str, Any] | None = None,
    peer: str | None = None,
) -> tuple[AgentRecord, SessionRecord]:
    """Check credentials and agent; return the agent and the session to run.

    A session ``token`` (single use, before it expires) claims a session created over
    REST; otherwise ``api_key`` opens a new session with ``agent_id`` (or, when
    ``default_agent``, with the server's default agent if no id is given). The
    session's metadata records the ``protocol``. A key that broke the limits from
    ``peer`` (its host) is refused during its cooldown (``rate_limit_error``). Above
    the server's capacity the caller gets ``ServerAtCapacityError`` (close 1013) before
    anything is stored or loaded, and a token stays unused.
    """
    key: ApiKeyRecord | None = None
    if token:
        token_hash = hash_token(token)
        pending = await state.sessions.find_by_token(token_hash)
        if pending is None:
            raise AuthenticationError(_TOKEN_PROBLEMS["unknown"])
        if pending.connected_at is not None:
            raise AuthenticationError(_TOKEN_PROBLEMS["used"])
        if pending.status != "active":
            raise AuthenticationError(_TOKEN_PROBLEMS[pending.status])
        if pending.expires_at is not None and pending.expires_at <= utcnow():
            await state.sessions.claim_token(token_hash)  # marks it expired
            raise AuthenticationError(_TOKEN_PROBLEMS["expired"])
        await state.penalties.check(pending.api_key_id, peer)
        agent_id = pending.agent_id
    else:
        key = await authenticate(state, api_key)
        await state.penalties.check(key.id, peer)
        await check_rate(state, key)
        if not agent_id and default_agent:
            agent_id = state.settings.default_agent_id
        if not agent_id:
            raise ValidationError("missing agent_id", param="agent_id")
        if not key.may_use_agent(agent_id):
            raise AuthorizationError(
                f"this publishable key may not open conversations with agent {agent_id!r}",
                param="agent_id",
            )
    agent = await state.agents.get(agent_id)
    if agent is None:
        raise NotFoundError(f"agent {agent_id!r} not found", param="agent_id")
    if agent.status != "active":
        raise SessionError(f"agent {agent_id!r} is {agent.status} and takes no conversations")
    for kind, spec in agent.provider_overrides.items():
        if kind in KINDS and spec:
            state.ready_providers().check(str(spec), kind)
    state.ready_providers()
    slot = _reserve(state)
    try:
        if token:
            record, problem = await state.sessions.claim_token(token_hash)
            if record is None or problem is not None:
                raise AuthenticationError(_TOKEN_PROBLEMS[problem or "unknown"])
        else:
            assert key is not None
            meta = {"protocol": protocol, **(metadata or {})}
            record = await state.sessions.create(agent.id, meta, api_key_id=key.id)
    except BaseException:
        slot.release()
        raise
    state.capacity.bind(slot, record.id)
    return agent, record


def _reserve(state: ServerState) -> Slot:
    """This replica's slot for one more conversation, or ``ServerAtCapacityError``
    (``ServerDrainingError`` once it is shutting down)."""
    if state.draining:
        state.metrics.sessions_refused.labels("draining").inc()
        raise ServerDrainingError(DRAINING_MESSAGE, retry_after=1.0)
    try:
        return state.capacity.reserve()
    except ServerAtCapacityError:
        state.metrics.sessions_refused.labels("capacity").inc()
        raise


@dataclass(frozen=True, slots=True)
class Resumed:
    """A conversation taken over by this connection (:func:`resume_session`)."""

    agent: AgentRecord
    record: SessionRecord
    resume_token: str
    """The new token (the one used is spent)."""
    previous_holder: str | None
    """The replica that held it before (it drops an old connection it may still have)."""


def new_resume_token() -> str:
    """A fresh resume token (only its SHA-256 is stored)."""
    return RESUME_TOKEN_PREFIX + secrets.token_urlsafe(32)


async def resume_session(state: ServerState, token: str, *, peer: str | None = None) -> Resumed:
    """Take over the conversation of a resume ``token`` on this replica, within the
    window after its connection dropped. Unknown or spent: ``AuthenticationError``
    (4001); too late or ended for good: ``NotFoundError`` (4004); draining or at
    capacity: 1013, and the token stays usable. Takes a slot like :func:`open_session`."""
    slot = _reserve(state)
    try:
        fresh = new_resume_token()
        record, problem, previous = await state.holders.claim_resume(
            hash_token(token), state.settings.cluster.replica_id, hash_token(fresh)
        )
        if problem is not None or record is None:
            state.metrics.resumes.labels("unknown_token" if problem == "unknown" else "over").inc()
            if problem == "unknown" or record is None:
                raise AuthenticationError("invalid or already used resume token")
            raise NotFoundError(_over(record, state), param="resume_token")
        agent = await state.agents.get(record.agent_id)
        if agent is None:
            await state.holders.detach(
                record.id, state.settings.cluster.replica_id, "agent_deleted", None
            )
            state.metrics.resumes.labels("over").inc()
            raise NotFoundError(f"agent {record.agent_id!r} not found", param="agent_id")
        await state.penalties.check(record.api_key_id, peer)
    except BaseException:
        slot.release()
        raise
    state.capacity.bind(slot, record.id)
    return Resumed(agent, record, fresh, previous)


def _over(record: SessionRecord, state: ServerState) -> str:
    window = state.settings.cluster.resume_window_s
    if record.status == "ended" and record.resume_until is not None:
        return (
            f"conversation {record.id!r} can no longer be resumed: it may be resumed only "
            f"within {window:g} s of its connection dropping"
        )
    return f"conversation {record.id!r} can no longer be resumed: it ended ({record.end_reason})"


async def abandon(state: ServerState, session_id: str) -> None:
    """A session admitted by :func:`open_session` that never ran: its slot is given
    back and its stored session ends (``error``). Safe to call more than once."""
    state.capacity.release(session_id)
    await state.sessions.end(session_id, "error")


@contextlib.asynccontextmanager
async def opening(state: ServerState, session_id: str) -> AsyncIterator[None]:
    """Wraps what an endpoint does between :func:`open_session` and a conversation that
    runs: if it fails (or is cancelled), the session is abandoned, so neither a slot
    nor an active session is left behind."""
    try:
        yield
    except BaseException:
        await abandon(state, session_id)
        raise
