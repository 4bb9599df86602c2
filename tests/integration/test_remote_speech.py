"""The remote STT and TTS providers against a second real Parley serving its
OpenAI-compatible speech API, and against nginx sending what is not audio."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from parley.audio.wav import read_wav
from parley.errors import ProviderError
from parley.providers.remote import Endpoint
from parley.providers.stt.openai_remote import OpenAICompatibleSTT
from parley.providers.tts.openai_remote import OpenAICompatibleTTS
from parley.testing.nginx import nginx_available, running_nginx
from parley.testing.recordings import Recording
from parley.testing.server import ServerProcess, free_port
from parley.testing.wer import normalized_wer

pytestmark = pytest.mark.integration

NOT_AUDIO = """
        location /html/ { default_type text/html; return 200 "<html>down for maintenance</html>"; }
        location /noise/ { default_type audio/wav; return 200 "RIFX this is not a wav file"; }
        location /error500/ {
            default_type application/json;
            return 500 '{"error": {"message": "out of GPU memory"}}';
        }
"""
VOICE = "en_US-joe-medium"


@pytest.fixture(scope="module")
def broken_url() -> Iterator[str]:
    if not nginx_available():
        pytest.skip("nginx is not installed (apt-get install nginx)")
    with running_nginx(NOT_AUDIO) as url:
        yield url


def _stt(base_url: str, key: str | None = None, *, max_retries: int = 2) -> OpenAICompatibleSTT:
    return OpenAICompatibleSTT(
        "stt:remote", Endpoint(base_url, "whisper-1", key, max_retries=max_retries)
    )


def _tts(
    base_url: str, key: str | None = None, *, response_format: str = "pcm", max_retries: int = 2
) -> OpenAICompatibleTTS:
    return OpenAICompatibleTTS(
        "tts:remote",
        Endpoint(base_url, "tts-1", key, max_retries=max_retries),
        voices=[VOICE],
        response_format=response_format,
    )


async def test_remote_stt_transcribes_real_speech(
    server: ServerProcess, speech: dict[str, Recording]
) -> None:
    clip = speech["librivox-0880"]
    stt = _stt(f"{server.url}/v1", server.admin_key)
    transcript = await stt.transcribe(read_wav(clip.path), language="en")
    assert normalized_wer([clip.text], [transcript.text]) <= 0.35  # Whisper tiny.en, one clip
    assert transcript.language == "en"


@pytest.mark.parametrize("container", ["pcm", "wav"])
async def test_remote_tts_speaks_at_the_voice_rate_and_is_understood(
    server: ServerProcess, container: str
) -> None:
    tts = _tts(f"{server.url}/v1", server.admin_key, response_format=container)
    (voice,) = tts.voices()
    assert voice.sample_rate == 24_000
    text = "The quick brown fox jumps over the lazy dog."
    pieces = [p async for p in tts.synthesize(text, voice_id=VOICE)]
    audio = b"".join(pieces)
    seconds = len(audio) / 2 / voice.sample_rate
    assert 1.5 < seconds < 6.0
    from parley.audio.resample import resample_pcm16

    heard = await _stt(f"{server.url}/v1", server.admin_key).transcribe(
        resample_pcm16(audio, voice.sample_rate, 16_000)
    )
    assert normalized_wer([text], [heard.text]) < 0.25


async def test_a_wrong_key_is_an_error_naming_the_provider(server: ServerProcess) -> None:
    stt = _stt(f"{server.url}/v1", "sk_live_wrong", max_retries=0)
    with pytest.raises(ProviderError, match="stt:remote answered HTTP 401"):
        await stt.transcribe(bytes(32_000))


async def test_a_dead_speech_server_cannot_be_reached() -> None:
    tts = _tts(f"http://127.0.0.1:{free_port()}/v1", max_retries=1)
    with pytest.raises(ProviderError, match="tts:remote cannot be reached"):
        [p async for p in tts.synthesize("Hello.", voice_id=VOICE)]


async def test_html_instead_of_audio_is_refused(broken_url: str) -> None:
    tts = _tts(f"{broken_url}/html/v1", max_retries=0)
    with pytest.raises(ProviderError, match="tts:remote sent text/html, not audio"):
        [p async for p in tts.synthesize("Hello.", voice_id=VOICE)]


async def test_audio_in_a_wrong_format_is_refused(broken_url: str) -> None:
    tts = _tts(f"{broken_url}/noise/v1", response_format="wav", max_retries=0)
    with pytest.raises(ProviderError, match="tts:remote sent audio that cannot be used"):
        [p async for p in tts.synthesize("Hello.", voice_id=VOICE)]


async def test_a_server_error_is_reported_with_its_message(broken_url: str) -> None:
    stt = _stt(f"{broken_url}/error500/v1", max_retries=0)
    with pytest.raises(ProviderError, match="stt:remote answered HTTP 500: out of GPU memory"):
        await stt.transcribe(bytes(32_000))
