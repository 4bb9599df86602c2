"""Bounds on what one client may send, shared by every voice protocol (sans-I/O: the
endpoints decide how to tell the client and how to close).

- :class:`AudioPacer` (per session): inbound audio may run ahead of the wall clock by
  ``audio_burst_s`` at most. Audio beyond it is dropped with one ``audio_rate_exceeded``
  error per overrun; once more than another ``audio_burst_s`` was dropped, the session
  ends (``policy_violation``).
- :class:`ConnectionGuard` (per connection): messages per second (a token bucket), and a
  budget of refused messages (malformed, too large, over the rate). Each refusal is
  logged as one warning line without a traceback, at most one per
  ``LOG_EVERY_S`` per connection; a connection that spends its budget is closed.
- :class:`PenaltyBox` (per server): a client closed for breaking the limits (its API key
  from its address) may not open another conversation for ``violation_cooldown_s``, so
  reconnecting does not buy a fresh burst every time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from parley.audio.pcm import SAMPLE_RATE
from parley.cluster.base import Cluster, ClusterUnavailableError
from parley.config import LimitSettings
from parley.errors import AudioRateError, ParleyError, PayloadTooLargeError, RateLimitError

log = logging.getLogger(__name__)

LOG_EVERY_S = 10.0
"""At most one warning line per connection this often (the rest are counted in it)."""
REFUSED_REFILL_PER_S = 1.0
"""Refused messages forgiven per second (the budget is ``LimitSettings.max_refused``)."""
POLICY_VIOLATION = 1008
"""WebSocket close code of a connection closed for breaking the limits."""


class _Bucket:
    """A token bucket: ``capacity`` tokens, refilled at ``rate`` per second."""

    def __init__(self, capacity: float, rate: float, now: float) -> None:
        self.capacity, self.rate = capacity, rate
        self.tokens, self._at = capacity, now

    def take(self, amount: float, now: float) -> bool:
        """Spend ``amount`` tokens if there are enough."""
        self.tokens = min(self.capacity, self.tokens + (now - self._at) * self.rate)
        self._at = now
        if self.tokens < amount:
            return False
        self.tokens -= amount
        return True


@dataclass(frozen=True)
class Refusal:
    """A message or audio chunk that is not handled: ``limit`` names the limit it broke,
    ``error`` is what to tell the client (None: it was told already), ``close`` whether
    the connection must now be closed."""

    limit: str
    error: ParleyError | None
    close: bool = False


class AudioPacer:
    """Inbound audio of one session at most ``burst_s`` ahead of real time."""

    def __init__(self, burst_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.burst_s, self._clock = burst_s, clock
        self._bucket = _Bucket(burst_s, 1.0, clock())
        self._overrun = False
        self.dropped_s = 0.0
        """Seconds of audio refused so far."""

    def admit(self, pcm_bytes: int) -> Refusal | None:
        """None if this chunk of 16 kHz PCM16 may be handled; otherwise why not."""
        seconds = pcm_bytes / 2 / SAMPLE_RATE
        if self._bucket.take(seconds, self._clock()):
            self._overrun = False
            return None
        self.dropped_s += seconds
        if self.dropped_s > self.burst_s:
            return Refusal(
                "audio_rate",
                AudioRateError(
                    f"the client kept sending audio faster than real time after "
                    f"audio_rate_exceeded ({self.dropped_s:.1f} s refused); the session ends"
                ),
                close=True,
            )
        if self._overrun:
            return Refusal("audio_rate", None)
        self._overrun = True
        return Refusal(
            "audio_rate",
            AudioRateError(
                f"audio arrives faster than real time: at most {self.burst_s:g} s ahead of "
                "the wall clock is accepted; this chunk was dropped, send audio as it is "
                "captured"
            ),
        )


class ConnectionGuard:
    """Message rate and refused-message budget of one client connection."""

    def __init__(
        self,
        limits: LimitSettings,
        *,
        peer: str,
        protocol: str,
        count: Callable[[str], None] = lambda limit: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``count`` is told the limit of each refused message (metrics)."""
        self.peer, self.protocol, self._count, self._clock = peer, protocol, count, clock
        self.messages_per_s = limits.messages_per_s
        now = clock()
        self._messages = _Bucket(limits.message_burst, limits.messages_per_s, now)
        self._refusals = _Bucket(limits.max_refused, REFUSED_REFILL_PER_S, now)
        self.max_refused = limits.max_refused
        self._over_rate = False
        self._logged_at: float | None = None
        self._unlogged = 0
        self.refused = 0
        """Messages refused on this connection so far."""

    def admit(self) -> Refusal | None:
        """None if the next message may be handled; otherwise it is dropped. The client
        is told once per run of messages over the rate."""
        if self._messages.take(1.0, self._clock()):
            self._over_rate = False
            return None
        error = RateLimitError(
            f"more than {self.messages_per_s:g} messages per second; messages are dropped "
            "until the rate falls",
            retry_after=1.0,
        )
        if self.refuse(error, "message rate exceeded", limit="message_rate"):
            return Refusal("message_rate", self.closing_error(), close=True)
        told, self._over_rate = self._over_rate, True
        return Refusal("message_rate", None if told else error)

    def refuse(self, error: ParleyError, what: str, *, limit: str | None = None) -> bool:
        """Note a refused message (counted, logged with throttling); True if the
        connection has refused too many and must be closed. ``limit`` defaults to
        ``message_size`` or ``malformed``, by the error."""
        self.refused += 1
        too_large = isinstance(error, PayloadTooLargeError)
        limit = limit or ("message_size" if too_large else "malformed")
        self._count(limit)
        now = self._clock()
        spent = not self._refusals.take(1.0, now)
        if self._logged_at is None or now - self._logged_at >= LOG_EVERY_S or spent:
            log.warning(
                "refused a client message",
                extra={
                    "peer": self.peer,
                    "protocol": self.protocol,
                    "code": error.code,
                    "what": what[:120],
                    "suppressed": self._unlogged,
                    "closing": spent,
                },
            )
            self._logged_at, self._unlogged = now, 0
        else:
            self._unlogged += 1
        return spent

    def closing_error(self) -> ParleyError:
        """What a connection closed for refused messages is told."""
        return RateLimitError(
            f"more than {self.max_refused} refused messages in a row; the connection is closed",
            retry_after=1.0,
        )


class PenaltyBox:
    """Clients that broke the limits, refused for ``cooldown_s`` (0: never). A client is
    an API key id and a peer host; the cooldowns live in the cluster's store, so every
    replica refuses them."""

    def __init__(self, cluster: Cluster, cooldown_s: float) -> None:
        self.cluster, self.cooldown_s = cluster, cooldown_s
        self._added = False

    @staticmethod
    def _client(key_id: str, host: str | None) -> str:
        return f"{key_id}@{host or ''}"

    async def add(self, key_id: str | None, host: str | None) -> None:
        """``key_id`` from ``host`` broke the limits now."""
        if self.cooldown_s <= 0 or key_id is None:
            return
        self._added = True
        try:
            await self.cluster.hold(self._client(key_id, host), self.cooldown_s)
        except ClusterUnavailableError:
            log.warning("could not store a cooldown: the shared store is down")

    @property
    def active(self) -> bool:
        """Whether anyone may be in the box (when not, nothing needs checking)."""
        return self.cooldown_s > 0 and (self.cluster.shared or self._added)

    async def check(self, key_id: str | None, host: str | None) -> None:
        """Raise ``RateLimitError`` while ``key_id`` from ``host`` is refused."""
        if key_id is None or not self.active:
            return
        try:
            left = await self.cluster.held_for(self._client(key_id, host))
        except ClusterUnavailableError:  # open rather than refuse everyone
            log.warning("could not read a cooldown: the shared store is down")
            return
        if left > 0:
            raise RateLimitError(
                "this client was closed for breaking the limits (policy_violation); it may "
                f"open a conversation again in {left:.0f} s",
                retry_after=left,
            )


def peer_of(client: tuple[str, int] | None) -> str:
    """``host:port`` of an ASGI scope's client, for log lines."""
    return f"{client[0]}:{client[1]}" if client else "unknown"
