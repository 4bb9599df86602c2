"""The interface of what replicas share, and the messages they send each other."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

BusKind = Literal["end_sessions", "release_session"]


class ClusterUnavailableError(ConnectionError):
    """The shared store (Redis) did not answer."""


@dataclass(frozen=True, slots=True)
class BusMessage:
    """A message to every replica (each acts on the live sessions it holds).

    - ``end_sessions``: end the live sessions of ``agent_id`` (or the one ``session_id``)
      with ``reason``.
    - ``release_session``: ``session_id`` was resumed on replica ``origin``; whoever still
      holds an old connection of it drops that connection without ending the session.
    """

    kind: BusKind
    origin: str
    """The replica that sent it."""
    reason: str = ""
    agent_id: str | None = None
    session_id: str | None = None

    def encode(self) -> str:
        """As JSON text."""
        return json.dumps(asdict(self))

    @classmethod
    def decode(cls, text: str | bytes) -> BusMessage:
        """From JSON text (``ValueError`` if it is not a bus message)."""
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("kind") not in (
            "end_sessions",
            "release_session",
        ):
            raise ValueError("not a bus message")
        fields = ("kind", "origin", "reason", "agent_id", "session_id")
        return cls(**{k: data[k] for k in fields if k in data})


@dataclass(frozen=True, slots=True)
class ReplicaInfo:
    """What a replica says of itself with each lease renewal."""

    replica_id: str
    started_at: float
    """Unix time the replica started."""
    heartbeat_at: float
    """Unix time of this renewal."""
    live_sessions: int = 0
    capacity: int | None = None
    draining: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def encode(self) -> str:
        """As JSON text."""
        return json.dumps(asdict(self))

    @classmethod
    def decode(cls, text: str | bytes) -> ReplicaInfo:
        """From JSON text."""
        return cls(**json.loads(text))


BusHandler = Callable[[BusMessage], Awaitable[None]]


class Cluster(Protocol):
    """What one replica shares with the others. Every method but :meth:`close` may raise
    :class:`ClusterUnavailableError` (Redis down); callers decide what that means."""

    replica_id: str
    shared: bool
    """True when other replicas may exist (a shared store); False for one process."""

    async def start(self, on_message: BusHandler) -> None:
        """Connect; ``on_message`` gets every bus message, this replica's own included."""

    async def close(self) -> None:
        """Withdraw this replica's lease and disconnect."""

    async def renew(self, info: ReplicaInfo) -> None:
        """Renew this replica's lease (it lapses after the lease time)."""

    async def replicas(self) -> list[ReplicaInfo]:
        """The replicas whose lease is current, this one included (if renewed)."""

    async def publish(self, message: BusMessage) -> None:
        """Send ``message`` to every replica."""

    async def take(self, key: str, per_minute: float, burst: int) -> float | None:
        """Take one token of ``key``'s bucket: ``None`` if allowed, else seconds to wait."""

    async def forget(self, key: str) -> None:
        """Drop ``key``'s bucket."""

    async def hold(self, client: str, seconds: float) -> None:
        """Refuse ``client`` for ``seconds`` (a cooldown)."""

    async def held_for(self, client: str) -> float:
        """Seconds ``client`` is still refused (0 if not)."""
