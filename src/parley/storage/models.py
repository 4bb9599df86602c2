"""SQLAlchemy ORM tables. Only the storage package sees these; callers get records.

The schema itself is created by the Alembic migrations in ``migrations/versions``;
keep both in step.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that always hands back aware UTC datetimes.

    SQLite keeps no offset, so values are normalised to UTC before they are
    written and tagged as UTC when read. Naive datetimes are rejected.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: storage needs timezone-aware values")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def without_nul(value: str) -> str:
    """``value`` without NUL characters, which Postgres cannot store in text."""
    return value.replace("\x00", "") if "\x00" in value else value


class FreeText(TypeDecorator[str]):
    """``Text`` that drops NUL characters on write, on every backend alike.

    Postgres refuses NUL in text (SQLite keeps it). The API refuses NUL in what clients
    send; this covers text from elsewhere (model output, parsed documents), so a stray
    NUL never fails a write on one backend and not on the other.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else without_nul(value)


class FreeString(TypeDecorator[str]):
    """``String(n)`` that drops NUL characters on write, like :class:`FreeText`; for
    free-form values (document titles, file names), never for ids or keys."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else without_nul(value)


class Base(DeclarativeBase):
    """Declarative base with deterministic constraint names."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ApiKeyRow(Base):
    """An API key; only the SHA-256 of the plaintext is kept."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(32))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    kind: Mapped[str] = mapped_column(String(16), default="secret", server_default="secret")
    agent_ids: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    rate_limit_per_minute: Mapped[float | None] = mapped_column(Float, nullable=True)
    rate_limit_burst: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AgentRow(Base):
    """A configured voice agent. Deleting only sets ``status`` to ``deleted``."""

    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    system_prompt: Mapped[str] = mapped_column(FreeText)
    voice_id: Mapped[str] = mapped_column(String(200))
    first_message: Mapped[str | None] = mapped_column(FreeText, nullable=True)
    language: Mapped[str] = mapped_column(String(32), default="en", server_default="en")
    voices: Mapped[dict[str, str]] = mapped_column(JSON, default=dict, server_default="{}")
    """The voice of each language the agent answers in (language code → voice id)."""
    max_turns: Mapped[int] = mapped_column(Integer, default=50, server_default="50")
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tools: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    content_policy_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    loop_detection: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    knowledge_base_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    web_search: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    provider_overrides: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    signing_secret: Mapped[str | None] = mapped_column(String(128), nullable=True)
    """Signs the bodies of the agent's webhook calls (``Parley-Signature``)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SessionRow(Base):
    """One conversation with an agent."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(64), ForeignKey("agents.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    end_reason: Mapped[str | None] = mapped_column(FreeString(200), nullable=True)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    initial_message: Mapped[str | None] = mapped_column(FreeText, nullable=True)
    api_key_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    connected_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    replica_id: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    """The replica whose socket holds (or last held) the conversation."""
    resume_token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    """SHA-256 of the conversation's current resume token (a new one on every connect)."""
    resume_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """Until when an ended conversation (its connection dropped) may be resumed."""


class TurnRow(Base):
    """One finished turn of a session, in insertion order (``id``)."""

    __tablename__ = "turns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    turn_id: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(FreeText)
    interrupted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime)
    latency_ms: Mapped[dict[str, float | None]] = mapped_column(JSON, default=dict)
    tool_calls: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    """The functions an agent turn called: ``call_id``, ``name``, ``arguments``, ``output``."""
    safety: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    """What content safety did on the turn: ``kind``, ``action``, ``policy_id``, ``detail``."""
    citations: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    """The knowledge-base passages the turn's reply was grounded in."""
    language: Mapped[str | None] = mapped_column(String(16), nullable=True)
    """A user turn's detected language; an agent turn's reply language."""
    language_probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    """How sure speech-to-text was of a user turn's ``language``."""


class PolicyRow(Base):
    """A content policy; ``body`` holds its settings (:class:`parley.safety.policy.PolicyBody`)."""

    __tablename__ = "policies"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    body: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class KnowledgeBaseRow(Base):
    """A collection of documents agents answer from. ``version`` goes up whenever its
    chunks change (cached search indexes are keyed by it)."""

    __tablename__ = "knowledge_bases"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(FreeText, default="")
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class DocumentRow(Base):
    """One document of a knowledge base; its chunks exist only once it is ``ready``."""

    __tablename__ = "kb_documents"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    knowledge_base_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("knowledge_bases.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(FreeString(300))
    source: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str | None] = mapped_column(FreeString(300), nullable=True)
    url: Mapped[str | None] = mapped_column(FreeText, nullable=True)
    content_type: Mapped[str | None] = mapped_column(FreeString(200), nullable=True)
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="processing")
    replica_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    """The replica processing the document (while ``processing``)."""
    error: Mapped[str | None] = mapped_column(FreeText, nullable=True)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ChunkRow(Base):
    """A passage of a document with its embedding (float32, little-endian). On SQLite
    the full-text index ``kb_chunks_fts`` follows this table through triggers."""

    __tablename__ = "kb_chunks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("kb_documents.id", ondelete="CASCADE"), index=True
    )
    knowledge_base_id: Mapped[str] = mapped_column(String(64), index=True)
    position: Mapped[int] = mapped_column(Integer)
    heading: Mapped[str] = mapped_column(FreeText, default="")
    text: Mapped[str] = mapped_column(FreeText)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
