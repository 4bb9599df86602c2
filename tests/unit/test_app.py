"""The app before its models are loaded, in process (no lifespan, no models)."""

from __future__ import annotations

import socket
from pathlib import Path

from fastapi.testclient import TestClient

from parley.config import LimitSettings, Settings
from parley.server import create_app


def test_healthz_is_503_until_models_are_loaded(tmp_path: Path) -> None:
    client = TestClient(create_app(Settings(data_dir=tmp_path)))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "loading",
        "active_sessions": 0,
        "capacity": LimitSettings().max_sessions,
        "replica_id": socket.gethostname(),
        "draining": False,
    }
