"""Admission control: the capacity gate's slots, and that a conversation refused or
failing to open leaves neither a slot nor an active session behind (in process, with
scripted models)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from parley.config import LimitSettings, Settings
from parley.core.agent import AgentLayer, SessionModels
from parley.errors import ServerAtCapacityError, SessionError
from parley.providers.pool import ProviderPool
from parley.server import create_app
from parley.server.state import CapacityGate, ServerState
from parley.storage import AgentRecord, SessionRecord
from parley.testing.fakes import (
    LoudnessVAD,
    ScriptedLLM,
    ScriptedSTT,
    ScriptedTurnModel,
    ToneTTS,
)

# ---------------------------------------------------------------- the gate


def test_slots_up_to_the_limit_then_a_refusal_with_a_retry_hint() -> None:
    gate = CapacityGate(2, retry_after_s=7.0)
    first, second = gate.reserve(), gate.reserve()
    assert gate.in_use == 2
    with pytest.raises(ServerAtCapacityError) as refused:
        gate.reserve()
    exc = refused.value
    assert isinstance(exc, SessionError) and exc.code == "session_error"
    assert (exc.http_status, exc.ws_close_code, exc.retry_after) == (503, 1013, 7.0)
    assert "server at capacity" in exc.message and "retry in 7 s" in exc.message
    assert gate.in_use == 2, "a refusal takes no slot"
    first.release()
    third = gate.reserve()
    assert gate.in_use == 2
    second.release()
    third.release()
    assert gate.in_use == 0


def test_releasing_twice_or_by_an_unknown_session_never_goes_negative() -> None:
    gate = CapacityGate(1)
    slot = gate.reserve()
    gate.bind(slot, "ses_a")
    assert gate.release("ses_a") is True
    assert gate.release("ses_a") is False
    slot.release()
    assert gate.release("ses_unknown") is False
    assert gate.in_use == 0
    again = gate.reserve()
    assert gate.in_use == 1
    gate.bind(slot, "ses_a")  # a slot already given back stays given back
    assert gate.release("ses_a") is False
    assert gate.in_use == 1
    again.release()
    assert gate.in_use == 0


def test_a_limit_of_zero_means_no_limit() -> None:
    gate = CapacityGate(0)
    slots = [gate.reserve() for _ in range(50)]
    assert gate.in_use == 50
    for slot in slots:
        slot.release()
    assert gate.in_use == 0


# ---------------------------------------------------------------- the server


class Layers:
    """An agent-layer factory that fails while ``fail`` is set."""

    def __init__(self) -> None:
        self.fail = False

    async def __call__(
        self, agent: AgentRecord, session: SessionRecord, models: SessionModels
    ) -> AgentLayer:
        if self.fail:
            raise RuntimeError("the agent layer could not be built")
        return AgentLayer()


def _pool(settings: Settings) -> ProviderPool:
    loaders: dict[str, Any] = {
        "stt:scripted": lambda s: ScriptedSTT("hello"),
        "llm:scripted": lambda s: ScriptedLLM("Hi."),
        "tts:tone": lambda s: ToneTTS(),
        "vad:loudness": lambda s: LoudnessVAD,
        "turn:scripted": lambda s: ScriptedTurnModel(),
    }
    defaults = {"stt": "stt:scripted", "llm": "llm:scripted", "tts": "tts:tone"}
    defaults |= {"vad": "vad:loudness", "turn": "turn:scripted"}
    pool = ProviderPool(settings, loaders, defaults)
    for spec in pool.defaults.values():
        pool.get(spec)
    return pool


class App:
    """A server with scripted models, capacity 1, an API key and two agents."""

    def __init__(self, client: TestClient, state: ServerState, key: str, layers: Layers) -> None:
        self.client, self.state, self.key, self.layers = client, state, key, layers
        auth = {"Authorization": f"Bearer {key}"}
        body = {"name": "A", "system_prompt": "Be brief.", "voice_id": "tone"}
        self.agent = self._create(body, auth)
        self.needs_name = self._create({**body, "first_message": "Hello {{name}}."}, auth)

    def _create(self, body: dict[str, Any], auth: dict[str, str]) -> str:
        created = self.client.post("/v1/agents", json=body, headers=auth)
        assert created.status_code == 201, created.text
        return str(created.json()["id"])

    def url(self, agent_id: str) -> str:
        return f"/v1/voice/conversation?api_key={self.key}&agent_id={agent_id}"

    def refused(self, agent_id: str) -> tuple[dict[str, Any], int]:
        """The error event and close code of a conversation that does not start."""
        with self.client.websocket_connect(self.url(agent_id)) as ws:
            error = ws.receive_json()
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
        return error, closed.value.code

    def active_sessions(self) -> list[str]:
        auth = {"Authorization": f"Bearer {self.key}"}
        found = []
        for agent_id in (self.agent, self.needs_name):
            url = f"/v1/agents/{agent_id}/sessions?status=active"
            listed = self.client.get(url, headers=auth)
            assert listed.status_code == 200, listed.text
            found += [s["session_id"] for s in listed.json()["data"]]
        return found

    def refused_for_capacity(self) -> float:
        return float(self.state.metrics.sessions_refused.labels("capacity")._value.get())


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    settings = Settings(data_dir=tmp_path, limits=LimitSettings(max_sessions=1))
    layers = Layers()
    server = create_app(settings, providers=_pool(settings), agent_layer=layers)
    with TestClient(server) as client:
        state: ServerState = server.state.parley
        _, key = client.portal.call(state.keys.create, "test")
        yield App(client, state, key, layers)


def test_a_conversation_over_capacity_is_refused_until_one_ends(app: App) -> None:
    with app.client.websocket_connect(app.url(app.agent)) as first:
        assert first.receive_json()["type"] == "connected"
        assert app.state.capacity.in_use == 1
        error, code = app.refused(app.agent)
        assert error["type"] == "error" and error["code"] == "session_error", error
        assert "server at capacity" in error["message"] and "retry in" in error["message"]
        assert code == 1013
        assert app.refused_for_capacity() == 1
        assert len(app.active_sessions()) == 1, "the refused one stored nothing"
        first.send_json({"type": "end"})
        while first.receive_json()["type"] != "session_ended":
            pass
    assert app.state.capacity.in_use == 0
    with app.client.websocket_connect(app.url(app.agent)) as again:
        assert again.receive_json()["type"] == "connected"
        again.send_json({"type": "end"})
    assert app.refused_for_capacity() == 1


def test_a_conversation_that_fails_to_open_gives_its_slot_back(app: App) -> None:
    app.layers.fail = True  # fails inside LiveConversation.open (not a ParleyError)
    with (
        pytest.raises(RuntimeError, match="agent layer"),
        app.client.websocket_connect(app.url(app.agent)) as ws,
    ):
        ws.receive_json()
    assert app.state.capacity.in_use == 0
    app.layers.fail = False
    # fails between admission and opening: the first message needs a {{name}}
    error, code = app.refused(app.needs_name)
    assert error["code"] == "session_error" and "name" in error["message"], error
    assert code == 4009
    assert app.state.capacity.in_use == 0
    assert app.active_sessions() == []
    assert app.refused_for_capacity() == 0
    with app.client.websocket_connect(app.url(app.agent)) as ws:
        assert ws.receive_json()["type"] == "connected", "the slot was given back"
        ws.send_json({"type": "end"})
