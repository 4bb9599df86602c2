"""Voices: the installed TTS voices and a WAV preview of each."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from parley.audio.wav import wav_bytes
from parley.errors import NotFoundError, ValidationError
from parley.server.auth import ApiKey, State
from parley.server.errors import error_responses

router = APIRouter(prefix="/v1/voices", tags=["voices"])

DEFAULT_PREVIEW = "Hello! This is how I sound."


class Voice(BaseModel):
    """A voice agents may use, with the TTS provider that speaks it."""

    id: str
    name: str
    language: str
    sample_rate: int
    provider: str = Field(description="the TTS provider (an agent's provider_overrides.tts)")


class VoiceList(BaseModel):
    """Every installed voice."""

    data: list[Voice]


def spoken_text(text: str, param: str) -> str:
    """``text`` with control characters as spaces; 422 when nothing is left to say."""
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Cs") else c for c in text)
    if not text.strip():
        raise ValidationError(f"{param}: must contain something to say", param=param)
    return text


@router.get("", response_model=VoiceList, responses=error_responses(403, 503))
async def list_voices(state: State, _key: ApiKey) -> VoiceList:
    """The voices agents may use (``voice_id``), of every TTS provider (the default's
    first)."""
    pool = state.ready_providers()
    specs = sorted(pool.names("tts"), key=lambda spec: spec != pool.defaults["tts"])
    data = []
    for spec in specs:
        for v in (await pool.load(spec)).voices():
            data.append(
                Voice(
                    id=v.id, name=v.name, language=v.language, sample_rate=v.sample_rate,
                    provider=spec,
                )
            )  # fmt: skip
    return VoiceList(data=data)


@router.get(
    "/{voice_id}/preview",
    response_class=Response,
    responses={
        200: {"content": {"audio/wav": {}}, "description": "a WAV file (PCM16 mono)"},
        **error_responses(403, 404, 503),
    },
)
async def preview_voice(
    voice_id: str,
    state: State,
    _key: ApiKey,
    text: Annotated[str, Query(min_length=1, max_length=500, pattern=r"[^\s\x00-\x1f\x7f]")] = (
        DEFAULT_PREVIEW
    ),
) -> Response:
    """Speak ``text`` with the voice and return it as WAV."""
    tts = state.ready_providers().tts
    voice = next((v for v in tts.voices() if v.id == voice_id), None)
    if voice is None:
        raise NotFoundError(f"voice {voice_id!r} not found", param="voice_id")
    text = spoken_text(text, "text")
    pcm = b"".join([chunk async for chunk in tts.synthesize(text, voice_id=voice.id)])
    return Response(wav_bytes(pcm, voice.sample_rate), media_type="audio/wav")
