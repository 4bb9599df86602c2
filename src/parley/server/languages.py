"""Which voices speak which languages, and the checks that keep an agent from starting
a conversation it cannot hear or speak (``validation_error``, never silence)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from parley.core.agent import AgentConfig
from parley.errors import ParleyError, ValidationError
from parley.languages import AUTO, base_code, is_language, language_name
from parley.providers.pool import MULTILINGUAL_STT, ProviderPool
from parley.providers.tts.base import TextToSpeech, Voice
from parley.providers.tts.router import VoiceRouter

log = logging.getLogger(__name__)

REMOTE_VOICES_HINT = "add a voice for it through a remote TTS provider (docs/voices.md)"


@dataclass(frozen=True, slots=True)
class InstalledVoice:
    """A voice and the TTS provider (``tts:<name>``) that speaks it."""

    provider: str
    voice: Voice


async def installed_voices(pool: ProviderPool) -> list[InstalledVoice]:
    """Every voice of every TTS provider, the default provider's first. A provider that
    cannot be loaded is left out (and logged), never an error."""
    specs = sorted(pool.names("tts"), key=lambda spec: spec != pool.defaults["tts"])
    found: list[InstalledVoice] = []
    for spec in specs:
        try:
            tts: TextToSpeech = await pool.load(spec)
        except ParleyError as exc:
            log.warning(
                "a TTS provider is unavailable", extra={"provider": spec, "error": str(exc)}
            )
            continue
        found.extend(InstalledVoice(spec, v) for v in tts.voices())
    return found


def default_voice(voices: list[InstalledVoice], language: str) -> InstalledVoice | None:
    """The voice a language gets unless the agent names one: a natural voice before a
    basic one, then the default provider's first."""
    speaking = [v for v in voices if language in v.voice.speaks()]
    return min(speaking, key=lambda v: v.voice.quality != "natural", default=None)


def check_language(code: str, param: str) -> str:
    """``code`` if it is ``auto`` or a known language (``es``, ``pt-BR``); 422 otherwise."""
    if code == AUTO or is_language(base_code(code)):
        return code
    raise ValidationError(
        f"{param}: unknown language {code!r}; use an ISO 639-1 code such as 'es' or 'auto' "
        "(docs/languages.md lists them)",
        param=param,
    )


async def check_agent_languages(
    pool: ProviderPool,
    language: str,
    voice_id: str,
    voices: Mapping[str, str],
    overrides: Mapping[str, Any] | None,
    *,
    param: str = "language",
) -> None:
    """422 unless an agent answering in ``language`` with its own ``voice_id`` and its
    per-language ``voices`` can work: each named voice exists and speaks its language, a
    fixed reply language has a voice, and a caller in another language can be heard (the
    multilingual speech model is installed, unless the agent names its own STT)."""
    check_language(language, param)
    installed = await installed_voices(pool)
    by_id = {v.voice.id: v for v in installed}
    for code, vid in voices.items():
        check_language(code, f"voices.{code}")
        if code == AUTO:
            raise ValidationError("voices: keys are languages, not 'auto'", param="voices")
        named = by_id.get(vid)
        if named is None:
            known = ", ".join(sorted(v.voice.id for v in installed if code in v.voice.speaks()))
            raise ValidationError(
                f"voices.{code}: unknown voice {vid!r}; voices for {language_name(code)}: "
                f"{known or 'none installed'}",
                param=f"voices.{code}",
            )
        if base_code(code) not in named.voice.speaks():
            raise ValidationError(
                f"voices.{code}: voice {vid!r} speaks {', '.join(named.voice.speaks())}, "
                f"not {language_name(base_code(code))}",
                param=f"voices.{code}",
            )
    if base_code(language) == "en" and language != AUTO:
        return
    if language != AUTO:
        code = base_code(language)
        own = by_id.get(voice_id)
        if (
            code not in voices
            and not (own is not None and code in own.voice.speaks())
            and default_voice(installed, code) is None
        ):
            raise ValidationError(
                f"{param}: no installed voice speaks {language_name(code)} ({code}); "
                + REMOTE_VOICES_HINT,
                param=param,
            )
    if not (overrides or {}).get("stt") and not pool.available(MULTILINGUAL_STT):
        raise ValidationError(
            f"{param}: {language!r} needs the multilingual speech model ({MULTILINGUAL_STT}), "
            "which is not installed: reinstall Parley (pip install -e .), or answer in 'en'",
            param=param,
        )


async def session_voices(
    pool: ProviderPool, config: AgentConfig, own_voices: Mapping[str, str], tts_spec: str
) -> tuple[dict[str, str], TextToSpeech]:
    """The voice of each language a conversation of ``config`` may answer in (beyond its
    own ``voice_id``'s), and the TTS that speaks them all: the agent's provider
    ``tts_spec``, joined by those of voices from other providers."""
    installed = await installed_voices(pool)
    if config.language == AUTO:
        languages = {code for v in installed for code in v.voice.speaks()}
    else:
        languages = {base_code(config.language)}
    own = next((v for v in installed if v.voice.id == config.voice_id), None)
    chosen: dict[str, InstalledVoice] = {}
    for code in sorted(languages | set(own_voices)):
        named = next((v for v in installed if v.voice.id == own_voices.get(code)), None)
        if named is None and own is not None and code in own.voice.speaks():
            continue  # the agent's own voice speaks it
        named = named or default_voice(installed, code)
        if named is not None:
            chosen[code] = named
    voices = {code: v.voice.id for code, v in chosen.items()}
    tts: TextToSpeech = await pool.load(tts_spec)
    used = [*chosen.values(), *([own] if own is not None else [])]
    others = sorted({v.provider for v in used} - {tts_spec})
    if not others:
        return voices, tts
    return voices, VoiceRouter([tts, *[await pool.load(spec) for spec in others]])
