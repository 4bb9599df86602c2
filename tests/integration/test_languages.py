"""Conversations in other languages, with the real models: real Spanish speech is heard
and detected, an ``auto`` agent follows the caller, an agent with a language code always
answers in it, and the agent's audio is in the language it was asked for (checked by
transcribing it with the multilingual Whisper and detecting its language)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from parley.audio.wav import read_wav
from parley.client import call
from parley.languages.packs import ENGLISH, SPANISH, LanguagePack
from parley.providers.stt.whisper_local import WhisperSTT
from parley.providers.stt.whisper_multilingual import multilingual_model_dir
from parley.testing.multilingual_speech import SpeechClip, real_clips
from parley.testing.recordings import Recording
from parley.testing.wer import normalized_cer
from tests.integration.conftest import Server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def spanish() -> list[SpeechClip]:
    """Real Spanish speech (Debian's Asterisk prompts), the longest first."""
    clips = real_clips("es", per_language=8)
    return sorted(clips, key=lambda c: len(c.pcm), reverse=True)


@pytest.fixture(scope="module")
def whisper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WhisperSTT]:
    stt = WhisperSTT(multilingual_model_dir(tmp_path_factory.mktemp("models")))
    yield stt
    stt.close()


def _written_in(text: str, pack: LanguagePack) -> bool:
    """More of the text's words are function words of ``pack``'s language than of
    English's ("el", "con" against "the", "with")."""
    words = re.findall(r"\w+", text.lower())
    own, english = set(pack.loop_function_words.split()), set(ENGLISH.loop_function_words.split())
    return sum(w in own for w in words) > sum(w in english for w in words)


async def _spoken_in(whisper: WhisperSTT, audio: bytes, text: str, language: str) -> None:
    """The agent's audio is speech in ``language`` saying ``text``: Whisper base detects
    the language, or, where it misjudges a short robotic clause (Spanish eSpeak taken for
    Italian happens), transcribing it in ``language`` gives back the text's letters
    (character error rate at most 0.5; English speech scores about 1)."""
    detected = await whisper.transcribe(audio, language="auto")
    if detected.language == language:
        return
    forced = await whisper.transcribe(audio, language=language)
    cer = normalized_cer(text, forced.text, english=False)
    assert cer <= 0.5, (detected, forced, text)


def _agent(server: Server, **fields: Any) -> dict[str, Any]:
    body = {"name": "Languages", "system_prompt": "You are a helpful travel agent.", **fields}
    headers = {"Authorization": f"Bearer {server.admin_key}"}
    response = httpx.post(f"{server.url}/v1/agents", json=body, headers=headers, timeout=60)
    assert response.status_code == 201, response.text
    agent: dict[str, Any] = response.json()
    return agent


def _turns(server: Server, session_id: str) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {server.admin_key}"}
    response = httpx.get(f"{server.url}/v1/sessions/{session_id}", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    turns: list[dict[str, Any]] = response.json()["transcript"]
    return turns


async def test_an_auto_agent_follows_a_spanish_caller(
    server: Server, spanish: list[SpeechClip], whisper: WhisperSTT
) -> None:
    agent = _agent(server, language="auto", first_message="Hello! How can I help you?")
    result = await call(server.url, server.admin_key, agent["id"], [spanish[0].pcm])

    [user] = [e for e in result.events if e.get("type") == "transcript" and e["role"] == "user"]
    assert user["language"] == "es" and user["language_probability"] > 0.5, user
    [switch] = [e for e in result.events if e.get("type") == "language_changed"]
    assert switch["language"] == "es" and switch["previous"] == "en"
    assert switch["turn_id"] == user["turn_id"]
    [turn] = result.turns
    assert turn.reply is not None and turn.reply.text.strip()
    assert _written_in(turn.reply.text, SPANISH), turn.reply.text
    await _spoken_in(whisper, bytes(turn.reply.audio), turn.reply.text, "es")

    stored = _turns(server, result.conversation_id)
    assert [(t["role"], t["language"]) for t in stored] == [
        ("agent", "en"),  # the greeting, before the caller was heard
        ("user", "es"),
        ("agent", "es"),
    ]
    assert stored[1]["language_probability"] == pytest.approx(
        user["language_probability"], abs=1e-3
    )


async def test_an_agent_with_a_language_answers_in_it_whatever_the_caller_speaks(
    server: Server, speech: dict[str, Recording], whisper: WhisperSTT
) -> None:
    agent = _agent(server, language="es")
    english = read_wav(speech["librivox-0930"].path)
    result = await call(server.url, server.admin_key, agent["id"], [english])

    [user] = [e for e in result.events if e.get("type") == "transcript" and e["role"] == "user"]
    assert user["language"] == "en" and user["text"].strip()
    assert not [e for e in result.events if e.get("type") == "language_changed"]
    [turn] = result.turns
    assert turn.reply is not None
    agent_final = [
        e for e in result.events
        if e.get("type") == "transcript" and e["role"] == "agent" and e.get("final")
    ]  # fmt: skip
    assert agent_final and all(e["language"] == "es" for e in agent_final)
    assert _written_in(turn.reply.text, SPANISH), turn.reply.text
    await _spoken_in(whisper, bytes(turn.reply.audio), turn.reply.text, "es")


def test_languages_resource_and_precise_errors(server: Server) -> None:
    headers = {"Authorization": f"Bearer {server.admin_key}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=60) as http:
        languages = {lang["code"]: lang for lang in http.get("/v1/languages").json()["data"]}
        assert languages["en"]["voice_quality"] == "natural" and languages["en"]["speech_to_text"]
        assert languages["es"]["voices"][0] == "espeak-es"
        assert languages["es"]["voice_quality"] == "basic"
        assert languages["es"]["turn_rules"] == "full" and languages["es"]["native_lines"]
        assert languages["am"]["turn_rules"] == "punctuation"
        assert not languages["om"]["speech_to_text"]  # Whisper has no Oromo
        assert languages["ja"]["voices"] == [] and languages["ja"]["voice_quality"] is None

        def refused(body: dict[str, Any]) -> dict[str, Any]:
            body = {"name": "x", "system_prompt": "y", **body}
            response = http.post("/v1/agents", json=body)
            assert response.status_code == 422, response.text
            error: dict[str, Any] = response.json()["error"]
            assert error["code"] == "validation_error"
            return error

        assert "unknown language 'xx'" in refused({"language": "xx"})["message"]
        no_voice = refused({"language": "ja"})
        assert (
            no_voice["param"] == "language"
            and "no installed voice speaks Japanese" in (no_voice["message"])
        )
        wrong = refused({"language": "auto", "voices": {"fr": "espeak-es"}})
        assert wrong["param"] == "voices.fr" and "not French" in wrong["message"]
        missing = refused({"voices": {"es": "nobody"}})
        assert missing["param"] == "voices.es" and "espeak-es" in missing["message"]
        names = [a["name"] for a in http.get("/v1/agents", params={"limit": 100}).json()["data"]]
        assert "x" not in names

        made = http.post(
            "/v1/agents",
            json={"name": "multi", "system_prompt": "y", "language": "auto",
                  "voices": {"fr": "espeak-fr"}},
        )  # fmt: skip
        assert made.status_code == 201, made.text
        assert made.json()["voices"] == {"fr": "espeak-fr"}
        spanish = http.get("/v1/voices", params={"language": "es"}).json()["data"]
        assert spanish and all("es" in v["languages"] for v in spanish)
