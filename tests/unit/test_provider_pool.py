"""The provider pool (named, lazy, shared providers) and how the app factory wires it
and the agent layer into sessions: in process, with scripted models."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from parley.config import Settings
from parley.core.agent import AgentLayer, SessionModels
from parley.core.hooks import Rewrite
from parley.errors import ValidationError
from parley.providers.pool import ProviderPool
from parley.server import create_app
from parley.storage import AgentRecord, SessionRecord
from parley.testing.fakes import LoudnessVAD, ScriptedHook, ScriptedLLM, ScriptedSTT, ToneTTS


class Counting:
    """Loaders that count how often each provider was loaded."""

    def __init__(self) -> None:
        self.loads: dict[str, int] = {}
        self.llms = {"llm:a": ScriptedLLM("Reply from A."), "llm:b": ScriptedLLM("Reply from B.")}

    def loader(self, spec: str, make: Any) -> Any:
        def load(settings: Settings) -> Any:
            self.loads[spec] = self.loads.get(spec, 0) + 1
            return make()

        return load

    def pool(self, settings: Settings) -> ProviderPool:
        loaders = {
            "stt:scripted": self.loader("stt:scripted", lambda: ScriptedSTT("hello")),
            "tts:tone": self.loader("tts:tone", ToneTTS),
            "vad:loudness": self.loader("vad:loudness", lambda: LoudnessVAD),
            **{name: self.loader(name, lambda llm=llm: llm) for name, llm in self.llms.items()},
        }
        defaults = {"stt": "stt:scripted", "llm": "llm:a", "tts": "tts:tone", "vad": "vad:loudness"}
        return ProviderPool(settings, loaders, defaults)


async def test_providers_load_once_on_first_use_and_are_shared(tmp_path: Path) -> None:
    counting = Counting()
    pool = counting.pool(Settings(data_dir=tmp_path))
    assert pool.names("llm") == ["llm:a", "llm:b"]
    assert not pool.is_loaded("llm:b")
    first, second = await asyncio.gather(pool.load("llm:b"), pool.load("llm:b"))
    assert first is second is counting.llms["llm:b"]
    assert counting.loads == {"llm:b": 1}, "two sessions asking at once load it once"
    chosen = await pool.for_session({"llm": "llm:b"})
    assert chosen.llm is counting.llms["llm:b"]
    assert isinstance(chosen.tts, ToneTTS)
    assert (await pool.for_session(None)).llm is counting.llms["llm:a"]
    assert counting.loads == {name: 1 for name in counting.loads}


async def test_unknown_provider_names_are_refused(tmp_path: Path) -> None:
    pool = Counting().pool(Settings(data_dir=tmp_path))
    with pytest.raises(ValidationError, match=r"unknown llm provider 'llm:c'; known: \['llm:a'"):
        await pool.for_session({"llm": "llm:c"})
    with pytest.raises(ValidationError, match="unknown stt provider"):
        pool.check("llm:a", "stt")


def test_an_agent_talks_with_the_models_it_names_and_the_wired_agent_layer(
    tmp_path: Path,
) -> None:
    counting = Counting()
    settings = Settings(data_dir=tmp_path)
    pool = counting.pool(settings)
    for spec in pool.defaults.values():
        pool.get(spec)
    hooks: list[ScriptedHook] = []

    async def layer(
        agent: AgentRecord, session: SessionRecord, models: SessionModels
    ) -> AgentLayer:
        hook = ScriptedHook("polite", user_turn=lambda text: Rewrite(text + ", please"))
        hooks.append(hook)
        return AgentLayer(hooks=(hook,))

    app = create_app(settings, providers=pool, agent_layer=layer)
    with TestClient(app) as client:
        state = app.state.parley
        _, key = client.portal.call(state.keys.create, "test")
        auth = {"Authorization": f"Bearer {key}"}
        body = {"name": "B", "system_prompt": "Be brief.", "voice_id": "tone"}
        refused = client.post(
            "/v1/agents", json={**body, "provider_overrides": {"llm": "llm:c"}}, headers=auth
        )
        assert refused.status_code == 422
        assert "unknown llm provider 'llm:c'" in refused.json()["error"]["message"]
        created = client.post(
            "/v1/agents", json={**body, "provider_overrides": {"llm": "llm:b"}}, headers=auth
        )
        assert created.status_code == 201, created.text
        agent_id = created.json()["id"]
        schema = client.get("/openapi.json").json()["components"]["schemas"]
        assert schema["ProviderOverrides"]["properties"]["llm"]["enum"] == ["llm:a", "llm:b", None]

        url = f"/v1/voice/conversation?api_key={key}&agent_id={agent_id}"
        with client.websocket_connect(url) as ws:
            assert ws.receive_json()["type"] == "connected"
            ws.send_json({"type": "text", "text": "the time"})
            finals = []
            while len(finals) < 2:
                event = ws.receive_json()
                if event["type"] == "transcript" and event["final"]:
                    finals.append((event["role"], event["text"]))
            ws.send_json({"type": "end"})
        assert finals == [("user", "the time, please"), ("agent", "Reply from B.")]
        assert counting.llms["llm:a"].requests == [], "the agent's own LLM answered"
        assert [h.user_turns for h in hooks] == [["the time"]]
