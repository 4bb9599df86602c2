"""Agent endpoints, health and the ``parley keys`` command against the real server."""

from __future__ import annotations

import subprocess
import sys
import wave
from pathlib import Path

import httpx
import pytest

from parley.client import Conversation, ParleyClient, conversation_url
from parley.testing.wer import normalized_wer
from tests.integration.conftest import Server

pytestmark = pytest.mark.integration


def test_keys_create_prints_a_working_key_last(server: Server) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "parley.cli",
            "keys",
            "create",
            "--data-dir",
            str(server.data_dir),
            "--name",
            "ci",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    key = out.strip().splitlines()[-1]
    assert key.startswith("sk_live_") and key != server.admin_key
    response = httpx.get(f"{server.url}/v1/agents", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200
    db_bytes = (server.data_dir / "parley.db").read_bytes()
    assert key.encode() not in db_bytes and server.admin_key.encode() not in db_bytes


def test_create_list_and_get_agents(server: Server) -> None:
    client = ParleyClient(server.url, server.admin_key)
    created = client.create_agent(
        name="Support",
        system_prompt="You help with orders.",
        first_message="Hello!",
        end_of_turn_silence_ms=700,
    )
    assert created["id"].startswith("agt_") and created["status"] == "active"
    assert created["voice_id"] == "en_US-joe-medium" and created["language"] == "en"
    assert created["max_turns"] == 50 and created["settings"] == {"end_of_turn_silence_ms": 700}
    assert client.get_agent(created["id"]) == created
    page = client.list_agents(limit=1)
    assert page["data"][0]["id"] == created["id"] and page["limit"] == 1
    assert page["total"] >= 2 and page["has_more"] is True
    ids = {a["id"] for a in client.list_agents(limit=100)["data"]}
    assert {"agt_demo", created["id"]} <= ids
    client.close()


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status", "code"),
    [
        ("GET", "/v1/agents", {}, None, 401, "authentication_error"),
        (
            "GET",
            "/v1/agents",
            {"Authorization": "Bearer sk_live_nope"},
            None,
            401,
            "authentication_error",
        ),
        ("GET", "/v1/agents/agt_missing", None, None, 404, "not_found_error"),
        ("GET", "/v1/agents?limit=101", None, None, 422, "validation_error"),
        ("POST", "/v1/agents/create", None, {"name": "x"}, 422, "validation_error"),
        (
            "POST",
            "/v1/agents/create",
            None,
            {"name": "x", "system_prompt": "y", "voice_id": "nobody"},
            422,
            "validation_error",
        ),
    ],
)
def test_agent_endpoint_errors(
    server: Server,
    method: str,
    path: str,
    headers: dict[str, str] | None,
    body: dict[str, str] | None,
    status: int,
    code: str,
) -> None:
    auth = {"Authorization": f"Bearer {server.admin_key}"} if headers is None else headers
    response = httpx.request(method, f"{server.url}{path}", headers=auth, json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]


def test_healthz_and_openapi(server: Server) -> None:
    assert httpx.get(f"{server.url}/healthz").json()["status"] == "ok"
    paths = httpx.get(f"{server.url}/openapi.json").json()["paths"]
    assert {"/v1/agents/create", "/v1/agents", "/v1/agents/{agent_id}", "/v1/cluster"} <= set(paths)


async def test_server_log_holds_no_secret(server: Server) -> None:
    url = conversation_url(server.url, server.admin_key, "agt_demo")
    async with Conversation(url) as conv:
        assert (await conv.recv(timeout=10))["type"] == "connected"
    async with Conversation(conversation_url(server.url, "sk_live_guess", "agt_demo")) as conv:
        assert (await conv.recv(timeout=10))["code"] == "authentication_error"
    log = server.log.read_text()
    assert "/v1/voice/conversation?api_key=***" in log
    assert "model loaded" in log and "models ready" in log
    assert server.admin_key not in log and "sk_live_" not in log


def test_say_then_call_prints_the_conversation(server: Server, tmp_path: Path) -> None:
    question, reply = tmp_path / "question.wav", tmp_path / "reply.wav"
    parley = [sys.executable, "-m", "parley.cli"]
    subprocess.run([*parley, "say", "What is the capital of France?", str(question)], check=True)
    with wave.open(str(question)) as w:
        assert w.getframerate() == 22050  # parley call converts it
    out = subprocess.run(
        [
            *parley,
            "call",
            "agt_demo",
            str(question),
            "--url",
            server.url,
            "--api-key",
            server.admin_key,
            "--out",
            str(reply),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    lines = out.splitlines()
    assert lines[0].startswith("conversation ses_")
    you = next(line for line in lines if line.startswith("you:")).removeprefix("you:")
    # Piper speaks with random prosody; Whisper tiny hears "France" as "friends" in about
    # 3 of 10 calls (0 of 12 on the whole clip offline): allow one word of six.
    assert normalized_wer(["What is the capital of France?"], [you]) <= 0.2, you
    assert sum(line.startswith("agent:") for line in lines) == 2  # greeting and answer
    assert "voice-to-voice" in out
    with wave.open(str(reply)) as w:
        assert w.getframerate() == 16000 and w.getnframes() > 16000
