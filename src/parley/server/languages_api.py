"""``GET /v1/languages``: what this server can do in each language: hear it, answer in
it (with which voices), and how well it takes turns in it."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from parley.languages import NAMES
from parley.languages.packs import PACKS, pack_for
from parley.providers.pool import MULTILINGUAL_STT
from parley.server.auth import ApiKey, State
from parley.server.errors import error_responses
from parley.server.languages import installed_voices

router = APIRouter(prefix="/v1/languages", tags=["voices"])


def whisper_languages() -> frozenset[str]:
    """The languages multilingual Whisper transcribes (its tokenizer's codes)."""
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    return frozenset(_LANGUAGE_CODES)


class Language(BaseModel):
    """One language and this server's support for it."""

    code: str = Field(description="ISO 639-1 (639-3 where there is none)")
    name: str
    speech_to_text: bool = Field(
        description="the built-in speech models hear it (English: Whisper tiny.en; others: "
        "Whisper base multilingual)"
    )
    voices: list[str] = Field(description="installed voices that speak it, best first")
    voice_quality: Literal["natural", "basic"] | None = Field(
        description="the best installed voice's quality; null: no voice (the agent cannot "
        "answer in it)"
    )
    turn_rules: Literal["full", "punctuation"] = Field(
        description="full: words for end of turn, backchannels, fillers and numbers; "
        "punctuation: question marks and sentence ends only"
    )
    native_lines: bool = Field(
        description="the agent's own lines (check-ins, goodbyes, fallbacks) are in this "
        "language (else English)"
    )


class LanguageList(BaseModel):
    """Every language Parley knows, those it can answer in first."""

    data: list[Language]


@router.get("", response_model=LanguageList, responses=error_responses(403, 503))
async def list_languages(state: State, _key: ApiKey) -> LanguageList:
    """Each language's speech-to-text, voices and turn rules on this server."""
    pool = state.ready_providers()
    voices = await installed_voices(pool)
    heard = whisper_languages() if pool.available(MULTILINGUAL_STT) else frozenset({"en"})
    data = []
    for code, name in NAMES.items():
        speaking = sorted(
            (v.voice for v in voices if code in v.voice.speaks()),
            key=lambda v: v.quality != "natural",
        )
        pack = pack_for(code)
        data.append(
            Language(
                code=code,
                name=name,
                speech_to_text=code in heard or code == "en",
                voices=[v.id for v in speaking],
                voice_quality=speaking[0].quality if speaking else None,
                turn_rules="full" if code in PACKS else "punctuation",
                native_lines=pack.native_lines,
            )
        )
    data.sort(key=lambda lang: (not lang.voices, lang.code != "en", lang.name))
    return LanguageList(data=data)
