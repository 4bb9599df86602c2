"""What the running server holds: settings, database, repositories, models, live sessions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from parley.config import Settings
from parley.core.agent import AgentLayer, SessionModels
from parley.core.events import EndReason, ServerEvent
from parley.core.session import VoiceSession
from parley.errors import ModelsNotReadyError
from parley.knowledge.embedding import Embedder, shared_embedder
from parley.knowledge.ingest import Ingestor
from parley.knowledge.retrieval import Retriever
from parley.observability.metrics import ServerMetrics
from parley.providers.pool import ProviderPool
from parley.safety.pii import PiiDetector
from parley.server.inbound_limits import PenaltyBox
from parley.server.ratelimit import RateLimiter
from parley.storage import (
    AgentRecord,
    AgentRepository,
    ApiKeyRepository,
    Database,
    PolicyRepository,
    SessionRecord,
    SessionRepository,
)
from parley.storage.knowledge import KnowledgeRepository

log = logging.getLogger(__name__)


AgentLayerFactory = Callable[[AgentRecord, SessionRecord, SessionModels], Awaitable[AgentLayer]]
"""Makes the agent layer (hooks, tool runner) of one session of an agent, which talks
with ``models``."""
NO_AGENT_LAYER = AgentLayer()


async def no_agent_layer(
    agent: AgentRecord, session: SessionRecord, models: SessionModels
) -> AgentLayer:
    """A plain voice pipeline."""
    return NO_AGENT_LAYER


class Transport(Protocol):
    """A protocol endpoint's connection, as the shared conversation runner sees it."""

    open: bool
    """False once the peer is gone or the connection is closing; nothing is sent then."""

    async def deliver(self, event: ServerEvent) -> None:
        """Encode and send one engine event in the protocol's wire form."""

    async def close(self, code: int, reason: str) -> None:
        """Close the connection (WebSocket close code semantics)."""


@dataclass
class LiveSession:
    """A conversation running on a socket of this process."""

    session_id: str
    agent_id: str
    session: VoiceSession
    transport: Transport
    terminating: asyncio.Event | None = None
    """Set while :meth:`terminate` runs; the socket's own task waits for it to finish."""

    async def terminate(self, reason: EndReason, close_code: int = 1000) -> None:
        """End it now: the client gets ``session_ended`` with ``reason``, then a close
        (with ``close_code``)."""
        if self.terminating is not None:
            await self.terminating.wait()
            return
        self.terminating = asyncio.Event()
        try:
            await self.session.close(reason, notify=True)
            self.transport.open = False
            with contextlib.suppress(Exception):
                await self.transport.close(close_code, reason)
        finally:
            self.terminating.set()
        log.info(
            "session terminated",
            extra={"session_id": self.session_id, "agent_id": self.agent_id, "reason": reason},
        )


class LiveSessions:
    """The live conversations of this process, by session id."""

    def __init__(self) -> None:
        self._by_id: dict[str, LiveSession] = {}

    def add(self, live: LiveSession) -> None:
        self._by_id[live.session_id] = live

    def remove(self, session_id: str) -> None:
        self._by_id.pop(session_id, None)

    def get(self, session_id: str) -> LiveSession | None:
        return self._by_id.get(session_id)

    def of_agent(self, agent_id: str) -> list[LiveSession]:
        return [s for s in self._by_id.values() if s.agent_id == agent_id]

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[LiveSession]:
        return iter(list(self._by_id.values()))

    async def terminate_agent(self, agent_id: str, reason: EndReason) -> int:
        """End every live session of an agent at once; returns how many."""
        sessions = self.of_agent(agent_id)
        await asyncio.gather(*(s.terminate(reason) for s in sessions), return_exceptions=True)
        return len(sessions)


@dataclass
class ServerState:
    """Shared by every request of one app."""

    settings: Settings
    db: Database
    keys: ApiKeyRepository
    agents: AgentRepository
    sessions: SessionRepository
    providers: ProviderPool
    models_ready: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the default providers are loaded."""
    agent_layer: AgentLayerFactory = no_agent_layer
    """The agent-layer hooks and tool runner of a new session (wired by the app factory)."""
    pii: PiiDetector = field(default_factory=PiiDetector)
    """Finds personal data for content policies (loaded when a policy first needs it)."""
    live: LiveSessions = field(default_factory=LiveSessions)
    limiter: RateLimiter = field(default_factory=RateLimiter)
    metrics: ServerMetrics = field(init=False)

    penalties: PenaltyBox = field(init=False)
    """Clients refused for a while after breaking the limits."""
    policies: PolicyRepository = field(init=False)
    knowledge: KnowledgeRepository = field(init=False)
    embedder: Embedder = field(init=False)
    """Embeds passages and questions for knowledge bases (loaded on first use)."""
    retriever: Retriever = field(init=False)
    ingestor: Ingestor = field(init=False)
    _http: httpx.AsyncClient | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    """Work left running by ended sessions (e.g. redacting a recording)."""

    def __post_init__(self) -> None:
        self.policies = PolicyRepository(self.db)
        self.metrics = ServerMetrics(lambda: len(self.live))
        self.knowledge = KnowledgeRepository(self.db)
        self.embedder = shared_embedder()
        self.retriever = Retriever(self.knowledge, self.embedder)
        self.ingestor = Ingestor(
            self.knowledge, self.embedder,
            allow_private_urls=self.settings.allow_private_urls, counted=self.metrics.document,
        )  # fmt: skip
        self.penalties = PenaltyBox(self.settings.limits.violation_cooldown_s)

    def background(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``work`` after the request or session that started it (kept until done;
        cancelled when the server stops)."""
        task = asyncio.create_task(work, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def http(self) -> httpx.AsyncClient:
        """The HTTP client of server-side calls to users' URLs (webhooks), made on first
        use: no proxies from the environment, no redirects followed."""
        if self._http is None:
            self._http = httpx.AsyncClient(trust_env=False, follow_redirects=False)
        return self._http

    async def close_http(self) -> None:
        """Close the HTTP client (at shutdown)."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def ready_providers(self) -> ProviderPool:
        """The providers, once the defaults are loaded (503 ``ModelsNotReadyError`` before)."""
        if not self.models_ready.is_set():
            raise ModelsNotReadyError("the server is still loading its models; retry shortly")
        return self.providers

    def recording_path(self, session_id: str) -> Path:
        """Where the session's recording is (or would be) stored."""
        return self.settings.data_dir / "recordings" / f"{session_id}.wav"

    @classmethod
    def create(cls, settings: Settings) -> ServerState:
        """Wire repositories to one database."""
        db = Database(settings.resolved_database_url())
        return cls(
            settings,
            db,
            ApiKeyRepository(db),
            AgentRepository(db),
            SessionRepository(db),
            ProviderPool.from_settings(settings),
        )
