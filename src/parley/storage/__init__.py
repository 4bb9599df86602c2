"""Persistence: SQLAlchemy models, packaged Alembic migrations and one repository
module per aggregate (``keys``, ``agents``, ``sessions``).

Callers use :class:`Database` and the repositories, which return frozen records.
"""

from parley.storage.agents import AgentRecord, AgentRepository, AgentStatus
from parley.storage.db import Database, run_migrations, sync_url
from parley.storage.ids import new_id
from parley.storage.keys import ApiKeyRecord, ApiKeyRepository, KeyKind, hash_api_key
from parley.storage.policies import PolicyRecord, PolicyRepository
from parley.storage.sessions import (
    SessionRecord,
    SessionRepository,
    SessionStatus,
    StoredTurn,
    TokenProblem,
)

__all__ = [
    "AgentRecord",
    "AgentRepository",
    "AgentStatus",
    "ApiKeyRecord",
    "ApiKeyRepository",
    "Database",
    "KeyKind",
    "PolicyRecord",
    "PolicyRepository",
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
