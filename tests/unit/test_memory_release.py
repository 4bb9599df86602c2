"""Giving freed memory back after sessions end: throttled, coalesced, off the loop;
and onnxruntime sessions whose arena shrinks after each run."""

from __future__ import annotations

import asyncio
import sys
import threading
import time

import pytest

from parley.observability.memory import MemoryReleaser, release_free_memory


class Releases:
    """A fake release that records the thread it ran on."""

    def __init__(self) -> None:
        self.threads: list[str] = []
        self.ran = threading.Event()

    def __call__(self) -> bool:
        self.threads.append(threading.current_thread().name)
        self.ran.set()
        return True


async def wait_for(releases: Releases, count: int) -> None:
    for _ in range(200):
        if len(releases.threads) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{len(releases.threads)} releases, wanted {count}")


async def test_requests_coalesce_and_run_off_the_event_loop() -> None:
    releases = Releases()
    releaser = MemoryReleaser(interval_s=0.2, release=releases)
    for _ in range(5):  # a burst of sessions ending together
        releaser.request()
    await wait_for(releases, 1)
    await asyncio.sleep(0.05)
    assert len(releases.threads) == 1
    assert releases.threads[0].startswith("parley-memory")
    releaser.close()


async def test_requests_are_throttled_to_one_per_interval() -> None:
    releases = Releases()
    loop = asyncio.get_running_loop()
    releaser = MemoryReleaser(interval_s=0.3, release=releases, clock=loop.time)
    releaser.request()
    await wait_for(releases, 1)
    first = loop.time()
    releaser.request()  # right after the first: waits for the interval
    releaser.request()
    await wait_for(releases, 2)
    assert loop.time() - first >= 0.25
    await asyncio.sleep(0.1)
    assert len(releases.threads) == 2
    releaser.close()


def test_a_request_on_a_new_event_loop_is_not_lost() -> None:
    releases = Releases()
    releaser = MemoryReleaser(interval_s=0.2, release=releases)
    releaser._last = time.monotonic()  # just released: the next one is 0.2 s away

    async def request() -> None:
        releaser.request()

    asyncio.run(request())  # this loop closes before the release was due
    assert not releases.ran.is_set()

    async def request_and_wait() -> None:
        releaser.request()  # the pending one died with its loop: schedule anew
        await wait_for(releases, 1)

    asyncio.run(request_and_wait())
    releaser.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_release_free_memory_on_glibc() -> None:
    assert release_free_memory() is True


class FakeSession:
    """Records the run options of each run."""

    def __init__(self) -> None:
        self.options: list[object] = []
        self.inputs = ["input"]

    def run(self, output_names: object, input_feed: object, run_options: object = None) -> str:
        self.options.append(run_options)
        return "audio"


def test_only_large_inputs_shrink_the_arena() -> None:
    import numpy as np

    from parley.providers.onnx_arena import ArenaShrinkingSession

    fake = FakeSession()
    session = ArenaShrinkingSession(fake, shrink_above=256)
    small = {"input": np.zeros((1, 256), dtype=np.int64), "scales": np.zeros(3)}
    large = {"input": np.zeros((1, 257), dtype=np.int64), "scales": np.zeros(3)}
    mine = object()
    assert session.run(None, small) == "audio"
    session.run(None, large)
    session.run(None, large, mine)  # the caller's own options win
    assert fake.options[0] is None and fake.options[2] is mine
    assert fake.options[1] is not None and fake.options[1] is not mine
    assert session.inputs == ["input"], "everything else is the session's"
