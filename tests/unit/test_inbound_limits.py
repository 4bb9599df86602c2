"""The limits on what one client may send, on an injected clock."""

from __future__ import annotations

import logging

import pytest

from parley.audio.pcm import SAMPLE_RATE
from parley.cluster import LocalCluster
from parley.config import LimitSettings
from parley.errors import PayloadTooLargeError, RateLimitError, ValidationError
from parley.server.inbound_limits import AudioPacer, ConnectionGuard, PenaltyBox


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def pcm_bytes(seconds: float) -> int:
    return round(seconds * SAMPLE_RATE) * 2


def test_real_time_audio_is_never_refused() -> None:
    clock = Clock()
    pacer = AudioPacer(2.0, clock)
    for _ in range(10_000):  # 320 s of 32 ms frames, each sent when it was captured
        clock.t += 0.032
        assert pacer.admit(pcm_bytes(0.032)) is None


def test_a_burst_is_accepted_then_refused_once_then_the_session_ends() -> None:
    clock = Clock()
    pacer = AudioPacer(2.0, clock)
    assert pacer.admit(pcm_bytes(2.0)) is None  # exactly the burst, at once
    first = pacer.admit(pcm_bytes(0.5))
    assert first is not None and first.error is not None and not first.close
    assert first.error.code == "audio_rate_exceeded" and "2 s ahead" in first.error.message
    again = pacer.admit(pcm_bytes(1.0))
    assert again is not None and again.error is None and not again.close  # told already
    last = pacer.admit(pcm_bytes(0.6))  # 2.1 s refused in all: more than the burst
    assert last is not None and last.close and last.error is not None
    assert last.limit == "audio_rate"


def test_the_burst_refills_with_the_wall_clock_and_a_new_overrun_is_told_again() -> None:
    clock = Clock()
    pacer = AudioPacer(1.0, clock)
    assert pacer.admit(pcm_bytes(1.0)) is None
    refused = pacer.admit(pcm_bytes(0.1))
    assert refused is not None and refused.error is not None
    clock.t += 0.5
    assert pacer.admit(pcm_bytes(0.5)) is None  # real time caught up
    again = pacer.admit(pcm_bytes(0.1))
    assert again is not None and again.error is not None  # a new overrun: told again


def guard(clock: Clock, counted: list[str] | None = None, **limits: float) -> ConnectionGuard:
    settings = LimitSettings(**limits)  # type: ignore[arg-type]
    return ConnectionGuard(
        settings,
        peer="127.0.0.1:5555",
        protocol="native",
        count=(counted if counted is not None else []).append,
        clock=clock,
    )


def test_messages_over_the_rate_are_dropped_told_once_then_the_connection_closes() -> None:
    clock = Clock()
    counted: list[str] = []
    g = guard(clock, counted, messages_per_s=10, message_burst=5, max_refused=3)
    assert all(g.admit() is None for _ in range(5))
    first = g.admit()
    assert first is not None and first.error is not None and not first.close
    assert (
        first.error.code == "rate_limit_error" and "10 messages per second" in first.error.message
    )
    quiet = [g.admit() for _ in range(2)]
    assert all(r is not None and r.error is None and not r.close for r in quiet)
    closing = g.admit()
    assert closing is not None and closing.close and closing.error is not None
    assert counted == ["message_rate"] * 4


def test_the_rate_refills_and_refusals_are_forgiven_over_time() -> None:
    clock = Clock()
    g = guard(clock, messages_per_s=10, message_burst=5, max_refused=3)
    for _ in range(200):  # 20 s at exactly the rate
        clock.t += 0.1
        assert g.admit() is None
    for _ in range(2):
        assert not g.refuse(ValidationError("bad"), "bad")
    clock.t += 5.0  # forgiven
    for _ in range(3):
        assert not g.refuse(ValidationError("bad"), "bad")
    assert g.refuse(ValidationError("bad"), "bad")


def test_refusals_log_one_line_per_interval_without_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    counted: list[str] = []
    g = guard(clock, counted, max_refused=1000)
    with caplog.at_level(logging.WARNING, logger="parley.server.inbound_limits"):
        for _ in range(200):
            g.refuse(ValidationError("message is not JSON"), "message is not JSON")
            clock.t += 0.01  # 2 s in all
        clock.t += 10.0
        g.refuse(PayloadTooLargeError("too big"), "too big")
    records = caplog.records
    assert len(records) == 2
    assert all(r.exc_info is None for r in records)
    assert records[0].peer == "127.0.0.1:5555"  # type: ignore[attr-defined]
    assert records[1].suppressed == 199  # type: ignore[attr-defined]
    assert counted.count("malformed") == 200 and counted[-1] == "message_size"


async def test_the_penalty_box_refuses_a_key_from_its_host_for_the_cooldown_only() -> None:
    clock = Clock()
    box = PenaltyBox(LocalCluster("r1", clock, max_keys=2), 60.0)
    assert not box.active
    await box.add("key_a", "10.0.0.1")
    assert box.active
    with pytest.raises(RateLimitError, match="again in 60 s") as refused:
        await box.check("key_a", "10.0.0.1")
    assert refused.value.retry_after == pytest.approx(60.0)
    await box.check("key_a", "10.0.0.2")  # the same key from elsewhere
    await box.check("key_b", "10.0.0.1")  # another key from the same host
    await box.check(None, "10.0.0.1")
    clock.t += 60.0
    await box.check("key_a", "10.0.0.1")  # served its time
    for n in range(5):  # bounded: the ones that expire first go
        clock.t += 1.0
        await box.add(f"key_{n}", "h")
    await box.check("key_0", "h")
    with pytest.raises(RateLimitError):
        await box.check("key_4", "h")
    idle = PenaltyBox(LocalCluster("r1", clock), 0.0)
    await idle.add("key_a", "h")  # no cooldown: nothing kept
    assert not idle.active
