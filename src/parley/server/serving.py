"""Run the app under uvicorn, draining on SIGTERM: the replica stops taking
conversations, lets agent turns finish, tells every client to resume elsewhere, and
only then shuts down."""

from __future__ import annotations

import asyncio
import logging
import signal
from types import FrameType

import uvicorn
from fastapi import FastAPI

from parley.config import Settings
from parley.server.state import ServerState

log = logging.getLogger(__name__)


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
