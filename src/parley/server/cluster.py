"""``GET /v1/cluster``: the replicas serving this deployment, as their leases say."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from pydantic import BaseModel

from parley.cluster.base import ClusterUnavailableError, ReplicaInfo
from parley.errors import SharedStoreError
from parley.server.auth import AdminKey, State
from parley.server.errors import error_responses

router = APIRouter(prefix="/v1/cluster", tags=["cluster"])


class Replica(BaseModel):
    """One replica whose lease is current."""

    replica_id: str
    live_sessions: int
    capacity: int | None
    """The most conversations it holds at once (null: no limit)."""
    draining: bool
    started_at: datetime
    heartbeat_at: datetime
    """When it last renewed its lease."""

    @classmethod
    def of(cls, info: ReplicaInfo) -> Replica:
        """From a lease."""
        return cls(
            replica_id=info.replica_id,
            live_sessions=info.live_sessions,
            capacity=info.capacity,
            draining=info.draining,
            started_at=datetime.fromtimestamp(info.started_at, UTC),
            heartbeat_at=datetime.fromtimestamp(info.heartbeat_at, UTC),
        )


class Cluster(BaseModel):
    """The replicas alive now; ``shared`` is false for a single replica without Redis."""

    replica_id: str
    """The replica that answered."""
    shared: bool
    lease_s: float
    resume_window_s: float
    replicas: list[Replica]


@router.get("", response_model=Cluster, responses=error_responses(403, 503))
async def get_cluster(state: State, _admin: AdminKey) -> Cluster:
    """The replicas whose lease is current (admin key)."""
    await state.replica.renew_quietly()
    try:
        leases = await state.cluster.replicas()
    except ClusterUnavailableError as exc:
        raise SharedStoreError(f"the shared store did not answer: {exc}") from None
    settings = state.settings.cluster
    return Cluster(
        replica_id=settings.replica_id,
        shared=state.cluster.shared,
        lease_s=settings.lease_s,
        resume_window_s=settings.resume_window_s,
        replicas=[Replica.of(r) for r in leases],
    )
