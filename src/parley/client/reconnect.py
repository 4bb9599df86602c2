"""When and how a dropped conversation is resumed (docs/sdk.md, "Reconnection").

Pure: the random source and the clock are injected, so the schedule is tested without
waiting. :class:`Conversation <parley.client.conversation.Conversation>` uses it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

#: Close codes after which a conversation is resumed: going away (1001), no status (1005),
#: abnormal closure, e.g. a network drop (1006), server fault (1011), restart or drain
#: (1012), try again later: capacity (1013), bad gateway (1014).
RETRY_CLOSE_CODES = frozenset({1001, 1005, 1006, 1011, 1012, 1013, 1014})
#: Close codes of a final refusal of a resume: unknown or used token (4001), the
#: conversation can no longer be resumed (4004). Every other code is final too.
FINAL_CLOSE_CODES = frozenset({4001, 4004})
#: Longest resume token kept; a longer one is ignored (the conversation is then not resumed).
MAX_TOKEN_CHARS = 4096
#: Longest resume window a server may announce (``resume_within_s``).
MAX_WINDOW_S = 3600.0
#: Query parameters a resume leaves out: the resume token replaces them.
CREDENTIALS = frozenset({"api_key", "agent_id", "token", "resume_token"})


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """How a dropped conversation is resumed: exponential backoff with full jitter
    (attempt *k*, from 1, waits ``random(0, min(cap_s, base_s * 2**(k-1)))``), for at most
    ``window_s`` after the drop (a server's ``resume_within_s`` wins) and ``max_attempts``
    attempts, each connect and handshake bounded by ``connect_timeout_s``.
    ``enabled=False`` never reconnects."""

    enabled: bool = True
    base_s: float = 0.25
    cap_s: float = 4.0
    window_s: float = 30.0
    max_attempts: int = 64
    connect_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if not (self.base_s > 0 and self.cap_s >= self.base_s):
            raise ValueError("need 0 < base_s <= cap_s")
        if not (0 < self.window_s <= MAX_WINDOW_S):
            raise ValueError(f"window_s must be in (0, {MAX_WINDOW_S:g}]")
        if not (1 <= self.max_attempts <= 10_000):
            raise ValueError("max_attempts must be in [1, 10000]")
        if not self.connect_timeout_s > 0:
            raise ValueError("connect_timeout_s must be positive")

    @classmethod
    def of(cls, reconnect: bool | ReconnectPolicy) -> ReconnectPolicy:
        """``True``: the defaults; ``False``: off; a policy as is."""
        if isinstance(reconnect, ReconnectPolicy):
            return reconnect
        return cls(enabled=bool(reconnect))


class Backoff:
    """The delays of one reconnect, from the drop on: :meth:`next_delay` until it says
    ``None`` (the window has passed or the attempts are spent)."""

    def __init__(
        self,
        policy: ReconnectPolicy,
        window_s: float | None = None,
        *,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy, self._rand, self._clock = policy, rand, clock
        window = policy.window_s if window_s is None else min(max(window_s, 0.0), MAX_WINDOW_S)
        self.window_s = window
        self.deadline = clock() + window
        self.attempts = 0

    def remaining(self) -> float:
        """Seconds left in the window (negative once it has passed)."""
        return self.deadline - self._clock()

    def next_delay(self) -> float | None:
        """How long to wait before the next attempt (never past the window's end), or
        ``None``: give up. Counts the attempt."""
        left = self.remaining()
        if self.attempts >= self.policy.max_attempts or left <= 0:
            return None
        ceiling = min(self.policy.cap_s, self.policy.base_s * 2.0 ** min(self.attempts, 60))
        self.attempts += 1
        return min(max(self._rand(), 0.0) * ceiling, left)

    def attempt_timeout(self) -> float:
        """The bound of one attempt's connect and handshake: the policy's, shortened to
        what is left of the window (at least one second)."""
        return max(1.0, min(self.policy.connect_timeout_s, self.remaining()))


def resume_url(url: str, token: str) -> str:
    """The conversation URL with ``resume_token`` in place of the credentials of the first
    one (key, agent, session token): the token is the credential. Other parameters, the
    per-conversation turn settings, stay (a resume does not keep them)."""
    parts = urlsplit(url)
    kept = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in CREDENTIALS
    ]
    query = urlencode([*kept, ("resume_token", token)])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def usable_token(value: object) -> str | None:
    """A ``resume_token`` from a ``connected`` event, if it is one worth keeping."""
    if isinstance(value, str) and 0 < len(value) <= MAX_TOKEN_CHARS:
        return value
    return None


def announced_window(value: object) -> float | None:
    """The ``resume_within_s`` of a ``session_ended`` event, bounded, or ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not value > 0:  # also NaN
        return None
    return min(float(value), MAX_WINDOW_S)


def close_reason(code: int | None) -> str | None:
    """The ``reason`` of a reconnect after the socket closed with ``code``, or ``None``
    when that close is final (a normal end, a refusal, a policy violation)."""
    if code in RETRY_CLOSE_CODES:
        return f"close_{code}"
    return None


def http_retryable(status: int) -> bool:
    """Whether an HTTP refusal of the WebSocket upgrade is worth another attempt (a
    draining replica answers 503; a load balancer 502 or 504)."""
    return status >= 500 or status == 429


def connect_failure(exc: BaseException) -> str:
    """The ``reason`` of a failed connect (refused, reset, timed out, ...)."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "connection_refused"
    if isinstance(exc, ConnectionResetError | ConnectionAbortedError | BrokenPipeError):
        return "connection_reset"
    if isinstance(exc, OSError):
        return "connection_error"
    return "handshake_failed"
