"""The Python client's shape: the sync and async REST clients offer the same methods,
and the client never loads the engine."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

from parley.client import AsyncParleyClient, ParleyClient

ENGINE = ("parley.core", "parley.server", "parley.providers", "parley.storage", "parley.protocols")


def _public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


def test_sync_and_async_clients_have_the_same_methods() -> None:
    sync, aio = _public_methods(ParleyClient), _public_methods(AsyncParleyClient)
    assert "health" in sync and "pause_agent" in sync and "resume_agent" in sync
    assert sorted(sync) == sorted(aio)
    for name, signature in sync.items():
        assert signature == aio[name], name  # parameters, defaults, annotations, return
        # every request is awaited on the async side; connect only builds a Conversation
        assert inspect.iscoroutinefunction(getattr(AsyncParleyClient, name)) == (name != "connect")
        assert not inspect.iscoroutinefunction(getattr(ParleyClient, name)), name


def test_importing_the_client_loads_no_engine_module() -> None:
    script = "import json, sys, parley.client; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    loaded = json.loads(result.stdout)
    assert "parley.client.rest" in loaded  # the whole package was imported
    assert [m for m in loaded if m.startswith(ENGINE)] == []
