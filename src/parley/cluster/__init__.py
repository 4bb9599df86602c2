"""What replicas share: leases, the live-session bus, rate limits and cooldowns.

One replica needs nothing shared (:class:`~parley.cluster.local.LocalCluster`, the
default); several replicas share a Redis (:class:`~parley.cluster.redis_shared.RedisCluster`).
:func:`cluster_for` picks one from the settings.
"""

from __future__ import annotations

from parley.cluster.base import BusMessage, Cluster, ReplicaInfo
from parley.cluster.local import LocalCluster

__all__ = ["BusMessage", "Cluster", "LocalCluster", "ReplicaInfo", "cluster_for"]


def cluster_for(replica_id: str, redis_url: str | None, lease_s: float) -> Cluster:
    """Redis when ``redis_url`` is set, else in-process."""
    if redis_url:
        from parley.cluster.redis_shared import RedisCluster

        return RedisCluster(replica_id, redis_url, lease_s=lease_s)
    return LocalCluster(replica_id)
