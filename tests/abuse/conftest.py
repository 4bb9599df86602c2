"""A real ``parley serve`` for the abuse tests: what a careless or hostile client may
send, over real sockets. Its limits are the defaults, except a 2 s audio burst (so a
flood is refused sooner) and 10 refused messages before a close."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from parley.testing.server import ServerProcess, start_server

AUDIO_BURST_S = 2.0
MAX_REFUSED = 10


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the abuse tests."""
    srv = start_server(
        tmp_path_factory.mktemp("abuse") / "data",
        env={
            "PARLEY_LIMITS__AUDIO_BURST_S": str(AUDIO_BURST_S),
            "PARLEY_LIMITS__MAX_REFUSED": str(MAX_REFUSED),
        },
    )
    yield srv
    srv.stop()
