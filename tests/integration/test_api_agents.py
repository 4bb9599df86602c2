"""Agents over real HTTP: CRUD, validation, pagination, auth failures."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from parley.client import ApiError, ParleyClient
from tests.integration.api_support import SYSTEM_PROMPT, assert_error, auth, on_database
from tests.integration.conftest import Server

pytestmark = pytest.mark.integration


@pytest.fixture
def server(request: pytest.FixtureRequest, database_backend: str, server: Server) -> Server:
    """Every test here runs against the SQLite server and against the Postgres one."""
    return on_database(request, database_backend, server)


LOOKUP = {
    "type": "function",
    "name": "lookup_order",
    "description": "Find an order by its number.",
    "parameters": {
        "type": "object",
        "properties": {"number": {"type": "string", "description": "order number"}},
        "required": ["number"],
    },
}

CLIENT_LOOKUP = {**LOOKUP, "type": "client"}
"""What the API returns: ``function`` is the legacy name of a client tool."""


@pytest.fixture
def admin(server: Server) -> Iterator[ParleyClient]:
    with ParleyClient(server.url, server.admin_key) as client:
        yield client


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers=auth(server.admin_key)) as client:
        yield client


def test_create_with_every_field_and_defaults(admin: ParleyClient) -> None:
    policy = admin.create_policy(name="Strict", blocked_terms=["competitorco"])
    faq, terms = (admin.create_knowledge_base(name)["id"] for name in ("FAQ", "Terms"))
    full = admin.create_agent(
        name="Orders",
        system_prompt=SYSTEM_PROMPT,
        voice_id="en_US-joe-medium",
        first_message="Hello, orders desk.",
        language="en-US",
        tools=[LOOKUP],
        max_turns=7,
        content_policy_id=policy["id"],
        loop_detection={"user_repeats": 4, "action": "say"},
        knowledge_base_ids=[faq, faq, terms],
        vad_threshold=0.6,
        end_of_turn_silence_ms=800,
        interrupt_threshold=9,
        idle_timeout_ms=0,
        idle_prompts=1,
        provider_overrides={"llm": "llm:llama-local", "llm_temperature": 0.1},
        metadata={"team": "support", "tier": 2},
    )
    assert full["id"].startswith("agt_") and len(full["id"]) == 28
    assert full["status"] == "active" and full["language"] == "en-US"
    assert full["tools"] == [CLIENT_LOOKUP] and full["max_turns"] == 7
    assert full["knowledge_base_ids"] == [faq, terms]  # duplicates dropped
    assert full["web_search"] is False and full["content_policy_id"] == policy["id"]
    assert full["settings"] == {
        "vad_threshold": 0.6,
        "end_of_turn_silence_ms": 800,
        "interrupt_threshold": 9,
        "idle_timeout_ms": 0,
        "idle_prompts": 1,
    }
    assert (full["vad_threshold"], full["interrupt_threshold"], full["idle_prompts"]) == (0.6, 9, 1)
    assert full["provider_overrides"] == {"llm": "llm:llama-local", "llm_temperature": 0.1}
    assert full["metadata"] == {"team": "support", "tier": 2}
    loops = full["loop_detection"]
    assert (loops["user_repeats"], loops["action"], loops["enabled"]) == (4, "say", True)
    assert full["created_at"] == full["updated_at"]
    assert admin.get_agent(full["id"]) == full

    minimal = admin.create_agent(name="Min", system_prompt=SYSTEM_PROMPT)
    assert minimal["voice_id"] == "en_US-joe-medium" and minimal["language"] == "en"
    assert minimal["max_turns"] == 50 and minimal["tools"] == [] and minimal["web_search"] is False
    assert minimal["first_message"] is None and minimal["settings"] == {}
    # turn settings not set on the agent show the server defaults
    assert (minimal["vad_threshold"], minimal["end_of_turn_silence_ms"]) == (0.5, 500)
    assert (minimal["interrupt_threshold"], minimal["idle_timeout_ms"]) == (5, 15000)


def test_both_create_paths_are_the_same(http: httpx.Client) -> None:
    body = {"name": "Twin", "system_prompt": SYSTEM_PROMPT}
    a, b = http.post("/v1/agents", json=body), http.post("/v1/agents/create", json=body)
    assert a.status_code == b.status_code == 201
    strip = {"id", "created_at", "updated_at"}
    assert {k: v for k, v in a.json().items() if k not in strip} == {
        k: v for k, v in b.json().items() if k not in strip
    }


def test_update_changes_only_what_is_given(admin: ParleyClient) -> None:
    agent = admin.create_agent(
        name="Before", system_prompt=SYSTEM_PROMPT, first_message="Hi.", vad_threshold=0.7
    )
    updated = admin.update_agent(
        agent["id"],
        name="After",
        tools=[LOOKUP],
        end_of_turn_silence_ms=900,
        vad_threshold=None,  # back to the server default
        first_message=None,
        metadata={"v": 2},
    )
    assert updated["name"] == "After" and updated["system_prompt"] == SYSTEM_PROMPT
    assert updated["first_message"] is None and updated["tools"] == [CLIENT_LOOKUP]
    assert updated["settings"] == {"end_of_turn_silence_ms": 900}
    assert updated["vad_threshold"] == 0.5 and updated["metadata"] == {"v": 2}
    assert updated["updated_at"] > agent["updated_at"]
    assert updated["created_at"] == agent["created_at"]
    assert admin.update_agent(agent["id"]) == updated  # an empty PATCH changes nothing
    assert admin.get_agent(agent["id"]) == updated


def test_pause_resume_and_delete(admin: ParleyClient, http: httpx.Client) -> None:
    agent = admin.create_agent(name="Lifecycle", system_prompt=SYSTEM_PROMPT)
    assert admin.pause_agent(agent["id"])["status"] == "paused"
    assert admin.get_agent(agent["id"])["status"] == "paused"
    assert admin.resume_agent(agent["id"])["status"] == "active"

    assert admin.delete_agent(agent["id"]) == {
        "id": agent["id"],
        "status": "deleted",
        "deleted": True,
        "sessions_ended": 0,
    }
    missing = f"agent {agent['id']!r} not found"
    for method in ("GET", "PATCH", "DELETE"):
        body = {"name": "x"} if method == "PATCH" else None
        response = http.request(method, f"/v1/agents/{agent['id']}", json=body)
        assert_error(response, 404, "not_found_error", missing, "agent_id")
    assert agent["id"] not in {a["id"] for a in admin.list_agents(limit=100)["data"]}
    with pytest.raises(ApiError) as caught:
        admin.create_session(agent["id"])
    assert (caught.value.status, caught.value.code) == (404, "not_found_error")


def test_pagination_edges(admin: ParleyClient, http: httpx.Client) -> None:
    for i in range(3):
        admin.create_agent(name=f"Page {i}", system_prompt=SYSTEM_PROMPT)
    everything = admin.list_agents(limit=100)
    total = everything["total"]
    assert total >= 4 and len(everything["data"]) == min(total, 100)
    stamps = [(a["created_at"], a["id"]) for a in everything["data"]]
    assert stamps == sorted(stamps, reverse=True)  # newest first

    first = admin.list_agents(limit=1)
    assert first == {
        "data": everything["data"][:1],
        "total": total,
        "limit": 1,
        "offset": 0,
        "has_more": True,
    }
    last = admin.list_agents(limit=2, offset=total - 1)
    assert len(last["data"]) == 1 and last["has_more"] is False
    assert last["data"][0] == everything["data"][total - 1]
    beyond = admin.list_agents(limit=20, offset=total + 5)
    assert beyond["data"] == [] and beyond["has_more"] is False and beyond["total"] == total
    pages = [admin.list_agents(limit=2, offset=o)["data"] for o in range(0, total, 2)]
    assert [a["id"] for page in pages for a in page] == [a["id"] for a in everything["data"]]

    default = http.get("/v1/agents").json()
    assert (default["limit"], default["offset"]) == (20, 0)
    for query, param, message in [
        ("limit=101", "limit", "limit: Input should be less than or equal to 100"),
        ("limit=0", "limit", "limit: Input should be greater than or equal to 1"),
        ("offset=-1", "offset", "offset: Input should be greater than or equal to 0"),
        (
            "limit=ten",
            "limit",
            "limit: Input should be a valid integer, unable to parse string as an integer",
        ),
    ]:
        assert_error(http.get(f"/v1/agents?{query}"), 422, "validation_error", message, param)


@pytest.mark.parametrize(
    ("body", "param", "fragment"),
    [
        ({"name": "x"}, "system_prompt", "Field required"),
        ({"name": "", "system_prompt": "p"}, "name", "at least 1 character"),
        (
            {"name": "x", "system_prompt": "p", "voice_id": "nobody"},
            "voice_id",
            "unknown voice 'nobody' for tts:piper-local; available: en_US-joe-medium",
        ),
        ({"name": "x", "system_prompt": "p", "language": "english"}, "language", "pattern"),
        ({"name": "x", "system_prompt": "p", "max_turns": 0}, "max_turns", "greater than"),
        ({"name": "x", "system_prompt": "p", "vad_threshold": 0.99}, "vad_threshold", "0.95"),
        (
            {"name": "x", "system_prompt": "p", "end_of_turn_silence_ms": 50},
            "end_of_turn_silence_ms",
            "100",
        ),
        (
            {"name": "x", "system_prompt": "p", "interrupt_threshold": 51},
            "interrupt_threshold",
            "50",
        ),
        ({"name": "x", "system_prompt": "p", "colour": "red"}, "colour", "Extra inputs"),
        (
            {"name": "x", "system_prompt": "p", "tools": [LOOKUP, LOOKUP]},
            "tools",
            "tool names must be unique; repeated: ['lookup_order']",
        ),
        (
            {"name": "x", "system_prompt": "p", "tools": [{**LOOKUP, "name": "no spaces"}]},
            "tools.0.name",
            "pattern",
        ),
        (
            {
                "name": "x",
                "system_prompt": "p",
                "tools": [{**LOOKUP, "parameters": {"type": "string"}}],
            },
            "tools.0.parameters",
            "parameters.type must be 'object'",
        ),
        (
            {
                "name": "x",
                "system_prompt": "p",
                "tools": [{**LOOKUP, "parameters": {"type": "object", "required": ["ghost"]}}],
            },
            "tools.0.parameters",
            "parameters.required names undefined properties: ['ghost']",
        ),
        (
            {
                "name": "x",
                "system_prompt": "p",
                "tools": [
                    {
                        **LOOKUP,
                        "parameters": {"type": "object", "properties": {"n": {"type": "int"}}},
                    }
                ],
            },
            "tools.0.parameters",
            "parameters.properties.n.type must be one of",
        ),
        (
            {"name": "x", "system_prompt": "p", "provider_overrides": {"llm": "llm:gpt-9"}},
            "provider_overrides.llm",
            "unknown llm provider 'llm:gpt-9'",
        ),
        (
            {"name": "x", "system_prompt": "p", "metadata": {f"k{i}": i for i in range(51)}},
            "metadata",
            "at most 50 keys",
        ),
        (
            {"name": "x", "system_prompt": "p", "knowledge_base_ids": ["a b"]},
            "knowledge_base_ids.0",
            "pattern",
        ),
    ],
)
def test_create_validation(
    http: httpx.Client, body: dict[str, Any], param: str, fragment: str
) -> None:
    error = assert_error(http.post("/v1/agents", json=body), 422, "validation_error", param=param)
    assert fragment in error["message"] and error["message"].startswith(f"{param}: "), error


@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        ({"status": "deleted"}, "status", "status: Input should be 'active' or 'paused'"),
        ({"name": None}, "name", "name: may not be null"),
        ({"voice_id": "nobody"}, "voice_id", None),
        (
            {"idle_prompts": 6},
            "idle_prompts",
            "idle_prompts: Input should be less than or equal to 5",
        ),
    ],
)
def test_update_validation(
    admin: ParleyClient, http: httpx.Client, body: dict[str, Any], param: str, message: str | None
) -> None:
    agent = admin.create_agent(name="Strict", system_prompt=SYSTEM_PROMPT)
    response = http.patch(f"/v1/agents/{agent['id']}", json=body)
    assert_error(response, 422, "validation_error", message, param)
    assert admin.get_agent(agent["id"]) == agent  # nothing changed


def test_malformed_json_is_400_and_wrong_shape_is_422(http: httpx.Client) -> None:
    response = http.post(
        "/v1/agents", content=b"{not json", headers={"content-type": "application/json"}
    )
    error = assert_error(response, 400, "validation_error")
    assert error["message"].startswith("the request body is not valid JSON")
    assert_error(
        http.post("/v1/agents", json=[1, 2]),
        422,
        "validation_error",
        "Input should be a valid dictionary or object to extract fields from",
    )


def test_auth_failures(server: Server, admin: ParleyClient) -> None:
    url = f"{server.url}/v1/agents"
    missing = "missing API key: send 'Authorization: Bearer <key>'"
    for headers, message in [
        ({}, missing),
        (
            {"Authorization": "Basic dXNlcjpwYXNz"},
            "malformed Authorization header: use 'Bearer <key>'",
        ),
        ({"Authorization": "Bearer"}, "malformed Authorization header: use 'Bearer <key>'"),
        (auth("sk_live_" + "x" * 40), "invalid or revoked API key"),
    ]:
        response = httpx.get(url, headers=headers)
        assert_error(response, 401, "authentication_error", message)
        assert response.headers["www-authenticate"] == "Bearer"

    created = admin.create_key("short-lived")
    assert httpx.get(url, headers=auth(created["key"])).status_code == 200
    admin.revoke_key(created["id"])
    assert_error(
        httpx.get(url, headers=auth(created["key"])),
        401,
        "authentication_error",
        "invalid or revoked API key",
    )


def test_unknown_route_and_method(http: httpx.Client) -> None:
    assert_error(http.get("/v1/nothing-here"), 404, "not_found_error", "Not Found")
    response = http.put("/v1/agents")
    assert_error(response, 405, "validation_error", "Method Not Allowed")
    assert response.headers["allow"] == "GET, POST"
