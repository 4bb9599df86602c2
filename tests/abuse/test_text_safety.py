"""Text that cannot hurt, over real sockets: names and ids are one plain line (no control
or bidi characters), no stored string holds NUL or a lone surrogate, and JSON's missing
numbers (NaN, Infinity) are refused instead of being stored as null. Each refusal is a 422
``validation_error`` whose ``param`` names the field."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets

from parley.client import conversation_url
from parley.testing.server import ServerProcess

pytestmark = pytest.mark.integration

PROMPT = "You are a test agent."


@pytest.fixture(scope="module")
def api(server: ServerProcess) -> Iterator[httpx.Client]:
    """A client with a key of its own (so the shared admin key's bucket is left alone)."""
    admin = {"Authorization": f"Bearer {server.admin_key}"}
    limit = {"requests_per_minute": 1e6, "burst": 100_000}
    body = {"name": "text-safety", "admin": True, "rate_limit": limit}
    created = httpx.post(f"{server.url}/v1/api-keys", headers=admin, json=body)
    assert created.status_code == 201, created.text
    headers = {"Authorization": f"Bearer {created.json()['key']}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def agent_id(api: httpx.Client) -> str:
    created = api.post("/v1/agents", json={"name": "text", "system_prompt": PROMPT})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def refused(response: httpx.Response, param: str | None, *words: str) -> dict[str, Any]:
    """``response`` is a 422 validation_error naming ``param``, its message has ``words``."""
    assert response.status_code == 422, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == error["type"] == "validation_error", error
    assert error["param"] == param, error
    for word in words:
        assert word in error["message"], error
    return error


def post_json(api: httpx.Client, path: str, text: str, method: str = "POST") -> httpx.Response:
    """A request whose JSON body is ``text`` as written (NaN cannot be sent otherwise)."""
    return api.request(method, path, content=text, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(
    ("name", "code_point"),
    [("a\x00b", "NUL"), ("evil\u202etxt.exe", "U+202E"), ("iso\u2066x", "U+2066"),
     ("two\nlines", "U+000A"), ("tab\tbed", "U+0009"), ("c1\x9b", "U+009B")],
)  # fmt: skip
def test_names_are_one_plain_line(api: httpx.Client, name: str, code_point: str) -> None:
    response = api.post("/v1/agents", json={"name": name, "system_prompt": PROMPT})
    refused(response, "name", code_point)
    key = api.post("/v1/api-keys", json={"name": name})
    refused(key, "name", code_point)


def test_other_single_line_fields(api: httpx.Client, agent_id: str) -> None:
    voice = api.patch(f"/v1/agents/{agent_id}", json={"voice_id": "en_US\u202e"})
    refused(voice, "voice_id", "U+202E")
    renamed = api.patch(f"/v1/agents/{agent_id}", json={"name": "x\u2069"})
    refused(renamed, "name", "U+2069")
    key = api.post(
        "/v1/api-keys", json={"name": "pk", "kind": "publishable", "agent_ids": ["agt_\u202ex"]}
    )
    refused(key, "agent_ids.0", "U+202E")
    metadata = api.post(f"/v1/agents/{agent_id}/sessions", json={"metadata": {"k\u202e": 1}})
    refused(metadata, "metadata", "metadata keys", "U+202E")
    assert api.get(f"/v1/agents/{agent_id}").json()["name"] == "text"


@pytest.mark.parametrize(
    ("path", "param"),
    [("/v1/agents/agt_%00x", "agent_id"), ("/v1/agents/agt_%E2%80%AEx/sessions", "agent_id"),
     ("/v1/sessions/ses_%0Ax", "session_id"), ("/v1/sessions/ses_%E2%81%A6x", "session_id")],
)  # fmt: skip
def test_ids_in_paths(api: httpx.Client, path: str, param: str) -> None:
    refused(api.get(path), param)


def test_key_ids_in_paths(api: httpx.Client) -> None:
    refused(api.delete("/v1/api-keys/key_%00"), "key_id", "U+0000")


def test_what_a_line_may_hold(api: httpx.Client) -> None:
    """Letters of any script, emoji and the direction marks U+200E/U+200F are fine, and
    prompts and messages may span lines."""
    name = "Café 中文 עברית\u200f 😀"
    body = {"name": name, "system_prompt": "line 1\nline 2\ttabbed", "first_message": "Hi\n!"}
    created = api.post("/v1/agents", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["name"] == name
    assert created.json()["system_prompt"] == body["system_prompt"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"name": "n", "system_prompt": "be \x00 quiet"}, "system_prompt"),
        ({"name": "n", "system_prompt": "p", "first_message": "hi\x00"}, "first_message"),
        ({"name": "n", "system_prompt": "p", "metadata": {"a": {"b": ["ok", "\x00"]}}},
         "metadata.a.b.1"),
        ({"name": "n", "system_prompt": "p", "tools": [{"name": "t", "description": "d\x00"}]},
         "tools.0.description"),
    ],
)  # fmt: skip
def test_nul_is_refused_in_every_string(
    api: httpx.Client, body: dict[str, Any], param: str
) -> None:
    refused(api.post("/v1/agents", json=body), param, "NUL")


def test_nul_in_a_session(api: httpx.Client, agent_id: str) -> None:
    path = f"/v1/agents/{agent_id}/sessions"
    refused(api.post(path, json={"initial_message": "hello\x00"}), "initial_message", "NUL")
    refused(api.post(path, json={"metadata": {"note": "x\x00"}}), "metadata.note", "NUL")


def test_lone_surrogates_are_refused(api: httpx.Client, agent_id: str) -> None:
    text = '{"metadata": {"emoji": "\\ud83d"}}'
    refused(post_json(api, f"/v1/agents/{agent_id}/sessions", text), "metadata.emoji")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused(api: httpx.Client, agent_id: str, constant: str) -> None:
    path = f"/v1/agents/{agent_id}"
    text = '{"metadata": {"score": CONSTANT}}'.replace("CONSTANT", constant)
    refused(post_json(api, path, text, "PATCH"), "metadata.score", f"{constant} is not")
    text = '{"metadata": {"x": [1, CONSTANT]}}'.replace("CONSTANT", constant)
    refused(post_json(api, f"{path}/sessions", text), "metadata.x.1", constant)
    assert "score" not in api.get(path).json()["metadata"]  # nothing stored as null
    text = '{"name": "n", "system_prompt": "p", "vad_threshold": CONSTANT}'
    refused(post_json(api, "/v1/agents", text.replace("CONSTANT", constant)), "vad_threshold")


def test_numbers_too_large_for_a_float(api: httpx.Client, agent_id: str) -> None:
    response = post_json(api, f"/v1/agents/{agent_id}", '{"metadata": {"big": 1e999}}', "PATCH")
    refused(response, "metadata.big", "too large")
    fine = post_json(api, f"/v1/agents/{agent_id}", '{"metadata": {"big": 1e300}}', "PATCH")
    assert fine.status_code == 200 and fine.json()["metadata"] == {"big": 1e300}


async def test_nul_in_a_typed_turn_or_tool_output_is_refused_and_never_stored(
    server: ServerProcess,
) -> None:
    url = conversation_url(server.url, server.admin_key, "agt_demo")
    async with websockets.connect(url) as ws:
        session_id = json.loads(await ws.recv())["conversation_id"]
        await ws.send(json.dumps({"type": "text", "text": "hello\u0000world"}))
        output = {"call_id": "call_x", "output": {"note": ["ok", "a\u0000b"]}}
        await ws.send(json.dumps({"type": "tool_result", **output}))
        await ws.send(json.dumps({"type": "ping", "ts": 1}))
        events: list[dict[str, Any]] = []
        while not events or events[-1]["type"] != "pong":
            events.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
    errors = [e for e in events if e["type"] == "error"]
    assert [e["message"] for e in errors] == [
        "text: must not contain NUL (\\u0000)",
        "output.note.1: must not contain NUL (\\u0000)",
    ]
    headers = {"Authorization": f"Bearer {server.admin_key}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers) as http:
        stored = (await http.get(f"/v1/sessions/{session_id}")).json()
    assert all("\u0000" not in turn["text"] for turn in stored["transcript"])
    assert not [t for t in stored["transcript"] if t["role"] == "user"]
