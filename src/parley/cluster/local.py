"""One replica on its own: leases, bus, rate limits and cooldowns in this process."""

from __future__ import annotations

import time
from collections.abc import Callable

from parley.cluster.base import BusHandler, BusMessage, ReplicaInfo
from parley.cluster.buckets import ExpiringKeys, TokenBuckets


class LocalCluster:
    """Nothing is shared: the bus delivers to this replica only, and the only replica
    alive is this one (see :class:`~parley.cluster.base.Cluster`)."""

    shared = False

    def __init__(
        self, replica_id: str, clock: Callable[[], float] = time.monotonic, max_keys: int = 10_000
    ) -> None:
        self.replica_id = replica_id
        self.buckets = TokenBuckets(clock)
        self.cooldowns = ExpiringKeys(clock, max_keys)
        self._info: ReplicaInfo | None = None
        self._handler: BusHandler | None = None

    async def start(self, on_message: BusHandler) -> None:
        self._handler = on_message

    async def close(self) -> None:
        self._handler, self._info = None, None

    async def renew(self, info: ReplicaInfo) -> None:
        self._info = info

    async def replicas(self) -> list[ReplicaInfo]:
        return [self._info] if self._info is not None else []

    async def publish(self, message: BusMessage) -> None:
        if self._handler is not None:
            await self._handler(message)

    async def take(self, key: str, per_minute: float, burst: int) -> float | None:
        return self.buckets.take(key, per_minute, burst)

    async def forget(self, key: str) -> None:
        self.buckets.forget(key)

    async def hold(self, client: str, seconds: float) -> None:
        self.cooldowns.hold(client, seconds)

    async def held_for(self, client: str) -> float:
        return self.cooldowns.left(client)
