"""Any OpenAI-compatible ``/audio/transcriptions`` server (another Parley, faster-whisper
servers, hosted APIs)."""

from __future__ import annotations

import re
from typing import Any

from parley.audio.pcm import SAMPLE_RATE
from parley.audio.wav import wav_bytes
from parley.languages import AUTO, NAMES, base_code
from parley.providers.remote import Endpoint, call
from parley.providers.stt.base import SpeechToText, Transcript

_CODE = re.compile(r"^[a-zA-Z]{2,3}([-_][A-Za-z]{2})?$")
_BY_NAME = {name.lower(): code for code, name in NAMES.items()} | {
    # the other names Whisper (and so OpenAI's API) gives some languages
    "castilian": "es",
    "valencian": "ca",
    "flemish": "nl",
    "haitian": "ht",
    "letzeburgesch": "lb",
    "pushto": "ps",
    "panjabi": "pa",
    "moldavian": "ro",
    "moldovan": "ro",
    "sinhalese": "si",
    "mandarin": "zh",
    "nynorsk": "nn",
}


def language_code(reported: object) -> str | None:
    """The code of a language a server reports: OpenAI's ``verbose_json`` gives an English
    name ("spanish"), other servers a code ("es", "es-MX"); None when unknown."""
    if not isinstance(reported, str) or not reported.strip():
        return None
    value = reported.strip()
    if _CODE.match(value) and base_code(value) in NAMES:
        return base_code(value)
    return _BY_NAME.get(value.lower())


class OpenAICompatibleSTT(SpeechToText):
    """Sends each utterance as a WAV file; ``verbose_json`` answers give the language."""

    def __init__(
        self, name: str, endpoint: Endpoint, *, response_format: str = "verbose_json"
    ) -> None:
        self.name = name
        self._model, self._timeout = endpoint.model, endpoint.timeout_s
        self._format = response_format
        self._client = endpoint.client()

    async def transcribe(self, pcm: bytes, *, language: str = "en") -> Transcript:
        request: dict[str, Any] = {
            "model": self._model,
            "file": ("speech.wav", wav_bytes(pcm, SAMPLE_RATE), "audio/wav"),
            "response_format": self._format,
        }
        if language and language != AUTO:
            request["language"] = base_code(language)
        async with call(self.name, self._timeout):
            result = await self._client.audio.transcriptions.create(**request)
        text = str(getattr(result, "text", "") or "").strip()
        code = language_code(getattr(result, "language", None))
        return Transcript(
            text, language=code or (base_code(language) if language != AUTO else None)
        )
