"""Persistence: SQLAlchemy models, packaged Alembic migrations and repositories.

Callers use :class:`Database` and the repositories, which return frozen records.
"""

from parley.storage.db import Database, run_migrations, sync_url
from parley.storage.ids import new_id
from parley.storage.repositories import (
    AgentRecord,
    AgentRepository,
    AgentStatus,
    ApiKeyRecord,
    ApiKeyRepository,
    KeyKind,
    SessionRecord,
    SessionRepository,
    SessionStatus,
    StoredTurn,
    TokenProblem,
    hash_api_key,
)

__all__ = [
    "AgentRecord",
    "AgentRepository",
    "AgentStatus",
    "ApiKeyRecord",
    "ApiKeyRepository",
    "Database",
    "KeyKind",
    "SessionRecord",
    "SessionRepository",
    "SessionStatus",
    "StoredTurn",
    "TokenProblem",
    "hash_api_key",
    "new_id",
    "run_migrations",
    "sync_url",
]
