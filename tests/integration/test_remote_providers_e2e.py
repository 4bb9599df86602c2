"""A Parley whose agent uses only remote providers, named in a providers file: its LLM is
llama.cpp's HTTP server on this machine, its STT and TTS a second real Parley. And an
agent whose LLM server is down: its turns fail with a clear error, the call goes on."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from parley.audio.wav import read_wav
from parley.client import AsyncParleyClient, Conversation, ParleyClient, call, conversation_url
from parley.testing.llama_server import running_llama_server
from parley.testing.recordings import Recording
from parley.testing.server import ServerProcess, free_port, start_server

pytestmark = pytest.mark.integration

PROVIDERS = """
[llm.remote]
type = "openai"
base_url = "{llama}"
model = "local-model"
tools = "prompt"
timeout_s = 20

[llm.dead]
type = "openai"
base_url = "http://127.0.0.1:{dead_port}/v1"
model = "nothing"
timeout_s = 5
max_retries = 1

[stt.remote]
type = "openai"
base_url = "{speech}/v1"
model = "whisper-1"
api_key_env = "E2E_SPEECH_KEY"

[tts.remote]
type = "openai"
base_url = "{speech}/v1"
model = "tts-1"
api_key_env = "E2E_SPEECH_KEY"
voices = ["en_US-joe-medium"]
"""


@pytest.fixture(scope="module")
def remote_server(
    server: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """Parley B: its providers file points at llama.cpp and at Parley A (``server``)."""
    with running_llama_server("--parallel", "2") as llama:
        data = tmp_path_factory.mktemp("remote") / "data"
        data.mkdir(parents=True)
        providers = data.parent / "providers.toml"
        providers.write_text(
            PROVIDERS.format(llama=llama, dead_port=free_port(), speech=server.url)
        )
        # the speech server's key is the secret this server must never show
        env = {"PARLEY_PROVIDERS_FILE": str(providers), "E2E_SPEECH_KEY": server.admin_key}
        srv = start_server(data, env=env)
        yield srv
        srv.stop()


def test_providers_are_listed_with_reachability_and_no_secrets(
    remote_server: ServerProcess, server: ServerProcess
) -> None:
    with ParleyClient(remote_server.url, remote_server.admin_key) as client:
        providers = {p["name"]: p for p in client.list_providers()}
    assert providers["llm:remote"]["reachable"] and providers["llm:remote"]["type"] == "openai"
    assert providers["stt:remote"]["reachable"] and providers["tts:remote"]["reachable"]
    assert providers["llm:dead"]["reachable"] is False
    assert providers["llm:llama-local"]["default"] and providers["llm:llama-local"]["loaded"]
    shown = str(providers)
    assert server.admin_key not in shown
    assert server.admin_key not in Path(remote_server.log).read_text(), "never logged"


async def test_an_agent_on_remote_providers_holds_a_voice_conversation(
    remote_server: ServerProcess, speech: dict[str, Recording]
) -> None:
    async with AsyncParleyClient(remote_server.url, remote_server.admin_key) as client:
        agent = await client.create_agent(
            name="Remote",
            system_prompt="You are a helpful assistant. Answer in one short sentence.",
            voice_id="en_US-joe-medium",
            first_message="Hello there.",
            provider_overrides={"llm": "llm:remote", "stt": "stt:remote", "tts": "tts:remote"},
        )
    clip = speech["cards-005"]
    result = await call(
        remote_server.url, remote_server.admin_key, agent["id"], [read_wav(clip.path)]
    )
    assert result.greeting is not None and result.greeting.audio, "the remote TTS spoke"
    (turn,) = result.turns
    assert turn.user_text, "the remote STT heard the user"
    assert turn.reply is not None and turn.reply.text and turn.reply.audio
    assert turn.reply.metrics.get("voice_to_voice") is not None
    async with httpx.AsyncClient() as http:
        auth = {"Authorization": f"Bearer {remote_server.admin_key}"}
        metrics = (await http.get(f"{remote_server.url}/metrics", headers=auth)).text
    for provider in ("llm:remote", "stt:remote", "tts:remote"):
        assert re.search(
            rf'parley_provider_calls_total{{outcome="ok",provider="{provider}"}} [1-9]', metrics
        ), provider


async def test_a_dead_llm_fails_each_turn_clearly_and_the_call_goes_on(
    remote_server: ServerProcess,
) -> None:
    async with AsyncParleyClient(remote_server.url, remote_server.admin_key) as client:
        agent = await client.create_agent(
            name="Dead LLM", system_prompt="Be brief.", provider_overrides={"llm": "llm:dead"}
        )
    url = conversation_url(remote_server.url, remote_server.admin_key, agent["id"])
    async with Conversation(url) as conv:
        assert (await conv.recv(timeout=30))["type"] == "connected"
        for attempt in range(2):  # the next turn tries the server again
            await conv.send({"type": "text", "text": f"Hello number {attempt}?"})
            errors, ends = [], []
            while not ends:
                event = await conv.recv(timeout=30)
                if event["type"] == "error":
                    errors.append(event)
                elif event["type"] == "agent_turn_end":
                    ends.append(event)
            (error,) = errors
            assert error["code"] == "internal_error"
            assert "llm:dead cannot be reached" in error["message"]
            assert ends[0]["status"] == "failed"
        await conv.send({"type": "ping", "ts": 7})
        while (event := await conv.recv(timeout=10))["type"] != "pong":
            pass
        assert event["ts"] == 7, "the session is alive"
