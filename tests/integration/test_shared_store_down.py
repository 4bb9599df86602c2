"""A replica whose Redis goes away keeps serving: REST answers (rate limits let requests
through, counted), conversations open, and only ``GET /v1/cluster`` says the store is
down (503). Real Redis, real server."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import httpx
import pytest
import websockets

from parley.testing.redis_server import redis_available, running_redis
from parley.testing.server import start_server
from tests.conftest import need_service

pytestmark = pytest.mark.integration


async def test_a_replica_keeps_serving_when_redis_goes_away(tmp_path: Path) -> None:
    need_service(redis_available(), "redis-server")
    redis = contextlib.ExitStack()
    redis_url = redis.enter_context(running_redis())
    env = {"PARLEY_CLUSTER__REDIS_URL": redis_url, "PARLEY_CLUSTER__REPLICA_ID": "solo"}
    try:
        server = start_server(tmp_path / "data", env=env)
    except BaseException:
        redis.close()
        raise
    try:
        headers = {"Authorization": f"Bearer {server.admin_key}"}
        async with httpx.AsyncClient(base_url=server.url, headers=headers) as http:
            cluster = (await http.get("/v1/cluster")).json()
            assert cluster["shared"] is True
            assert [r["replica_id"] for r in cluster["replicas"]] == ["solo"]
            redis.close()  # Redis stops (by PID) while the replica runs

            down = await http.get("/v1/cluster")
            assert down.status_code == 503
            assert down.json()["error"]["code"] == "internal_error"
            assert "shared store did not answer" in down.json()["error"]["message"]
            agents = await http.get("/v1/agents")
            assert agents.status_code == 200, agents.text
            assert (await http.get("/healthz")).status_code == 200
            url = server.url.replace("http://", "ws://") + "/v1/voice/conversation"
            async with websockets.connect(
                f"{url}?api_key={server.admin_key}&agent_id=agt_demo"
            ) as ws:
                connected = json.loads(await ws.recv())
                assert connected["type"] == "connected", connected
                await ws.send(json.dumps({"type": "end"}))
            metrics = (await http.get("/metrics")).text
            failed = [
                line
                for line in metrics.splitlines()
                if line.startswith("parley_cluster_errors_total") and 'rate_limit"' in line
            ]
            assert failed and float(failed[0].split()[-1]) >= 1, failed
    finally:
        server.stop()
        redis.close()
