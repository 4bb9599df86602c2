"""Provider registry: ``kind:name`` → loader, and the loaded bundle shared by sessions."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from parley.config import Settings
from parley.errors import ValidationError
from parley.providers.llm.base import LanguageModel
from parley.providers.stt.base import SpeechToText
from parley.providers.tts.base import TextToSpeech
from parley.providers.vad.base import VADFactory

log = logging.getLogger(__name__)


def _whisper(s: Settings) -> SpeechToText:
    from parley.providers.stt.whisper_local import WhisperSTT

    return WhisperSTT(
        threads=s.models.stt_threads,
        beam_size=s.models.stt_beam_size,
        short_window=s.models.stt_short_window,
    )


def _llama(s: Settings) -> LanguageModel:
    from parley.providers.llm.llama_local import LlamaCppLLM

    return LlamaCppLLM(threads=s.models.llm_threads, context=s.models.llm_context_tokens)


def _piper(s: Settings) -> TextToSpeech:
    from parley.providers.tts.piper_local import PiperTTS

    return PiperTTS(threads=s.models.tts_threads)


def _silero(s: Settings) -> VADFactory:
    from parley.providers.vad.silero import SileroModel

    return SileroModel().detector


REGISTRY: dict[str, Callable[[Settings], Any]] = {
    "stt:whisper-local": _whisper,
    "llm:llama-local": _llama,
    "tts:piper-local": _piper,
    "vad:silero": _silero,
}


@dataclass
class Providers:
    """The models of one process, loaded once and shared by every session."""

    stt: SpeechToText
    llm: LanguageModel
    tts: TextToSpeech
    vad_factory: VADFactory
    load_seconds: dict[str, float] = field(default_factory=dict)

    def close(self) -> None:
        """Release model threads."""
        for p in (self.stt, self.llm, self.tts):
            p.close()


def load(spec: str, settings: Settings) -> Any:
    """Load one provider by its ``kind:name``."""
    try:
        loader = REGISTRY[spec]
    except KeyError:
        raise ValidationError(f"unknown provider {spec!r}; known: {sorted(REGISTRY)}") from None
    return loader(settings)


def load_providers(
    settings: Settings,
    stt: str = "stt:whisper-local",
    llm: str = "llm:llama-local",
    tts: str = "tts:piper-local",
    vad: str = "vad:silero",
) -> Providers:
    """Load the configured providers, logging what was loaded and how long it took."""
    loaded: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    for spec in (vad, stt, llm, tts):
        t0 = time.perf_counter()
        loaded[spec.split(":")[0]] = load(spec, settings)
        seconds[spec] = round(time.perf_counter() - t0, 3)
        log.info("model loaded", extra={"provider": spec, "seconds": seconds[spec]})
    return Providers(loaded["stt"], loaded["llm"], loaded["tts"], loaded["vad"], seconds)
