"""eSpeak NG voices with the real ``espeak-ng`` binary (Debian package ``espeak-ng``):
audio per language at the rate the binary writes, bounded processes, and no voices (but
no failure) without the binary."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from parley.audio.wav import parse_wav
from parley.errors import ProviderError, ProviderUnavailableError
from parley.providers.tts.espeak_local import (
    MAX_TEXT_CHARS,
    SAMPLE_RATE,
    WORDS_PER_MINUTE,
    EspeakTTS,
    text_pieces,
)
from tests.conftest import need_service

LONG_TEXT = " ".join(["Esta es una frase bastante larga para hablar un buen rato."] * 15)


@pytest.fixture(scope="module")
def espeak() -> EspeakTTS:
    """The provider with the real binary (skipped, or failed in CI, without it)."""
    need_service(shutil.which("espeak-ng") is not None, "espeak-ng")
    return EspeakTTS()


def espeak_children() -> list[int]:
    """Processes of the espeak-ng binary whose parent is this test process (zombies too)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            comm = stat.read_text().split("(", 1)[1].rsplit(")", 1)[0]
        except (OSError, IndexError):
            continue
        if int(fields[1]) == os.getpid() and comm.startswith("espeak"):
            found.append(int(stat.parent.name))
    return found


async def no_espeak_left() -> list[int]:
    """The espeak-ng children still there once killed ones are reaped (waits up to 10 s)."""
    for _ in range(1000):
        if not (left := espeak_children()):
            break
        await asyncio.sleep(0.01)
    return left


async def audio(tts: EspeakTTS, text: str, voice_id: str) -> bytes:
    return b"".join([chunk async for chunk in tts.synthesize(text, voice_id=voice_id)])


def test_a_basic_voice_per_language_and_only_languages_it_has(espeak: EspeakTTS) -> None:
    voices = {v.id: v for v in espeak.voices()}
    for code in ("es", "fr", "de", "it", "pt", "nl", "pl", "ru", "am", "om"):
        voice = voices[f"espeak-{code}"]
        assert voice.languages == (code,) and voice.speaks() == (code,)
        assert voice.quality == "basic" and voice.sample_rate == SAMPLE_RATE
        assert voice.name.endswith("(eSpeak, basic)")
    assert voices["espeak-es"].name == "Spanish (eSpeak, basic)"
    assert voices["espeak-fr"].language == "fr-fr" and voices["espeak-no"].language == "nb"
    assert voices["espeak-pt-br"].languages == ("pt",)
    # this espeak-ng has no Somali or Tigrinya voice, and its Japanese/Mandarin are unusable
    spoken = {code for v in voices.values() for code in v.speaks()}
    assert not spoken & {"so", "ti", "ja", "zh"}
    assert all(v.quality == "basic" for v in voices.values())
    # English is offered only last: Piper's natural voice stays the default for English
    assert list(voices)[-1] == "espeak-en"


@pytest.mark.parametrize(
    ("voice_id", "text"),
    [
        ("espeak-es", "Buenos días, ¿en qué puedo ayudarle?"),
        ("espeak-fr", "Bonjour, comment puis-je vous aider ?"),
        ("espeak-de", "Guten Tag, wie kann ich Ihnen helfen?"),
    ],
)
async def test_speech_comes_out_at_the_rate_espeak_writes(
    espeak: EspeakTTS, voice_id: str, text: str
) -> None:
    voice = espeak.voice(voice_id)
    chunks = [chunk async for chunk in espeak.synthesize(text, voice_id=voice_id)]
    pcm = b"".join(chunks)
    assert len(chunks) > 1, "streamed as it is written"
    assert len(pcm) % 2 == 0 and all(len(c) % 2 == 0 for c in chunks)
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    assert 0.8 < len(samples) / voice.sample_rate < 6.0
    assert np.sqrt(np.mean(samples**2)) > 500
    direct = await asyncio.to_thread(
        subprocess.check_output,
        ["espeak-ng", "-v", voice.language, "-s", str(WORDS_PER_MINUTE), "--stdout", text],
    )
    fmt, expected = parse_wav(direct)
    assert (fmt.rate, fmt.channels, fmt.bits) == (voice.sample_rate, 1, 16)
    assert pcm == expected, "the samples espeak-ng writes, unchanged"


async def test_text_is_data_never_options_or_a_shell(espeak: EspeakTTS) -> None:
    text = "--help; rm -rf / $(echo hola) `ls` | cat"
    assert len(await audio(espeak, text, "espeak-es")) > SAMPLE_RATE  # spoken, not run
    assert await audio(espeak, " \x00\x07 \n", "espeak-es") == b""  # nothing to say


async def test_cancelling_a_synthesis_kills_its_process(espeak: EspeakTTS) -> None:
    started = asyncio.Event()
    stream = espeak.synthesize(LONG_TEXT, voice_id="espeak-es")

    async def speak() -> None:
        async for _ in stream:
            started.set()
            await asyncio.sleep(3600)  # a listener that stops reading

    task = asyncio.create_task(speak())
    await started.wait()
    assert espeak_children(), "espeak-ng is still writing (blocked on the full pipe)"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await no_espeak_left() == [], "killed with its task, before the stream is closed"
    await stream.aclose()  # type: ignore[attr-defined]


async def test_an_abandoned_synthesis_kills_its_process(espeak: EspeakTTS) -> None:
    stream = espeak.synthesize(LONG_TEXT, voice_id="espeak-de")
    assert await anext(stream)
    assert espeak_children()
    await stream.aclose()  # type: ignore[attr-defined]
    assert espeak_children() == [], "killed and reaped when the stream is closed"


async def test_a_process_that_writes_nothing_in_time_is_killed(espeak: EspeakTTS) -> None:
    impatient = EspeakTTS(timeout_s=1e-6)
    with pytest.raises(ProviderError, match="espeak-ng wrote nothing for"):
        await audio(impatient, "Hola.", "espeak-es")
    assert await no_espeak_left() == []


def test_long_text_is_split_between_words_into_bounded_pieces() -> None:
    text = " ".join(f"word{i}" for i in range(2000)) + " " + "x" * (MAX_TEXT_CHARS + 5)
    pieces = text_pieces(text)
    assert len(pieces) > 10 and all(0 < len(p) <= MAX_TEXT_CHARS for p in pieces)
    assert " ".join(pieces).replace("x ", "x") == text
    assert text_pieces("a\x00b\tc  d", 3) == ["a b", "c d"]
    assert text_pieces(" \n ") == []


async def test_long_text_is_spoken_by_several_bounded_processes(espeak: EspeakTTS) -> None:
    small = EspeakTTS(max_text_chars=80)
    text = LONG_TEXT[:400]
    whole, pieces = await audio(espeak, text, "espeak-es"), await audio(small, text, "espeak-es")
    assert len(text_pieces(text, 80)) == 6
    # every piece is spoken: about as much audio as in one go (each piece ends in a pause)
    assert 0.9 < len(pieces) / len(whole) < 1.6


async def test_without_the_binary_there_are_no_voices_and_nothing_breaks() -> None:
    tts = EspeakTTS("/nonexistent/espeak-ng")
    assert tts.voices() == []
    assert tts.unavailable is not None and "apt-get install espeak-ng" in tts.unavailable
    with pytest.raises(ProviderUnavailableError, match="not installed"):
        await audio(tts, "Hola.", "espeak-es")
