"""Voices over real HTTP: the installed voices and real synthesized previews."""

from __future__ import annotations

import io
import wave

import httpx
import numpy as np
import pytest

from parley.client import ParleyClient
from tests.integration.api_support import assert_error, auth, on_database
from tests.integration.conftest import Server

pytestmark = pytest.mark.integration


@pytest.fixture
def server(request: pytest.FixtureRequest, database_backend: str, server: Server) -> Server:
    """Every test here runs against the SQLite server and against the Postgres one."""
    return on_database(request, database_backend, server)


def test_list_voices_and_preview(server: Server) -> None:
    with ParleyClient(server.url, server.admin_key) as client:
        voices = client.list_voices()
        fields = {"id", "name", "language", "sample_rate", "provider"}
        assert voices and all(set(v) == fields for v in voices)
        assert voices[0]["provider"] == "tts:piper-local"
        joe = next(v for v in voices if v["id"] == "en_US-joe-medium")
        assert joe["sample_rate"] == 22050 and joe["language"].startswith("en")
        wav = client.voice_preview("en_US-joe-medium", "Testing one two three.")
    with wave.open(io.BytesIO(wav)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 22050)
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
    assert 0.8 < len(pcm) / 22050 < 5.0  # a second or two of speech
    assert np.sqrt(np.mean(pcm**2)) > 300


def test_preview_default_text_and_errors(server: Server) -> None:
    headers = auth(server.admin_key)
    response = httpx.get(f"{server.url}/v1/voices/en_US-joe-medium/preview", headers=headers)
    assert response.status_code == 200 and response.headers["content-type"] == "audio/wav"
    assert response.content[:4] == b"RIFF"
    missing = httpx.get(f"{server.url}/v1/voices/nobody/preview", headers=headers)
    assert_error(missing, 404, "not_found_error", "voice 'nobody' not found", "voice_id")
    long = httpx.get(
        f"{server.url}/v1/voices/en_US-joe-medium/preview",
        params={"text": "x" * 501},
        headers=headers,
    )
    assert_error(
        long, 422, "validation_error", "text: String should have at most 500 characters", "text"
    )
    blank = httpx.get(
        f"{server.url}/v1/voices/en_US-joe-medium/preview", params={"text": "   "}, headers=headers
    )
    error = assert_error(blank, 422, "validation_error", param="text")
    assert error["message"].startswith("text: String should match pattern")
    control = httpx.get(
        f"{server.url}/v1/voices/en_US-joe-medium/preview",
        params={"text": "\x00\x9b"},
        headers=headers,
    )
    assert_error(control, 422, "validation_error", "text: must contain something to say", "text")
    assert_error(httpx.get(f"{server.url}/v1/voices"), 401, "authentication_error")
