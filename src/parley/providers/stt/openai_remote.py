"""Any OpenAI-compatible ``/audio/transcriptions`` server (another Parley, faster-whisper
servers, hosted APIs)."""

from __future__ import annotations

import re
from typing import Any

from parley.audio.pcm import SAMPLE_RATE
from parley.audio.wav import wav_bytes
from parley.providers.remote import Endpoint, call
from parley.providers.stt.base import SpeechToText, Transcript

_CODE = re.compile(r"^[a-z]{2,3}(-[A-Za-z]{2})?$")


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
        if language and language != "auto":
            request["language"] = language
        async with call(self.name, self._timeout):
            result = await self._client.audio.transcriptions.create(**request)
        text = str(getattr(result, "text", "") or "").strip()
        detected = getattr(result, "language", None)
        code = detected.lower() if isinstance(detected, str) and _CODE.match(detected) else None
        return Transcript(text, language=code or (language if language != "auto" else None))
