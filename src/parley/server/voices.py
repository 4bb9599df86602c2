"""Voices: the installed TTS voices of every provider, by language, and a WAV preview
of each."""

from __future__ import annotations

import logging
import unicodedata
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from parley.audio.wav import wav_bytes
from parley.errors import NotFoundError, ValidationError
from parley.languages import base_code, is_language
from parley.providers.pool import ProviderPool
from parley.providers.tts.base import TextToSpeech, VoiceQuality
from parley.providers.tts.base import Voice as ProviderVoice
from parley.server.auth import ApiKey, State
from parley.server.errors import error_responses

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/voices", tags=["voices"])

DEFAULT_PREVIEW = "Hello! This is how I sound."
PREVIEW_TEXTS: dict[str, str] = {
    "en": DEFAULT_PREVIEW,
    "es": "¡Hola! Así suena mi voz.",
    "fr": "Bonjour ! Voici ma voix.",
    "de": "Hallo! So klingt meine Stimme.",
    "it": "Ciao! Ecco come suona la mia voce.",
    "pt": "Olá! É assim que a minha voz soa.",
    "nl": "Hallo! Zo klinkt mijn stem.",
    "pl": "Cześć! Tak brzmi mój głos.",
    "ru": "Привет! Так звучит мой голос.",
    "uk": "Привіт! Так звучить мій голос.",
    "am": "ሰላም! ድምፄ ይህን ይመስላል።",
    "om": "Akkam! Sagaleen koo akkana dhaga'ama.",
    "sw": "Habari! Hivi ndivyo sauti yangu inavyosikika.",
    "ar": "مرحبا! هكذا يبدو صوتي.",
    "hi": "नमस्ते! मेरी आवाज़ ऐसी लगती है।",
    "tr": "Merhaba! Sesim böyle duyuluyor.",
    "sv": "Hej! Så här låter min röst.",
    "da": "Hej! Sådan lyder min stemme.",
    "no": "Hei! Slik høres stemmen min ut.",
    "fi": "Hei! Tältä ääneni kuulostaa.",
    "cs": "Ahoj! Takhle zní můj hlas.",
    "ro": "Bună! Așa sună vocea mea.",
    "hu": "Helló! Így szól a hangom.",
    "el": "Γεια σας! Έτσι ακούγεται η φωνή μου.",
    "he": "שלום! כך נשמע הקול שלי.",
    "id": "Halo! Beginilah suara saya.",
    "ms": "Helo! Beginilah bunyi suara saya.",
    "vi": "Xin chào! Giọng của tôi nghe như thế này.",
    "ca": "Hola! Així sona la meva veu.",
    "ko": "안녕하세요! 제 목소리는 이렇게 들려요.",
}
"""What a preview says by default, by the voice's (first) language; English otherwise."""


class Voice(BaseModel):
    """A voice agents may use, with the TTS provider that speaks it."""

    id: str = Field(description="the agent's voice_id")
    name: str
    language: str = Field(
        description="the voice's own language or locale as its provider names it "
        "(`en-us`, `es`, `pt-br`)"
    )
    languages: list[str] = Field(
        description="the language codes (ISO 639-1, or 639-3 where 639-1 has none) it speaks"
    )
    quality: VoiceQuality = Field(
        description="`natural`: a neural voice; `basic`: intelligible but robotic (eSpeak NG)"
    )
    sample_rate: int = Field(description="the rate (Hz) the provider synthesizes at")
    provider: str = Field(description="the TTS provider (an agent's provider_overrides.tts)")


class VoiceList(BaseModel):
    """Installed voices, those of the default TTS provider first."""

    data: list[Voice]


def spoken_text(text: str, param: str) -> str:
    """``text`` with control characters as spaces; 422 when nothing is left to say."""
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Cs") else c for c in text)
    if not text.strip():
        raise ValidationError(f"{param}: must contain something to say", param=param)
    return text


def preview_text(voice: ProviderVoice) -> str:
    """The default preview sentence in the voice's language (English when there is none)."""
    return next((PREVIEW_TEXTS[c] for c in voice.speaks() if c in PREVIEW_TEXTS), DEFAULT_PREVIEW)


async def tts_providers(pool: ProviderPool) -> list[tuple[str, TextToSpeech]]:
    """Every TTS provider that loads, the default first; one that fails is logged and
    left out."""
    specs = sorted(pool.names("tts"), key=lambda spec: spec != pool.defaults["tts"])
    loaded = []
    for spec in specs:
        try:
            loaded.append((spec, await pool.load(spec)))
        except Exception:
            log.warning(
                "TTS provider left out of the voices", exc_info=True, extra={"provider": spec}
            )
    return loaded


LanguageQuery = Annotated[
    str | None,
    Query(
        max_length=35,
        description="only voices that speak this language code (`es`; a locale such as "
        "`es-MX` counts as its language)",
    ),
]


@router.get("", response_model=VoiceList, responses=error_responses(403, 503))
async def list_voices(state: State, _key: ApiKey, language: LanguageQuery = None) -> VoiceList:
    """The voices agents may use (``voice_id``), of every TTS provider (the default's
    first), optionally only those that speak ``language``."""
    code = None
    if language is not None:
        code = base_code(language)
        if not is_language(code):
            raise ValidationError(f"language: unknown language code {language!r}", param="language")
    data = []
    for spec, tts in await tts_providers(state.ready_providers()):
        for v in tts.voices():
            speaks = list(v.speaks())
            if code is None or code in speaks:
                data.append(
                    Voice(
                        id=v.id, name=v.name, language=v.language, languages=speaks,
                        quality=v.quality, sample_rate=v.sample_rate, provider=spec,
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
    text: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=500,
            pattern=r"[^\s\x00-\x1f\x7f]",
            description="what to say (default: a short sentence in the voice's language)",
        ),
    ] = None,
) -> Response:
    """Speak ``text`` with the voice (of any TTS provider; the default's first when two
    have the same id) and return it as WAV."""
    for _spec, tts in await tts_providers(state.ready_providers()):
        voice = next((v for v in tts.voices() if v.id == voice_id), None)
        if voice is not None:
            break
    else:
        raise NotFoundError(f"voice {voice_id!r} not found", param="voice_id")
    said = spoken_text(text, "text") if text is not None else preview_text(voice)
    pcm = b"".join([chunk async for chunk in tts.synthesize(said, voice_id=voice.id)])
    return Response(wav_bytes(pcm, voice.sample_rate), media_type="audio/wav")
