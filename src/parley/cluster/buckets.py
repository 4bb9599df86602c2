"""In-process stores of one replica: token buckets and keys that expire."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """Token buckets by key: each take spends a token; tokens refill at a steady rate.
    At most ``max_keys`` buckets are kept (the least recently used go; a dropped bucket
    comes back full)."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000
    ) -> None:
        self._clock, self._max_keys = clock, max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, key: str, per_minute: float, burst: int) -> float | None:
        """Take one token: ``None`` if allowed, else the seconds until one is available."""
        now = self._clock()
        rate = per_minute / 60.0
        bucket = self._buckets.pop(key, None) or _Bucket(float(burst), now)
        self._buckets[key] = bucket
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        bucket.tokens = min(float(burst), bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / rate

    def forget(self, key: str) -> None:
        """Drop a key's bucket (e.g. when the key is revoked)."""
        self._buckets.pop(key, None)


class ExpiringKeys:
    """Keys that each expire at their own time; at most ``max_keys`` are kept (the ones
    that expire first go)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 10_000) -> None:
        self._clock, self._max_keys = clock, max_keys
        self._until: dict[str, float] = {}

    def hold(self, key: str, seconds: float) -> None:
        """Keep ``key`` for ``seconds`` from now (nothing for ``seconds`` <= 0)."""
        if seconds <= 0:
            return
        now = self._clock()
        self._until = {k: t for k, t in self._until.items() if t > now}
        self._until[key] = now + seconds
        while len(self._until) > self._max_keys:
            del self._until[min(self._until, key=self._until.__getitem__)]

    def left(self, key: str) -> float:
        """Seconds ``key`` is still kept (0 if not)."""
        return max(0.0, self._until.get(key, 0.0) - self._clock())

    def __bool__(self) -> bool:
        return bool(self._until)
