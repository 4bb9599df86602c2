"""This replica among the others: its lease, the bus that carries "end these sessions"
to whichever replica holds them, the sweep of dead replicas' sessions, and the drain on
SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import timedelta

from parley.cluster.base import BusMessage, ClusterUnavailableError, ReplicaInfo
from parley.core.events import EndReason
from parley.knowledge.ingest import INTERRUPTED
from parley.server.state import ServerState
from parley.storage.models import utcnow

log = logging.getLogger(__name__)

DRAIN_CLOSE_CODE = 1012
"""WebSocket close code of a conversation ended by a drain (service restart)."""
GOODBYE_TIMEOUT_S = 5.0
"""How long a drain waits for its conversations to be told and closed."""


class Replica:
    """Keeps this replica's lease, reads the bus, sweeps the sessions of replicas whose
    lease lapsed, and drains. :meth:`start` at startup, :meth:`stop` at shutdown."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.replica_id = state.settings.cluster.replica_id
        self.started_at = time.time()
        self._tasks: list[asyncio.Task[None]] = []
        self._store_down = False

    @property
    def _window(self) -> timedelta:
        return timedelta(seconds=self.state.settings.cluster.resume_window_s)

    async def start(self) -> None:
        """Join: connect to the shared store (an unreachable Redis fails the start),
        renew the lease, end this replica's own sessions left by an earlier run
        (resumable for the window), then keep the lease and sweep in the background."""
        cluster = self.state.cluster
        await cluster.start(self._on_message)
        await self.renew()
        left = await self.state.holders.release_replica(
            self.replica_id, "error", utcnow() + self._window, unowned=not cluster.shared
        )
        if left:
            log.warning("ended sessions left active by an earlier run", extra={"count": left})
        self._tasks.append(asyncio.create_task(self._keep_lease(), name="parley-lease"))

    async def stop(self) -> None:
        """Leave: stop the background work, withdraw the lease."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.state.cluster.close()

    def info(self) -> ReplicaInfo:
        """What this replica says of itself in its lease."""
        now = time.time()
        capacity = self.state.capacity.limit or None
        return ReplicaInfo(
            self.replica_id, self.started_at, now, len(self.state.live), capacity,
            self.state.draining,
        )  # fmt: skip

    async def renew(self) -> None:
        """Renew the lease now."""
        await self.state.cluster.renew(self.info())

    async def renew_quietly(self) -> None:
        """Renew the lease now; a store that is down is only counted."""
        try:
            await self.renew()
        except ClusterUnavailableError:
            self.state.metrics.cluster_errors.labels("lease").inc()

    async def _keep_lease(self) -> None:
        lease_s = self.state.settings.cluster.lease_s
        tick = 0
        while True:
            await asyncio.sleep(lease_s / 3)
            tick += 1
            try:
                await self.renew()
                if tick % 3 == 0:
                    await self.sweep()
                if self._store_down:
                    log.info("the shared store answers again")
                self._store_down = False
            except ClusterUnavailableError as exc:
                self.state.metrics.cluster_errors.labels("lease").inc()
                if not self._store_down:
                    log.warning("could not renew the lease", extra={"error": str(exc)})
                self._store_down = True
            except Exception:
                log.exception("lease upkeep failed")

    async def sweep(self) -> int:
        """End the sessions of replicas whose lease lapsed (``error``, resumable for the
        window) and fail the documents they were ingesting; returns how many sessions.
        Only with a shared store: alone, no one else exists."""
        if not self.state.cluster.shared:
            return 0
        alive = {r.replica_id for r in await self.state.cluster.replicas()}
        for ingesting in await self.state.knowledge.processing_replicas() - alive:
            if ingesting != self.replica_id:
                failed = await self.state.knowledge.fail_processing(ingesting, INTERRUPTED)
                log.warning(
                    "failed the documents of a replica whose lease lapsed",
                    extra={"replica_id": ingesting, "count": failed},
                )
        ended = 0
        for holder in await self.state.holders.holders() - alive - {self.replica_id}:
            count = await self.state.holders.release_replica(
                holder, "error", utcnow() + self._window
            )
            if count:
                log.warning(
                    "ended the sessions of a replica whose lease lapsed",
                    extra={"replica_id": holder, "count": count},
                )
            ended += count
        self.state.metrics.sessions_swept.inc(ended)
        return ended

    # ------------------------------------------------------------ the bus

    async def publish(self, message: BusMessage) -> None:
        """Send ``message`` to every replica (logged, not raised, if the store is down)."""
        try:
            await self.state.cluster.publish(message)
            self.state.metrics.bus_messages.labels("sent", message.kind).inc()
        except ClusterUnavailableError:
            self.state.metrics.cluster_errors.labels("publish").inc()
            log.warning("could not reach the other replicas", extra={"kind": message.kind})

    async def _on_message(self, message: BusMessage) -> None:
        if message.origin == self.replica_id:
            return  # done here before it was sent
        self.state.metrics.bus_messages.labels("received", message.kind).inc()
        live = self.state.live
        if message.kind == "release_session" and message.session_id:
            held = live.get(message.session_id)
            if held is not None:
                await held.release()
            return
        if message.agent_id:
            await live.terminate_agent(message.agent_id, _reason(message.reason))
        elif message.session_id and (held := live.get(message.session_id)) is not None:
            await held.terminate(_reason(message.reason))

    async def end_agent_sessions(self, agent_id: str, reason: EndReason) -> int:
        """End the live sessions of ``agent_id`` on every replica; returns how many
        (this replica's are ended when it returns; the others' a moment later)."""
        elsewhere = await self.state.holders.count_held(agent_id, self.replica_id)
        ended = await self.state.live.terminate_agent(agent_id, reason)
        if elsewhere:
            await self.publish(
                BusMessage("end_sessions", self.replica_id, reason, agent_id=agent_id)
            )
        return ended + elsewhere

    async def end_session(self, session_id: str, reason: EndReason) -> None:
        """End a live session wherever it runs."""
        held = self.state.live.get(session_id)
        if held is not None:
            await held.terminate(reason)
        else:
            await self.publish(
                BusMessage("end_sessions", self.replica_id, reason, session_id=session_id)
            )

    async def released(self, session_id: str, previous: str | None) -> None:
        """``session_id`` was resumed here: the replica that held it drops its old
        connection (if it is still alive and has not noticed the drop)."""
        if previous is None:
            return
        held = self.state.live.get(session_id)
        if previous == self.replica_id and held is not None:
            await held.release()
        elif previous != self.replica_id:
            await self.publish(
                BusMessage("release_session", self.replica_id, session_id=session_id)
            )

    # ------------------------------------------------------------ drain

    async def drain(self) -> float:
        """Stop taking conversations (``/healthz`` answers 503), let agent turns in
        progress finish (up to ``drain_timeout_s``), then end every conversation with
        ``server_shutdown`` and a resume hint. Returns the seconds it took."""
        t0 = time.monotonic()
        self.state.draining = True
        self.state.metrics.draining.set(1)
        settings = self.state.settings.cluster
        log.info("draining", extra={"live_sessions": len(self.state.live)})
        with contextlib.suppress(ClusterUnavailableError):
            await self.renew()
        deadline = t0 + settings.drain_timeout_s
        while time.monotonic() < deadline:  # polled: turns end in many ways
            if not any(s.session.exchanges.busy for s in self.state.live):
                break
            await asyncio.sleep(0.1)
        window = settings.resume_window_s or None
        goodbyes = asyncio.gather(
            *(
                s.terminate("server_shutdown", DRAIN_CLOSE_CODE, resume_within_s=window)
                for s in self.state.live
            ),
            return_exceptions=True,
        )
        try:  # a client that does not read must not hold the replica up
            await asyncio.wait_for(goodbyes, GOODBYE_TIMEOUT_S)
        except TimeoutError:
            log.warning("drain: some conversations did not close in time")
        seconds = time.monotonic() - t0
        log.info("drained", extra={"seconds": round(seconds, 3)})
        return seconds


def _reason(text: str) -> EndReason:
    """A bus message's reason as an end reason (``error`` if unknown)."""
    known: tuple[EndReason, ...] = ("agent_deleted", "client", "policy_violation")
    return next((r for r in known if r == text), "error")
