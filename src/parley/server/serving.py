"""Run the app under uvicorn, draining on SIGTERM: the replica stops taking
conversations, lets agent turns finish, tells every client to resume elsewhere, and
only then shuts down."""

from __future__ import annotations

import asyncio
import faulthandler
import logging
import os
import signal
import threading
import time
from types import FrameType

import uvicorn
from fastapi import FastAPI

from parley.config import Settings
from parley.server.state import ServerState

log = logging.getLogger(__name__)

EXIT_GRACE_S = 15.0
"""How long the process may take to exit once drained; then it is ended."""
STUCK_EXIT_CODE = 70


class DrainingServer(uvicorn.Server):
    """uvicorn, with SIGTERM starting a drain (:meth:`Replica.drain`) before the usual
    shutdown. A second SIGTERM, or SIGINT, stops at once as uvicorn does."""

    def __init__(self, config: uvicorn.Config, state: ServerState) -> None:
        super().__init__(config)
        self.state = state
        self._drain_requested = False
        self._drain: asyncio.Task[float] | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and not self._drain_requested and self.started:
            self._drain_requested = True  # picked up by on_tick, in the event loop
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self._drain_requested and self._drain is None:
            self._drain = asyncio.create_task(self.state.replica.drain(), name="parley-drain")
            self._drain.add_done_callback(self._drained)
        return await super().on_tick(counter)

    def _drained(self, task: asyncio.Task[float]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("the drain failed", exc_info=task.exception())
        self.should_exit = True
        exit_watchdog(EXIT_GRACE_S)


def exit_watchdog(grace_s: float) -> threading.Thread:
    """End the process ``grace_s`` from now if it has not exited by then.

    After a drain nothing is left to lose, but the exit can still hang: Python joins
    every worker thread at exit, and a model call running in C (a generation, a model
    still loading) cannot be interrupted. The stacks of all threads go to stderr first,
    to show what held the exit."""

    def watch() -> None:
        time.sleep(grace_s)
        names = sorted(t.name for t in threading.enumerate() if t is not threading.current_thread())
        log.error("the exit is stuck; ending the process", extra={"threads": names})
        faulthandler.dump_traceback(all_threads=True)
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(STUCK_EXIT_CODE)

    watchdog = threading.Thread(target=watch, name="parley-exit-watchdog", daemon=True)
    watchdog.start()
    return watchdog


def serve(app: FastAPI, settings: Settings) -> None:
    """Serve ``app`` (made by :func:`~parley.server.app.create_app`) until stopped."""
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        ws_max_size=settings.limits.transport_max_bytes(),
        timeout_graceful_shutdown=5,
    )
    DrainingServer(config, app.state.parley).run()
