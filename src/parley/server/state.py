"""What the running server holds: settings, database, repositories, models, live sessions."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from parley.config import Settings
from parley.core.session import VoiceSession
from parley.providers.registry import Providers
from parley.storage import AgentRepository, ApiKeyRepository, Database, SessionRepository


@dataclass
class ServerState:
    """Shared by every request of one app."""

    settings: Settings
    db: Database
    keys: ApiKeyRepository
    agents: AgentRepository
    sessions: SessionRepository
    providers: Providers | None = None
    models_ready: asyncio.Event = field(default_factory=asyncio.Event)
    live: dict[str, VoiceSession] = field(default_factory=dict)

    @classmethod
    def create(cls, settings: Settings) -> ServerState:
        """Wire repositories to one database."""
        db = Database(settings.resolved_database_url())
        return cls(settings, db, ApiKeyRepository(db), AgentRepository(db), SessionRepository(db))
