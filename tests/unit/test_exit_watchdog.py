"""A drained replica whose exit hangs (a worker thread that never returns) is ended."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from parley.config import Settings
from parley.server import replica as replica_module
from parley.server.serving import STUCK_EXIT_CODE
from parley.server.state import ServerState


def test_a_stuck_exit_is_ended_with_the_stacks_of_its_threads() -> None:
    script = textwrap.dedent(
        """
        import threading
        from parley.server.serving import exit_watchdog

        def model_call_that_never_returns():
            threading.Event().wait()

        threading.Thread(target=model_call_that_never_returns, name="parley-llm_0").start()
        exit_watchdog(0.2)
        """
    )
    command = [sys.executable, "-c", script]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == STUCK_EXIT_CODE
    assert "the exit is stuck" in done.stderr
    assert "model_call_that_never_returns" in done.stderr  # faulthandler's stacks


def test_a_clean_exit_is_not_held_by_the_watchdog() -> None:
    script = "from parley.server.serving import exit_watchdog; exit_watchdog(30.0)"
    command = [sys.executable, "-c", script]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr


class _ClientThatNeverCloses:
    """A live conversation whose goodbye never completes (a client that stopped reading)."""

    session_id = "s1"
    agent_id = "a1"

    def __init__(self) -> None:
        self.session = SimpleNamespace(exchanges=SimpleNamespace(busy=False))
        self.told = False

    async def terminate(self, reason: str, close_code: int, resume_within_s: float | None) -> None:
        self.told = True
        await asyncio.Event().wait()


async def test_a_drain_does_not_wait_forever_for_a_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replica_module, "GOODBYE_TIMEOUT_S", 0.2)
    state = ServerState.create(Settings(data_dir=tmp_path))
    stuck = _ClientThatNeverCloses()
    state.live.add(stuck)  # type: ignore[arg-type]
    await state.replica.drain()
    assert stuck.told and state.draining
