"""Prometheus metrics and session recordings on a real server."""

from __future__ import annotations

import asyncio
import io
import wave

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from parley.audio.wav import read_wav
from parley.client import ParleyClient, call
from parley.testing.recordings import Recording
from tests.integration.conftest import Server

pytestmark = pytest.mark.integration


def _metric(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


async def test_recorded_conversation_shows_in_metrics_and_recording(
    server: Server, speech: dict[str, Recording]
) -> None:
    auth = {"Authorization": f"Bearer {server.admin_key}"}
    http = httpx.AsyncClient(base_url=server.url, headers=auth)
    before = (await http.get("/metrics")).text
    client = ParleyClient(server.url, server.admin_key)
    agent = client.create_agent(
        name="Recorded", system_prompt="Answer briefly.", first_message="Hello.", record_audio=True
    )
    assert agent["record_audio"] is True
    clip = speech["librivox-0930"]
    result = await call(server.url, server.admin_key, agent["id"], [read_wav(clip.path)])
    assert result.turns[0].reply is not None

    after = (await http.get("/metrics")).text
    v2v = "parley_turn_stage_seconds_count"
    assert (
        _metric(after, v2v, stage="voice_to_voice")
        == _metric(before, v2v, stage="voice_to_voice") + 1
    )
    started = "parley_sessions_started_total"
    assert _metric(after, started) == _metric(before, started) + 1
    ended = "parley_sessions_ended_total"
    assert _metric(after, ended, reason="client") >= _metric(before, ended, reason="client") + 1
    assert _metric(after, "parley_turns_total", role="user") >= 1
    assert _metric(after, "parley_model_queue_wait_seconds_count", model="llm") >= 1

    session_id = result.conversation_id
    recording = None
    for _ in range(50):  # written as the session closes
        response = await http.get(f"/v1/sessions/{session_id}/recording")
        if response.status_code == 200:
            recording = response.content
            break
        await asyncio.sleep(0.1)
    assert recording is not None
    with wave.open(io.BytesIO(recording)) as w:
        assert (w.getnchannels(), w.getframerate()) == (2, 16000)
        audio = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    user, agent_side = audio[:, 0].astype(float), audio[:, 1].astype(float)
    said = read_wav(clip.path)
    assert len(audio) / 16000 > len(said) / 32000, "as long as the conversation at least"
    assert np.sqrt(np.mean(user**2)) > 100 and np.sqrt(np.mean(agent_side**2)) > 100
    loud_user = np.abs(user) > 2000
    loud_agent = np.abs(agent_side) > 2000
    assert (loud_user & loud_agent).mean() < 0.05, "the two sides take turns"

    deleted = await http.delete(f"/v1/sessions/{session_id}")
    assert deleted.status_code == 204
    for path in (f"/v1/sessions/{session_id}", f"/v1/sessions/{session_id}/recording"):
        gone = await http.get(path)
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found_error"
    client.close()
    await http.aclose()


def test_metrics_need_an_admin_key(server: Server) -> None:
    assert httpx.get(f"{server.url}/metrics").status_code == 401
    key = ParleyClient(server.url, server.admin_key).create_key(name="plain")
    plain = {"Authorization": f"Bearer {key['key']}"}
    assert httpx.get(f"{server.url}/metrics", headers=plain).status_code == 403


def test_active_session_cannot_be_deleted(server: Server) -> None:
    client = ParleyClient(server.url, server.admin_key)
    session = client.create_session("agt_demo")
    auth = {"Authorization": f"Bearer {server.admin_key}"}
    response = httpx.delete(f"{server.url}/v1/sessions/{session['session_id']}", headers=auth)
    assert response.status_code == 409 and response.json()["error"]["code"] == "session_error"
    client.close()
