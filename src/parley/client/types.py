"""The shapes of the REST API (TypedDicts): what it answers, the options of its create
calls, and :class:`ApiError`."""

from __future__ import annotations

from typing import Any, Literal, TypedDict

import httpx

from parley.errors import ParleyError


class ApiError(ParleyError):
    """An error response of the REST API: its HTTP ``status`` and the shared error body."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        param: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, param=param)
        self.status, self.code, self.http_status = status, code, status
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"

    @classmethod
    def of(cls, response: httpx.Response) -> ApiError:
        """From an error response (bodies that are not Parley's are kept as the message)."""
        try:
            error = response.json()["error"]
            code, message, param = str(error["code"]), str(error["message"]), error.get("param")
        except (ValueError, KeyError, TypeError):
            code, message, param = "internal_error", response.text[:500], None
        retry = response.headers.get("retry-after")
        return cls(
            response.status_code,
            code,
            message,
            param=param,
            retry_after=float(retry) if retry and retry.isdigit() else None,
        )


class Agent(TypedDict):
    """An agent (``GET /v1/agents/{id}``)."""

    id: str
    name: str
    system_prompt: str
    voice_id: str
    first_message: str | None
    language: str
    """A language code the agent always answers in, or ``"auto"`` (the caller's)."""
    voices: dict[str, str]
    """The voice of each language the agent answers in."""
    tools: list[dict[str, Any]]
    max_turns: int
    content_policy_id: str | None
    loop_detection: dict[str, Any] | None
    knowledge_base_ids: list[str]
    web_search: bool
    turn_detection: Literal["model", "silence"]
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
    created_at: str
    updated_at: str


class AgentPage(TypedDict):
    """A page of agents."""

    data: list[Agent]
    total: int
    limit: int
    offset: int
    has_more: bool


class AgentDeleted(TypedDict):
    """The answer to ``DELETE /v1/agents/{id}``."""

    id: str
    status: Literal["deleted"]
    deleted: bool
    sessions_ended: int


class Policy(TypedDict):
    """A content policy (``GET /v1/policies/{id}``); see docs/safety.md."""

    id: str
    object: Literal["policy"]
    name: str
    description: str
    blocked_terms: list[str]
    user_blocked_terms: list[str]
    blocked_fallback: str | None
    pii: dict[str, Any]
    criteria: list[dict[str, Any]]
    filler_phrases: list[str]
    filler_after_ms: int
    judge_provider: str | None
    judge_timeout_ms: int
    on_judge_error: Literal["allow", "block"]
    created_at: str
    updated_at: str


class PolicyPage(TypedDict):
    """A page of content policies."""

    data: list[Policy]
    total: int
    limit: int
    offset: int
    has_more: bool


class PolicyDeleted(TypedDict):
    """The answer to ``DELETE /v1/policies/{id}``."""

    id: str
    object: Literal["policy"]
    deleted: bool


class KnowledgeBase(TypedDict):
    """A knowledge base and how much it holds (``GET /v1/knowledge-bases/{id}``)."""

    id: str
    object: Literal["knowledge_base"]
    name: str
    description: str
    document_count: int
    chunk_count: int
    created_at: str
    updated_at: str


class KnowledgeBasePage(TypedDict):
    """A page of knowledge bases."""

    data: list[KnowledgeBase]
    total: int
    limit: int
    offset: int
    has_more: bool


class KnowledgeBaseDeleted(TypedDict):
    """The answer to ``DELETE /v1/knowledge-bases/{id}``."""

    id: str
    object: Literal["knowledge_base"]
    deleted: bool


class Document(TypedDict):
    """A document of a knowledge base: ``processing`` until its chunks are stored
    (``ready``) or ingestion failed (``failed``, ``error`` says why)."""

    id: str
    object: Literal["document"]
    knowledge_base_id: str
    title: str
    source: Literal["upload", "text", "url"]
    filename: str | None
    url: str | None
    content_type: str | None
    size_bytes: int
    status: Literal["processing", "ready", "failed"]
    error: str | None
    chunk_count: int
    created_at: str
    updated_at: str


class DocumentPage(TypedDict):
    """A page of a knowledge base's documents."""

    data: list[Document]
    total: int
    limit: int
    offset: int
    has_more: bool


class DocumentDeleted(TypedDict):
    """The answer to ``DELETE /v1/knowledge-bases/{id}/documents/{doc_id}``."""

    id: str
    object: Literal["document"]
    deleted: bool


class QueryHit(TypedDict):
    """A retrieved chunk: ``score`` is its fused reciprocal-rank score, ``similarity``
    its cosine similarity to the query, ``text_match`` whether full-text search found it."""

    chunk_id: int
    document_id: str
    title: str
    heading: str
    text: str
    score: float
    similarity: float
    text_match: bool


class QueryResult(TypedDict):
    """What retrieval found for a query, best first, and how long it took."""

    data: list[QueryHit]
    took_ms: float


class SigningSecret(TypedDict):
    """An agent's new webhook signing secret (``whsec_...``), shown only in this answer."""

    agent_id: str
    signing_secret: str


class Session(TypedDict):
    """A session; ``websocket_url`` only in the answer that created it."""

    session_id: str
    agent_id: str
    status: Literal["active", "ended", "expired"]
    websocket_url: str | None
    created_at: str
    expires_at: str | None
    connected_at: str | None
    ended_at: str | None
    end_reason: str | None
    initial_message: str | None
    metadata: dict[str, Any]
    replica_id: str | None
    """The replica that holds (or last held) the live conversation."""
    resumable_until: str | None
    """Until when an ended conversation whose connection dropped may be resumed."""


class ToolCallMade(TypedDict):
    """A function an agent turn called, with the client's result (None until it came)."""

    call_id: str
    name: str
    arguments: dict[str, Any]
    output: Any


class SafetyMark(TypedDict):
    """What content safety did about a turn's words (``kind``: blocked_term, pii,
    criterion, loop; ``action``: replaced, redacted, blocked, flagged, steered, said, ended)."""

    kind: str
    action: str
    detail: str
    policy_id: str | None
    role: Literal["user", "agent"]


class Citation(TypedDict):
    """A knowledge-base passage an agent turn was given to answer from (on the turn and
    in the ``citations`` event)."""

    chunk_id: int
    document_id: str
    knowledge_base_id: str
    title: str
    heading: str
    score: float


class Turn(TypedDict):
    """A finished turn and its latency metrics (ms)."""

    turn_id: str
    role: Literal["user", "agent"]
    text: str
    interrupted: bool
    started_at: str
    ended_at: str
    latency_ms: dict[str, float | None]
    tool_calls: list[ToolCallMade]
    safety: list[SafetyMark]
    citations: list[Citation]
    language: str | None
    """A user turn's detected language; an agent turn's reply language."""
    language_probability: float | None


class SessionOptions(TypedDict, total=False):
    """The options of a new session (``create_session``)."""

    metadata: dict[str, Any] | None
    initial_message: str | None
    expires_in: int | None


class SessionDetail(Session):
    """A session with its transcript."""

    transcript: list[Turn]


class SessionPage(TypedDict):
    """A page of sessions."""

    data: list[Session]
    total: int
    limit: int
    offset: int
    has_more: bool


class Provider(TypedDict):
    """A model provider of the server (``GET /v1/providers``), never its secrets."""

    name: str
    kind: str
    type: str
    model: str
    base_url: str | None
    default: bool
    loaded: bool
    reachable: bool


class Voice(TypedDict):
    """A voice agents may use, and the TTS provider that speaks it."""

    id: str
    name: str
    language: str
    sample_rate: int
    provider: str
    languages: list[str]
    """The language codes it speaks."""
    quality: Literal["natural", "basic"]


class Language(TypedDict):
    """What the server can do in one language (``GET /v1/languages``)."""

    code: str
    name: str
    speech_to_text: bool
    voices: list[str]
    voice_quality: Literal["natural", "basic"] | None
    turn_rules: Literal["full", "punctuation"]
    native_lines: bool


class RateLimit(TypedDict):
    """A key's token bucket."""

    requests_per_minute: float
    burst: int


class ApiKey(TypedDict):
    """An API key as listed (never the key itself)."""

    id: str
    name: str
    kind: Literal["secret", "publishable"]
    prefix: str
    admin: bool
    agent_ids: list[str] | None
    rate_limit: RateLimit | None
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


class ApiKeyCreated(ApiKey):
    """A new key with its plaintext ``key``, shown only once."""

    key: str


class KeyOptions(TypedDict, total=False):
    """The options of a new API key (``create_key``); a secret, non-admin key by default."""

    kind: Literal["secret", "publishable"]
    admin: bool
    agent_ids: list[str] | None
    rate_limit: RateLimit | None


class Reconnecting(TypedDict):
    """A live conversation's socket dropped; the next resume attempt (from 1) comes after
    ``delay_ms``. ``reason``: ``close_1006``, ``server_shutdown``, ``connection_refused``,
    ``http_503``, ... (a :class:`~parley.client.Conversation` event, not the server's)."""

    type: Literal["reconnecting"]
    attempt: int
    delay_ms: int
    reason: str


class Reconnected(TypedDict):
    """The conversation was resumed (same ``conversation_id``) after ``attempts`` tries."""

    type: Literal["reconnected"]
    conversation_id: str
    attempts: int


class ReplicaLease(TypedDict):
    """One replica whose lease is current (``GET /v1/cluster``)."""

    replica_id: str
    live_sessions: int
    capacity: int | None
    draining: bool
    started_at: str
    heartbeat_at: str


class ClusterState(TypedDict):
    """The replicas of a deployment (``GET /v1/cluster``, admin keys only)."""

    replica_id: str
    shared: bool
    lease_s: float
    resume_window_s: float
    replicas: list[ReplicaLease]
