"""How the Python client resumes a dropped conversation: the backoff schedule (random and
clock injected), what counts as a drop, the resume URL; and the TCP relay the integration
tests cut (real sockets on loopback)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import socket
from collections.abc import AsyncIterator

import pytest

from parley.client import Conversation, ReconnectPolicy
from parley.client import reconnect as rc
from parley.testing.tcp_proxy import TcpProxy


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def schedule(backoff: rc.Backoff, clock: Clock | None = None) -> list[float]:
    """Every delay until the backoff gives up (moving ``clock`` past each delay)."""
    delays = []
    while (delay := backoff.next_delay()) is not None:
        delays.append(delay)
        if clock is not None:
            clock.now += delay
    return delays


def test_full_jitter_ceilings_double_up_to_the_cap() -> None:
    policy = ReconnectPolicy(max_attempts=8)
    delays = schedule(rc.Backoff(policy, rand=lambda: 1.0, clock=Clock()))
    assert delays == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    halves = schedule(rc.Backoff(policy, rand=lambda: 0.5, clock=Clock()))
    assert halves == [0.125, 0.25, 0.5, 1.0, 2.0, 2.0, 2.0, 2.0]
    assert schedule(rc.Backoff(policy, rand=lambda: 0.0, clock=Clock())) == [0.0] * 8


def test_delays_are_uniform_below_each_ceiling() -> None:
    policy = ReconnectPolicy(base_s=0.25, cap_s=4.0, max_attempts=6)
    seeded = random.Random(17)
    by_attempt: list[list[float]] = [[] for _ in range(6)]
    for _ in range(2000):
        for i, delay in enumerate(schedule(rc.Backoff(policy, rand=seeded.random, clock=Clock()))):
            by_attempt[i].append(delay)
    for i, delays in enumerate(by_attempt):
        ceiling = min(4.0, 0.25 * 2**i)
        assert all(0.0 <= d <= ceiling for d in delays)
        mean = sum(delays) / len(delays)
        assert abs(mean - ceiling / 2) < ceiling * 0.05, (i, mean)  # full jitter: U(0, ceiling)


def test_the_window_since_the_drop_bounds_the_attempts() -> None:
    clock = Clock()
    backoff = rc.Backoff(ReconnectPolicy(window_s=30.0), rand=lambda: 1.0, clock=clock)
    delays = schedule(backoff, clock)
    # 0.25 + 0.5 + 1 + 2 = 3.75, then 4 s each: 6 more reach 27.75, and the last one is
    # cut to what is left of the window
    assert delays[:5] == [0.25, 0.5, 1.0, 2.0, 4.0]
    assert delays[-1] == pytest.approx(2.25)
    assert sum(delays) == pytest.approx(30.0)
    assert backoff.attempts == len(delays) == 11
    assert backoff.remaining() <= 0 and backoff.next_delay() is None


def test_time_spent_connecting_counts_against_the_window() -> None:
    clock = Clock()
    backoff = rc.Backoff(ReconnectPolicy(window_s=10.0), rand=lambda: 0.0, clock=clock)
    assert backoff.next_delay() == 0.0
    clock.now += 9.5  # an attempt that hung until its timeout
    assert backoff.attempt_timeout() == 1.0  # never below a second
    assert backoff.next_delay() == 0.0
    clock.now += 0.5
    assert backoff.next_delay() is None


def test_attempt_timeout_is_the_policys_within_the_window() -> None:
    clock = Clock()
    backoff = rc.Backoff(ReconnectPolicy(connect_timeout_s=10.0), 30.0, clock=clock)
    assert backoff.attempt_timeout() == 10.0
    clock.now += 25.0
    assert backoff.attempt_timeout() == pytest.approx(5.0)


def test_max_attempts_bounds_a_fast_failing_reconnect() -> None:
    backoff = rc.Backoff(ReconnectPolicy(max_attempts=3), rand=lambda: 0.0, clock=Clock())
    assert schedule(backoff) == [0.0, 0.0, 0.0]
    assert backoff.attempts == 3


def test_a_servers_announced_window_replaces_the_policys() -> None:
    clock = Clock()
    backoff = rc.Backoff(ReconnectPolicy(window_s=30.0), 5.0, rand=lambda: 1.0, clock=clock)
    assert sum(schedule(backoff, clock)) == pytest.approx(5.0)
    assert rc.announced_window(12) == 12.0 and rc.announced_window(2.5) == 2.5
    assert rc.announced_window(10**9) == rc.MAX_WINDOW_S
    for bad in (None, "30", True, 0, -1, math.nan, [30]):
        assert rc.announced_window(bad) is None, bad
    huge = rc.Backoff(ReconnectPolicy(), 10**9, clock=Clock())
    assert huge.window_s == rc.MAX_WINDOW_S


def test_policy_of_and_its_checks() -> None:
    assert ReconnectPolicy.of(True) == ReconnectPolicy()
    assert ReconnectPolicy.of(False).enabled is False
    custom = ReconnectPolicy(base_s=0.1, cap_s=1.0, window_s=5.0)
    assert ReconnectPolicy.of(custom) is custom
    for bad in (
        {"base_s": 0.0},
        {"base_s": 2.0, "cap_s": 1.0},
        {"window_s": 0.0},
        {"window_s": 10_000.0},
        {"max_attempts": 0},
        {"connect_timeout_s": 0.0},
    ):
        with pytest.raises(ValueError):
            ReconnectPolicy(**bad)


def test_resume_url_swaps_the_credentials_for_the_token() -> None:
    url = "wss://voice.example.com:8443/v1/voice/conversation?api_key=sk_live_x&agent_id=agt_1"
    assert rc.resume_url(url, "rt_a/b+c=") == (
        "wss://voice.example.com:8443/v1/voice/conversation?resume_token=rt_a%2Fb%2Bc%3D"
    )
    # the turn settings of the query string are passed again; a spent token is not
    session_url = (
        "ws://127.0.0.1:8000/v1/voice/conversation?token=wst_1&vad_threshold=0.6"
        "&end_of_turn_silence_ms=800&resume_token=rt_old#frag"
    )
    assert rc.resume_url(session_url, "rt_new") == (
        "ws://127.0.0.1:8000/v1/voice/conversation"
        "?vad_threshold=0.6&end_of_turn_silence_ms=800&resume_token=rt_new"
    )


def test_tokens_kept_are_bounded_strings() -> None:
    assert rc.usable_token("rt_1") == "rt_1"
    assert rc.usable_token("x" * rc.MAX_TOKEN_CHARS) is not None
    for bad in (None, "", 42, "x" * (rc.MAX_TOKEN_CHARS + 1), ["rt"]):
        assert rc.usable_token(bad) is None


def test_which_closes_are_drops() -> None:
    for code in (1001, 1005, 1006, 1011, 1012, 1013, 1014):
        assert rc.close_reason(code) == f"close_{code}"
    # a normal end, a policy violation, a too-big message, refusals: final
    for final in (None, 1000, 1002, 1008, 1009, 4000, 4001, 4003, 4004, 4009, 4029):
        assert rc.close_reason(final) is None, final
    assert rc.FINAL_CLOSE_CODES.isdisjoint(rc.RETRY_CLOSE_CODES)


def test_which_failed_attempts_are_retried() -> None:
    assert all(rc.http_retryable(s) for s in (429, 500, 502, 503, 504))
    assert not any(rc.http_retryable(s) for s in (400, 401, 403, 404, 410))
    assert rc.connect_failure(TimeoutError()) == "timeout"
    assert rc.connect_failure(ConnectionRefusedError()) == "connection_refused"
    assert rc.connect_failure(ConnectionResetError()) == "connection_reset"
    assert rc.connect_failure(OSError("no route")) == "connection_error"
    assert rc.connect_failure(ValueError("bad handshake")) == "handshake_failed"


async def test_the_first_connect_is_not_retried() -> None:
    with socket.socket() as bound:  # bound, not listening: connects are refused
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        conv = Conversation(f"ws://127.0.0.1:{port}/v1/voice/conversation?api_key=k&agent_id=a")
        with pytest.raises(OSError):
            await conv.__aenter__()
    with pytest.raises(RuntimeError):
        await conv.recv(timeout=1)


# ---- the TCP relay (real sockets) ---------------------------------------------------


@contextlib.asynccontextmanager
async def echo_server() -> AsyncIterator[int]:
    """A TCP echo server on a free loopback port."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(4096):
                writer.write(data)
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


async def roundtrip(port: int, payload: bytes = b"hello") -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        await writer.drain()
        return await asyncio.wait_for(reader.readexactly(len(payload)), 5)
    finally:
        writer.close()


async def test_proxy_relays_and_cuts() -> None:
    async with echo_server() as target, TcpProxy(target) as proxy:
        assert proxy.port != target
        assert await roundtrip(proxy.port, b"x" * 200_000) == b"x" * 200_000
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"ping")
        assert await asyncio.wait_for(reader.readexactly(4), 5) == b"ping"
        assert proxy.live == 1
        assert proxy.cut() == 1 and proxy.live == 0 and proxy.cuts == 1
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            data = await asyncio.wait_for(reader.read(10), 5)
            if not data:  # a reset may also read as an end of stream
                raise asyncio.IncompleteReadError(b"", 10)
        writer.close()
        assert await roundtrip(proxy.port) == b"hello"  # new connections go through
        assert proxy.accepted == 3


async def test_proxy_refuses_then_accepts_on_the_same_port() -> None:
    async with echo_server() as target, TcpProxy(target) as proxy:
        port = proxy.port
        await proxy.refuse()
        assert not proxy.listening
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", port)
        await proxy.accept()
        assert proxy.port == port and await roundtrip(port) == b"hello"

        await proxy.refuse(for_s=0.2)  # listens again by itself
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", port)
        for _ in range(100):
            if proxy.listening:
                break
            await asyncio.sleep(0.05)
        assert await roundtrip(port) == b"hello"


async def test_proxy_to_nothing_resets_the_client() -> None:
    with socket.socket() as bound:  # bound, not listening: connects are refused
        bound.bind(("127.0.0.1", 0))
        async with TcpProxy(bound.getsockname()[1]) as proxy:
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            with contextlib.suppress(ConnectionError):
                assert await asyncio.wait_for(reader.read(10), 5) == b""
            writer.close()
