"""Replicas sharing one Redis: leases with a time to live, a pub/sub bus, token buckets
and cooldowns computed on Redis's own clock (atomic Lua), so every replica sees one
limit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from parley.cluster.base import BusHandler, BusMessage, ClusterUnavailableError, ReplicaInfo

log = logging.getLogger(__name__)

PREFIX = "parley:"
BUS_CHANNEL = PREFIX + "bus"
_T = TypeVar("_T")

# One token of bucket KEYS[1]: ARGV = tokens per second, burst. Returns the seconds to
# wait as a string ("0" when allowed); floats survive only as strings in Lua replies.
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
local data = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(data[1]) or burst
local updated = tonumber(data[2]) or t
tokens = math.min(burst, tokens + math.max(0, t - updated) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(t))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisCluster:
    """Shared state of every replica that uses the same Redis (see
    :class:`~parley.cluster.base.Cluster`). Leases are keys that expire after
    ``lease_s``; the bus is one pub/sub channel that every replica reads."""

    shared = True

    def __init__(
        self, replica_id: str, url: str, *, lease_s: float, timeout_s: float = 2.0
    ) -> None:
        self.replica_id, self.lease_s = replica_id, lease_s
        self._redis: aioredis.Redis = aioredis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, decode_responses=True
        )
        self._take = self._redis.register_script(_TAKE)
        self._reader: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def _call(self, work: Callable[[], Awaitable[_T]]) -> _T:
        try:
            return await work()
        except (RedisError, OSError) as exc:
            raise ClusterUnavailableError(f"Redis did not answer: {type(exc).__name__}") from None

    async def start(self, on_message: BusHandler) -> None:
        await self._call(self._redis.ping)
        self._reader = asyncio.create_task(self._read_bus(on_message), name="parley-bus")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), 5.0)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        with contextlib.suppress(RedisError, OSError):
            await self._redis.delete(self._lease_key(self.replica_id))
        with contextlib.suppress(RedisError, OSError):
            await self._redis.aclose()

    @staticmethod
    def _lease_key(replica_id: str) -> str:
        return f"{PREFIX}replica:{replica_id}"

    async def renew(self, info: ReplicaInfo) -> None:
        ms = max(1, round(self.lease_s * 1000))
        await self._call(
            lambda: self._redis.set(self._lease_key(info.replica_id), info.encode(), px=ms)
        )

    async def replicas(self) -> list[ReplicaInfo]:
        async def read() -> list[ReplicaInfo]:
            keys = [k async for k in self._redis.scan_iter(match=self._lease_key("*"), count=100)]
            values = await self._redis.mget(keys) if keys else []
            found = []
            for value in values:
                if value is not None:
                    with contextlib.suppress(ValueError, TypeError):
                        found.append(ReplicaInfo.decode(value))
            return sorted(found, key=lambda r: r.replica_id)

        return await self._call(read)

    async def publish(self, message: BusMessage) -> None:
        await self._call(lambda: self._redis.publish(BUS_CHANNEL, message.encode()))

    async def take(self, key: str, per_minute: float, burst: int) -> float | None:
        reply: Any = await self._call(
            lambda: self._take(keys=[f"{PREFIX}rate:{key}"], args=[per_minute / 60.0, burst])
        )
        wait = float(reply)
        return None if wait <= 0 else wait

    async def forget(self, key: str) -> None:
        await self._call(lambda: self._redis.delete(f"{PREFIX}rate:{key}"))

    async def hold(self, client: str, seconds: float) -> None:
        if seconds > 0:
            ms = math.ceil(seconds * 1000)
            await self._call(lambda: self._redis.set(f"{PREFIX}cooldown:{client}", "1", px=ms))

    async def held_for(self, client: str) -> float:
        ms: int = await self._call(lambda: self._redis.pttl(f"{PREFIX}cooldown:{client}"))
        return ms / 1000 if ms > 0 else 0.0

    async def _messages(self) -> AsyncIterator[BusMessage]:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(BUS_CHANNEL)
            self._subscribed.set()
            async for raw in pubsub.listen():
                if raw.get("type") != "message":
                    continue
                try:
                    yield BusMessage.decode(raw["data"])
                except (ValueError, TypeError, KeyError):
                    log.warning("ignored a malformed bus message")
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()

    async def _read_bus(self, on_message: BusHandler) -> None:
        """Deliver bus messages until cancelled; reconnect (1 s, 2 s, ... 10 s) when
        Redis goes away."""
        delay = 1.0
        while True:
            try:
                async for message in self._messages():
                    delay = 1.0
                    try:
                        await on_message(message)
                    except Exception:
                        log.exception("a bus message failed", extra={"kind": message.kind})
            except (RedisError, OSError) as exc:
                log.warning(
                    "the bus lost Redis; reconnecting",
                    extra={"error": type(exc).__name__, "retry_in_s": delay},
                )
            await asyncio.sleep(delay)
            delay = min(10.0, delay * 2)
