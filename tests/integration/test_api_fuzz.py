"""Property-based fuzzing of the whole REST API from its own OpenAPI schema (schemathesis):
no request, however odd, gets a server error, and every response matches the schema.

It runs against a server of its own so the agents and keys it creates do not disturb
the other tests: once on SQLite, once on Postgres. The number of cases is printed at the
end (``pytest -s``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from parley.testing.server import ServerProcess, start_server
from tests.conftest import DATABASES, start_postgres_server

pytestmark = pytest.mark.integration

CASES: Counter[str] = Counter()
STATUSES: Counter[int] = Counter()


@pytest.fixture(scope="module", params=DATABASES)
def fuzz_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server of its own on SQLite, then one on Postgres (where NUL characters and
    over-long strings would fail a write that SQLite takes)."""
    data_dir = tmp_path_factory.mktemp(f"fuzz-{request.param}") / "data"
    if request.param == "sqlite":
        srv: ServerProcess = start_server(data_dir)
    else:
        srv = start_postgres_server(request.getfixturevalue("postgres"), data_dir)
    CASES.clear()
    STATUSES.clear()
    yield srv
    srv.stop()
    total = sum(CASES.values())
    print(
        f"\nschemathesis ({request.param}): {total} cases over {len(CASES)} operations; "
        f"statuses {dict(STATUSES)}"
    )
    log = Path(srv.log).read_text()
    assert '"unhandled error"' not in log


@pytest.fixture(scope="module")
def fuzz_key(fuzz_server: ServerProcess) -> str:
    response = httpx.post(
        f"{fuzz_server.url}/v1/api-keys",
        headers={"Authorization": f"Bearer {fuzz_server.admin_key}"},
        json={
            "name": "fuzz",
            "admin": True,
            "rate_limit": {"requests_per_minute": 1e6, "burst": 100000},
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["key"])


def test_no_server_errors_and_responses_match_the_schema(
    fuzz_server: ServerProcess, fuzz_key: str
) -> None:
    api = schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json")
    headers = {"Authorization": f"Bearer {fuzz_key}"}
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) == 40  # GET /v1/languages (issue 16) made 40

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
        def exercise(case: schemathesis.Case) -> None:
            CASES[f"{case.method} {case.path}"] += 1
            response = case.call(headers=headers, timeout=30)
            STATUSES[response.status_code] += 1
            assert response.status_code < 500, case.as_curl_command()
            case.validate_response(
                response,
                checks=(
                    status_code_conformance,
                    content_type_conformance,
                    response_schema_conformance,
                ),
            )

        exercise()
    assert sum(CASES.values()) >= 16 * 20
