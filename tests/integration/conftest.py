"""A real ``parley serve`` process with the real models, on a free port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from parley.testing.server import ServerProcess, start_server

Server = ServerProcess


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the whole test session."""
    srv = start_server(tmp_path_factory.mktemp("server") / "data")
    yield srv
    srv.stop()
