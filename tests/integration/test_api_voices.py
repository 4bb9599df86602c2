"""Voices over real HTTP: the installed voices and real synthesized previews."""

from __future__ import annotations

import io
import shutil
import wave

import httpx
import numpy as np
import pytest

from parley.client import ParleyClient
from tests.conftest import need_service
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
        fields = {"id", "name", "language", "languages", "quality", "sample_rate", "provider"}
        assert voices and all(set(v) == fields for v in voices)
        assert voices[0]["provider"] == "tts:piper-local"
        joe = next(v for v in voices if v["id"] == "en_US-joe-medium")
        assert joe["sample_rate"] == 22050 and joe["language"].startswith("en")
        assert joe["languages"] == ["en"] and joe["quality"] == "natural"
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


def _wav(data: bytes) -> tuple[int, np.ndarray]:
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
        return w.getframerate(), pcm


def test_voices_by_language(server: Server) -> None:
    need_service(shutil.which("espeak-ng") is not None, "espeak-ng")
    headers = auth(server.admin_key)
    spanish = httpx.get(f"{server.url}/v1/voices", params={"language": "es"}, headers=headers)
    assert spanish.status_code == 200, spanish.text
    voices = spanish.json()["data"]
    assert voices and all("es" in v["languages"] for v in voices)
    espeak = next(v for v in voices if v["id"] == "espeak-es")
    assert espeak == {
        "id": "espeak-es",
        "name": "Spanish (eSpeak, basic)",
        "language": "es",
        "languages": ["es"],
        "quality": "basic",
        "sample_rate": 22050,
        "provider": "tts:espeak-ng",
    }
    mexico = httpx.get(f"{server.url}/v1/voices", params={"language": "es-MX"}, headers=headers)
    assert mexico.json()["data"] == voices, "a locale counts as its language"
    with ParleyClient(server.url, server.admin_key) as client:
        assert client.list_voices(language="es") == voices
    amharic = httpx.get(f"{server.url}/v1/voices?language=am", headers=headers).json()["data"]
    assert [v["id"] for v in amharic] == ["espeak-am"]
    english = httpx.get(f"{server.url}/v1/voices?language=en", headers=headers).json()["data"]
    assert english[0]["id"] == "en_US-joe-medium", "Piper's natural voice comes first"
    everyone = httpx.get(f"{server.url}/v1/voices", headers=headers).json()["data"]
    assert {v["provider"] for v in everyone} >= {"tts:piper-local", "tts:espeak-ng"}


def test_unknown_language_filter(server: Server) -> None:
    headers = auth(server.admin_key)
    for code in ("xx", "auto", "s"):
        response = httpx.get(f"{server.url}/v1/voices", params={"language": code}, headers=headers)
        assert_error(
            response,
            422,
            "validation_error",
            f"language: unknown language code {code!r}",
            "language",
        )


def test_preview_of_an_espeak_voice(server: Server) -> None:
    need_service(shutil.which("espeak-ng") is not None, "espeak-ng")
    headers = auth(server.admin_key)
    # not the default provider's voice, and the default text is in the voice's language
    default = httpx.get(f"{server.url}/v1/voices/espeak-es/preview", headers=headers)
    assert default.status_code == 200 and default.headers["content-type"] == "audio/wav"
    rate, pcm = _wav(default.content)
    assert rate == 22050 and 0.8 < len(pcm) / rate < 5.0
    assert np.sqrt(np.mean(pcm**2)) > 300
    with ParleyClient(server.url, server.admin_key) as client:
        wav = client.voice_preview("espeak-de", "Guten Morgen, wie geht es Ihnen heute?")
    rate, pcm = _wav(wav)
    assert rate == 22050 and 1.0 < len(pcm) / rate < 6.0
