"""What replicas share: in-process stores, and the same contract over a real Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from parley.cluster import BusMessage, LocalCluster, ReplicaInfo, cluster_for
from parley.cluster.base import ClusterUnavailableError
from parley.cluster.buckets import ExpiringKeys, TokenBuckets
from parley.cluster.redis_shared import RedisCluster
from parley.testing.redis_server import redis_available, running_redis
from parley.testing.server import free_port
from tests.conftest import need_service


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_token_buckets_refill_steadily_and_stay_bounded() -> None:
    clock = Clock()
    buckets = TokenBuckets(clock, max_keys=2)
    assert [buckets.take("k", 60, 2) for _ in range(2)] == [None, None]
    assert buckets.take("k", 60, 2) == pytest.approx(1.0)
    clock.t += 1.0
    assert buckets.take("k", 60, 2) is None
    buckets.take("a", 60, 1)
    buckets.take("b", 60, 1)  # "k" is the least recently used: dropped, comes back full
    assert buckets.take("k", 60, 2) is None


def test_expiring_keys_expire_and_keep_the_latest_when_full() -> None:
    clock = Clock()
    keys = ExpiringKeys(clock, max_keys=2)
    keys.hold("a", 10)
    keys.hold("b", 20)
    keys.hold("c", 30)  # "a" expires first: it goes
    assert (keys.left("a"), keys.left("b"), keys.left("c")) == (0.0, 20.0, 30.0)
    clock.t += 25
    assert keys.left("b") == 0.0 and keys.left("c") == 5.0
    keys.hold("d", 0)
    assert keys.left("d") == 0.0


def test_bus_messages_round_trip_and_garbage_is_refused() -> None:
    message = BusMessage("end_sessions", "r1", "agent_deleted", agent_id="agt_x")
    assert BusMessage.decode(message.encode()) == message
    for garbage in ('{"kind": "format_disk"}', "[1, 2]", '{"origin": "r1"}'):
        with pytest.raises(ValueError):
            BusMessage.decode(garbage)
    info = ReplicaInfo("r1", 1.0, 2.0, 3, 4, True)
    assert ReplicaInfo.decode(info.encode()) == info


async def test_one_replica_alone_delivers_its_bus_to_itself() -> None:
    cluster = cluster_for("r1", None, 10.0)
    assert isinstance(cluster, LocalCluster) and not cluster.shared
    got: list[BusMessage] = []

    async def on_message(message: BusMessage) -> None:
        got.append(message)

    await cluster.start(on_message)
    assert await cluster.replicas() == []
    await cluster.renew(ReplicaInfo("r1", 1.0, 2.0))
    assert [r.replica_id for r in await cluster.replicas()] == ["r1"]
    await cluster.publish(BusMessage("release_session", "r1", session_id="ses_1"))
    assert [m.session_id for m in got] == ["ses_1"]
    await cluster.close()


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    need_service(redis_available(), "redis-server")
    with running_redis() as url:
        yield url


@pytest.fixture
async def pair(redis_url: str) -> AsyncIterator[tuple[RedisCluster, RedisCluster, list[str]]]:
    got: list[str] = []

    async def on_message(message: BusMessage) -> None:
        got.append(f"{message.origin}>{message.session_id}")

    a = RedisCluster("ra", redis_url, lease_s=0.5)
    b = RedisCluster("rb", redis_url, lease_s=30)
    await a.start(on_message)
    await b.start(on_message)
    yield a, b, got
    await a.close()
    await b.close()


async def _eventually(check: object, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "not within the time limit"
        await asyncio.sleep(0.05)


async def test_replicas_on_one_redis_share_limits_cooldowns_and_the_bus(
    pair: tuple[RedisCluster, RedisCluster, list[str]],
) -> None:
    a, b, got = pair
    assert a.shared
    assert await a.take("key_1", 60, 3) is None
    assert await b.take("key_1", 60, 3) is None
    assert await a.take("key_1", 60, 3) is None
    wait = await b.take("key_1", 60, 3)  # the burst was spent across both
    assert wait is not None and 0 < wait <= 1.0
    await a.forget("key_1")
    assert await b.take("key_1", 60, 3) is None

    await a.hold("key_2@10.0.0.1", 30)
    assert 29 < await b.held_for("key_2@10.0.0.1") <= 30
    assert await b.held_for("key_2@10.0.0.2") == 0.0

    await b.publish(BusMessage("release_session", "rb", session_id="ses_9"))
    await _eventually(lambda: sorted(got) == ["rb>ses_9", "rb>ses_9"])  # both, sender too


async def test_a_lease_lapses_unless_renewed(
    pair: tuple[RedisCluster, RedisCluster, list[str]],
) -> None:
    a, b, _ = pair
    await a.renew(ReplicaInfo("ra", time.time(), time.time(), live_sessions=2))
    await b.renew(ReplicaInfo("rb", time.time(), time.time(), draining=True))
    seen = {r.replica_id: r for r in await b.replicas()}
    assert seen["ra"].live_sessions == 2 and seen["rb"].draining
    ids: list[str] = []

    async def poll() -> None:
        ids[:] = [r.replica_id for r in await b.replicas()]

    deadline = time.monotonic() + 10
    while True:  # ra's 0.5 s lease lapses; rb's 30 s lease does not
        await poll()
        if ids == ["rb"] or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert ids == ["rb"]


async def test_an_unreachable_redis_is_a_clear_error() -> None:
    cluster = RedisCluster("r1", f"redis://127.0.0.1:{free_port()}/0", lease_s=1, timeout_s=0.5)

    async def ignore(message: BusMessage) -> None:
        return None

    with pytest.raises(ClusterUnavailableError, match="Redis did not answer"):
        await cluster.start(ignore)
    with pytest.raises(ClusterUnavailableError):
        await cluster.take("k", 60, 1)
    await cluster.close()
