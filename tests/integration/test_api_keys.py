"""API keys over real HTTP and the ``parley keys`` command: kinds, admin-only management,
publishable-key limits, revocation, rate limits."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from parley.client import Conversation, ParleyClient, conversation_url
from tests.integration.api_support import (
    SYSTEM_PROMPT,
    assert_error,
    auth,
    on_database,
    rejected,
)
from tests.integration.conftest import Server

pytestmark = pytest.mark.integration


@pytest.fixture
def server(request: pytest.FixtureRequest, database_backend: str, server: Server) -> Server:
    """Every test here runs against the SQLite server and against the Postgres one."""
    return on_database(request, database_backend, server)


@pytest.fixture
def admin(server: Server) -> Iterator[ParleyClient]:
    with ParleyClient(server.url, server.admin_key) as client:
        yield client


def test_create_list_and_revoke_keys(server: Server, admin: ParleyClient) -> None:
    secret = admin.create_key("backend")
    assert secret["key"].startswith("sk_live_") and len(secret["key"]) == 48
    assert secret["id"].startswith("key_") and secret["kind"] == "secret"
    assert secret["prefix"] == secret["key"][:12] and secret["admin"] is False
    assert secret["agent_ids"] is None and secret["rate_limit"] is None
    assert secret["revoked_at"] is None and secret["last_used_at"] is None

    listed = {k["id"]: k for k in admin.list_keys()}
    assert "key" not in listed[secret["id"]]  # shown once, never again
    assert listed[secret["id"]] == {k: v for k, v in secret.items() if k != "key"}
    assert all(k["prefix"].endswith(k["prefix"][-4:]) for k in listed.values())
    body = httpx.get(f"{server.url}/v1/api-keys", headers=auth(server.admin_key)).text
    assert secret["key"] not in body and server.admin_key not in body

    # a plain secret key uses the REST API but may not manage keys
    with ParleyClient(server.url, secret["key"]) as plain:
        assert plain.list_agents(limit=1)["limit"] == 1
    for method, path, json in [
        ("GET", "/v1/api-keys", None),
        ("POST", "/v1/api-keys", {"name": "x"}),
        ("DELETE", f"/v1/api-keys/{secret['id']}", None),
    ]:
        response = httpx.request(
            method, f"{server.url}{path}", headers=auth(secret["key"]), json=json
        )
        assert_error(response, 403, "authorization_error", "managing API keys needs an admin key")

    revoked = admin.revoke_key(secret["id"])
    assert revoked["revoked_at"] is not None and revoked["last_used_at"] is not None
    assert admin.revoke_key(secret["id"])["revoked_at"] == revoked["revoked_at"]
    response = httpx.get(f"{server.url}/v1/agents", headers=auth(secret["key"]))
    assert_error(response, 401, "authentication_error", "invalid or revoked API key")

    second_admin = admin.create_key("ops", admin=True)
    with ParleyClient(server.url, second_admin["key"]) as ops:
        assert any(k["id"] == second_admin["id"] and k["admin"] for k in ops.list_keys())


@pytest.mark.parametrize(
    ("body", "status", "param", "message"),
    [
        ({}, 422, "name", "name: Field required"),
        (
            {"name": "x", "kind": "root"},
            422,
            "kind",
            "kind: Input should be 'secret' or 'publishable'",
        ),
        (
            {"name": "x", "kind": "publishable", "admin": True},
            422,
            "admin",
            "admin: a publishable key cannot be an admin key",
        ),
        (
            {"name": "x", "agent_ids": ["agt_demo"]},
            422,
            "agent_ids",
            "agent_ids: only publishable keys are limited to agents",
        ),
        (
            {"name": "x", "kind": "publishable", "agent_ids": ["agt_nope"]},
            422,
            "agent_ids",
            "agent_ids: agent 'agt_nope' not found",
        ),
        (
            {"name": "x", "kind": "publishable", "agent_ids": []},
            422,
            "agent_ids",
            "agent_ids: List should have at least 1 item after validation, not 0",
        ),
        (
            {"name": "x", "rate_limit": {"requests_per_minute": 0, "burst": 1}},
            422,
            "rate_limit.requests_per_minute",
            "rate_limit.requests_per_minute: Input should be greater than 0",
        ),
    ],
)
def test_create_key_validation(
    server: Server, body: dict[str, object], status: int, param: str, message: str
) -> None:
    response = httpx.post(f"{server.url}/v1/api-keys", headers=auth(server.admin_key), json=body)
    assert_error(response, status, "validation_error", message, param)


def test_revoke_unknown_key_is_404(server: Server) -> None:
    response = httpx.delete(f"{server.url}/v1/api-keys/key_nope", headers=auth(server.admin_key))
    assert_error(response, 404, "not_found_error", "API key 'key_nope' not found", "key_id")


async def test_publishable_keys_only_open_conversations_with_their_agents(
    server: Server, admin: ParleyClient
) -> None:
    allowed = admin.create_agent(name="Public", system_prompt=SYSTEM_PROMPT)["id"]
    other = admin.create_agent(name="Private", system_prompt=SYSTEM_PROMPT)["id"]
    limited = admin.create_key("browser", kind="publishable", agent_ids=[allowed])
    anywhere = admin.create_key("browser-any", kind="publishable")
    assert limited["key"].startswith("pk_live_") and limited["agent_ids"] == [allowed]
    pk = auth(limited["key"])

    # it may create sessions for its agent and talk over the resulting URL or directly
    http = httpx.AsyncClient(base_url=server.url, headers=pk)
    created = await http.post(f"/v1/agents/{allowed}/sessions", json={})
    assert created.status_code == 201, created.text
    async with Conversation(created.json()["websocket_url"]) as conv:
        assert (await conv.recv(timeout=15))["type"] == "connected"
    async with Conversation(conversation_url(server.url, limited["key"], allowed)) as conv:
        assert (await conv.recv(timeout=15))["type"] == "connected"

    # ...but nothing else
    denied = f"this publishable key may not open conversations with agent {other!r}"
    response = await http.post(f"/v1/agents/{other}/sessions", json={})
    assert_error(response, 403, "authorization_error", denied, "agent_id")
    error, code = await rejected(conversation_url(server.url, limited["key"], other))
    assert code == 4003 and error["code"] == "authorization_error" and error["message"] == denied
    rest_only = "publishable keys may only open conversations; use a secret key (sk_live_...)"
    session_id = created.json()["session_id"]
    for method, path in [
        ("GET", "/v1/agents"),
        ("GET", f"/v1/agents/{allowed}"),
        ("POST", "/v1/agents"),
        ("PATCH", f"/v1/agents/{allowed}"),
        ("DELETE", f"/v1/agents/{allowed}"),
        ("GET", f"/v1/sessions/{session_id}"),
        ("POST", f"/v1/sessions/{session_id}/end"),
        ("GET", f"/v1/agents/{allowed}/sessions"),
        ("GET", "/v1/voices"),
        ("GET", "/v1/api-keys"),
    ]:
        body = {} if method in ("POST", "PATCH") else None
        response = await http.request(method, path, json=body)
        assert_error(response, 403, "authorization_error", rest_only)
    await http.aclose()

    # a publishable key with no agent list may talk to any agent
    async with Conversation(conversation_url(server.url, anywhere["key"], other)) as conv:
        assert (await conv.recv(timeout=15))["type"] == "connected"


def test_rate_limit_per_key(server: Server, admin: ParleyClient) -> None:
    slow = admin.create_key("slow", rate_limit={"requests_per_minute": 30, "burst": 3})
    assert slow["rate_limit"] == {"requests_per_minute": 30.0, "burst": 3}
    url = f"{server.url}/v1/agents?limit=1"
    statuses = [httpx.get(url, headers=auth(slow["key"])).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    response = httpx.get(url, headers=auth(slow["key"]))
    error = assert_error(response, 429, "rate_limit_error")
    assert error["message"].startswith(f"rate limit exceeded for API key {slow['prefix']}...")
    assert 1 <= int(response.headers["retry-after"]) <= 2  # one token every 2 s
    # other keys have their own buckets
    assert httpx.get(url, headers=auth(server.admin_key)).status_code == 200
    time.sleep(int(response.headers["retry-after"]))
    assert httpx.get(url, headers=auth(slow["key"])).status_code == 200


async def test_rate_limit_applies_to_conversation_connects(
    server: Server, admin: ParleyClient
) -> None:
    pk = admin.create_key(
        "bursty", kind="publishable", rate_limit={"requests_per_minute": 1, "burst": 1}
    )
    async with Conversation(conversation_url(server.url, pk["key"], "agt_demo")) as conv:
        assert (await conv.recv(timeout=15))["type"] == "connected"
    error, code = await rejected(conversation_url(server.url, pk["key"], "agt_demo"))
    assert code == 4029 and error["code"] == "rate_limit_error"


def _cli(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "parley.cli", "keys", *args, "--data-dir", str(server.data_dir)],
        env={**os.environ, "PARLEY_DATABASE_URL": server.database_url},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_keys_create_list_revoke(server: Server) -> None:
    made = _cli(server, "create", "--name", "cli-web", "--publishable", "--agent", "agt_demo")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("pk_live_")
    key_id = made.stdout.split("publishable API key ")[1].split()[0]
    assert "agents agt_demo" in made.stdout

    listing = _cli(server, "list")
    assert listing.returncode == 0
    row = next(line for line in listing.stdout.splitlines() if line.startswith(key_id))
    assert row.split()[1:3] == ["publishable", key[:12] + "..."] and "active" in row
    assert "cli-web (agents: agt_demo)" in row
    assert key not in listing.stdout and server.admin_key not in listing.stdout

    assert _cli(server, "revoke", key_id).stdout.strip() == f"Revoked API key {key_id}"
    row = next(line for line in _cli(server, "list").stdout.splitlines() if line.startswith(key_id))
    assert "revoked" in row
    response = httpx.post(f"{server.url}/v1/agents/agt_demo/sessions", headers=auth(key), json={})
    assert_error(response, 401, "authentication_error", "invalid or revoked API key")

    missing = _cli(server, "revoke", "key_nope")
    assert missing.returncode == 1 and "API key 'key_nope' not found" in missing.stderr
    bad = _cli(server, "create", "--publishable", "--agent", "agt_nope")
    assert bad.returncode == 2 and "agent 'agt_nope' not found" in bad.stderr
