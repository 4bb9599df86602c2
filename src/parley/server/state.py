"""What the running server holds: settings, database, repositories, models, live sessions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from parley.cluster import Cluster, cluster_for
from parley.config import Settings
from parley.core.agent import AgentLayer, SessionModels
from parley.core.events import EndReason, ServerEvent
from parley.core.session import VoiceSession
from parley.errors import ModelsNotReadyError, ServerAtCapacityError
from parley.knowledge.embedding import Embedder, shared_embedder
from parley.knowledge.ingest import Ingestor
from parley.knowledge.retrieval import Retriever
from parley.observability.metrics import ServerMetrics
from parley.providers.pool import ProviderPool
from parley.safety.pii import PiiDetector
from parley.server.inbound_limits import PenaltyBox
from parley.storage import (
    AgentRecord,
    AgentRepository,
    ApiKeyRepository,
    Database,
    PolicyRepository,
    SessionRecord,
    SessionRepository,
)
from parley.storage.holders import SessionHolders
from parley.storage.knowledge import KnowledgeRepository

if TYPE_CHECKING:
    from parley.server.replica import Replica

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
    released: bool = False
    """The conversation was resumed on another connection: this one stores nothing more."""

    async def terminate(
        self, reason: EndReason, close_code: int = 1000, resume_within_s: float | None = None
    ) -> None:
        """End it now: the client gets ``session_ended`` with ``reason`` (and
        ``resume_within_s`` when it may resume), then a close (with ``close_code``)."""
        if self.terminating is not None:
            await self.terminating.wait()
            return
        self.terminating = asyncio.Event()
        try:
            await self.session.close(reason, notify=True, resume_within_s=resume_within_s)
            self.transport.open = False
            with contextlib.suppress(Exception):
                await self.transport.close(close_code, reason)
        finally:
            self.terminating.set()
        log.info(
            "session terminated",
            extra={"session_id": self.session_id, "agent_id": self.agent_id, "reason": reason},
        )

    async def release(self) -> None:
        """The conversation went on over another connection (resumed, maybe on another
        replica): drop this one without ending the stored session or telling the client."""
        self.released = True
        self.transport.open = False
        await self.session.close("client", notify=False)
        with contextlib.suppress(Exception):
            await self.transport.close(1000, "the conversation was resumed elsewhere")
        log.info("session released", extra={"session_id": self.session_id})


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


CAPACITY_RETRY_S = 5.0
"""The retry hint (seconds) given to a conversation refused for capacity."""


class Slot:
    """One admitted conversation's place in a :class:`CapacityGate`."""

    def __init__(self, gate: CapacityGate) -> None:
        self._gate = gate
        self.session_id: str | None = None
        """The stored session it belongs to, once there is one."""
        self.released = False

    def release(self) -> None:
        """Give the place back; a second call does nothing."""
        if not self.released:
            self.released = True
            self._gate._give_back(self)


class CapacityGate:
    """How many conversations this process holds at once, of every protocol.

    A slot is taken (:meth:`reserve`) before anything of a new conversation is stored
    or loaded, and given back when the conversation ends or fails to open. The check
    and the count are one synchronous step, so simultaneous connects cannot overshoot
    ``limit`` (0: no limit); the count is of slots held, so it is never negative.
    """

    def __init__(self, limit: int, retry_after_s: float = CAPACITY_RETRY_S) -> None:
        self.limit = limit
        self.retry_after_s = retry_after_s
        self._slots: set[Slot] = set()
        self._by_session: dict[str, Slot] = {}

    @property
    def in_use(self) -> int:
        """Slots held now (conversations running or being opened)."""
        return len(self._slots)

    def reserve(self) -> Slot:
        """A slot, or ``ServerAtCapacityError`` (with a retry hint) when all are taken."""
        if self.limit and len(self._slots) >= self.limit:
            raise ServerAtCapacityError(
                f"server at capacity ({self.limit} conversations); "
                f"retry in {self.retry_after_s:g} s",
                retry_after=self.retry_after_s,
            )
        slot = Slot(self)
        self._slots.add(slot)
        return slot

    def bind(self, slot: Slot, session_id: str) -> None:
        """``slot`` now belongs to the stored session ``session_id`` (see :meth:`release`)."""
        if not slot.released:
            slot.session_id = session_id
            self._by_session[session_id] = slot

    def slot_of(self, session_id: str) -> Slot | None:
        """The slot last bound to session ``session_id`` (a resumed conversation may
        briefly have two: the old connection's and the new one's)."""
        return self._by_session.get(session_id)

    def release(self, session_id: str) -> bool:
        """Give back the slot of session ``session_id``; False if it holds none."""
        slot = self._by_session.get(session_id)
        if slot is None:
            return False
        slot.release()
        return True

    def _give_back(self, slot: Slot) -> None:
        self._slots.discard(slot)
        if slot.session_id is not None and self._by_session.get(slot.session_id) is slot:
            del self._by_session[slot.session_id]


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
    cluster: Cluster = field(init=False)
    """What this replica shares with the others (leases, bus, rate limits, cooldowns)."""
    holders: SessionHolders = field(init=False)
    """Which replica holds each conversation; resume tokens."""
    replica: Replica = field(init=False)
    """This replica's lease, bus, sweep and drain."""
    draining: bool = False
    """True once SIGTERM came: no new conversations; live ones end with server_shutdown."""
    metrics: ServerMetrics = field(init=False)
    capacity: CapacityGate = field(init=False)
    """Conversations held at once (``limits.max_sessions``)."""

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
        self.capacity = CapacityGate(self.settings.limits.max_sessions)
        self.knowledge = KnowledgeRepository(self.db)
        self.embedder = shared_embedder()
        self.retriever = Retriever(self.knowledge, self.embedder)
        self.ingestor = Ingestor(
            self.knowledge, self.embedder,
            allow_private_urls=self.settings.allow_private_urls, counted=self.metrics.document,
        )  # fmt: skip
        cluster = self.settings.cluster
        self.cluster = cluster_for(cluster.replica_id, cluster.redis_url, cluster.lease_s)
        self.holders = SessionHolders(self.db)
        from parley.server.replica import Replica  # it needs this class: made here

        self.replica = Replica(self)
        self.penalties = PenaltyBox(self.cluster, self.settings.limits.violation_cooldown_s)

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
