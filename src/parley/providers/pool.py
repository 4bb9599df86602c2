"""The provider pool: named providers (``kind:name``), each loaded once, on first use,
and shared by every session of the process.

The built-in providers always exist; a session takes the ones its agent names
(``provider_overrides``) and the pool's defaults for the rest. Loading runs in a worker
thread, so a session that needs a provider nobody has used yet never blocks the event
loop, and two sessions asking at once load it once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from parley.config import Settings
from parley.errors import ValidationError
from parley.providers.llm.base import LanguageModel
from parley.providers.stt.base import SpeechToText
from parley.providers.tts.base import TextToSpeech
from parley.providers.vad.base import VADFactory

log = logging.getLogger(__name__)

KINDS = ("stt", "llm", "tts", "vad")
Loader = Callable[[Settings], Any]


def _whisper(s: Settings) -> SpeechToText:
    from parley.providers.stt.whisper_local import WhisperSTT

    return WhisperSTT(
        threads=s.models.stt_threads,
        beam_size=s.models.stt_beam_size,
        short_window=s.models.stt_short_window,
    )


def _llama(s: Settings) -> LanguageModel:
    from parley.providers.llm.llama_local import LlamaCppLLM

    m = s.models
    return LlamaCppLLM(
        threads=m.llm_threads,
        context=m.llm_context_tokens,
        parallel=m.llm_parallel,
        cache_mib=m.llm_cache_mib,
    )


def _piper(s: Settings) -> TextToSpeech:
    from parley.providers.tts.piper_local import PiperTTS

    return PiperTTS(threads=s.models.tts_threads)


def _silero(s: Settings) -> VADFactory:
    from parley.providers.vad.silero import SileroModel

    return SileroModel().detector


BUILT_IN: dict[str, Loader] = {
    "stt:whisper-local": _whisper,
    "llm:llama-local": _llama,
    "tts:piper-local": _piper,
    "vad:silero": _silero,
}
"""The providers every server has, by ``kind:name``."""

DEFAULTS: dict[str, str] = {
    "stt": "stt:whisper-local",
    "llm": "llm:llama-local",
    "tts": "tts:piper-local",
    "vad": "vad:silero",
}
"""The provider of each kind a session uses unless its agent names another."""


@dataclass(frozen=True, slots=True)
class SessionProviders:
    """The providers one session uses."""

    stt: SpeechToText
    llm: LanguageModel
    tts: TextToSpeech
    vad_factory: VADFactory


class ProviderPool:
    """Named providers of one process, loaded lazily and shared."""

    def __init__(
        self,
        settings: Settings,
        loaders: dict[str, Loader] | None = None,
        defaults: dict[str, str] | None = None,
    ) -> None:
        self._settings = settings
        self._loaders = dict(BUILT_IN if loaders is None else loaders)
        self.defaults = dict(DEFAULTS if defaults is None else defaults)
        self._loaded: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.load_seconds: dict[str, float] = {}

    # ------------------------------------------------------------ names

    def names(self, kind: str | None = None) -> list[str]:
        """Every provider name (of one ``kind``), sorted."""
        return sorted(n for n in self._loaders if kind is None or n.startswith(f"{kind}:"))

    def check(self, spec: str, kind: str) -> None:
        """Raise :class:`ValidationError` unless ``spec`` names a provider of ``kind``."""
        if spec not in self.names(kind):
            raise ValidationError(f"unknown {kind} provider {spec!r}; known: {self.names(kind)}")

    def is_loaded(self, spec: str) -> bool:
        """True once ``spec`` was loaded."""
        return spec in self._loaded

    # ------------------------------------------------------------ loading

    def get(self, spec: str) -> Any:
        """The provider ``spec``, loading it now if needed (blocking: call from a thread,
        or use :meth:`load`)."""
        if spec in self._loaded:
            return self._loaded[spec]
        try:
            loader = self._loaders[spec]
        except KeyError:
            raise ValidationError(f"unknown provider {spec!r}; known: {self.names()}") from None
        with self._lock:
            if spec not in self._loaded:
                t0 = time.perf_counter()
                self._loaded[spec] = loader(self._settings)
                self.load_seconds[spec] = round(time.perf_counter() - t0, 3)
                log.info(
                    "model loaded", extra={"provider": spec, "seconds": self.load_seconds[spec]}
                )
        return self._loaded[spec]

    async def load(self, spec: str) -> Any:
        """The provider ``spec``; a first use loads it in a worker thread."""
        if spec in self._loaded:
            return self._loaded[spec]
        return await asyncio.to_thread(self.get, spec)

    async def preload(self, specs: Iterable[str] | None = None) -> None:
        """Load ``specs`` (default: the default of every kind) now, in order."""
        for spec in specs if specs is not None else [self.defaults[k] for k in KINDS]:
            await self.load(spec)

    async def for_session(self, overrides: dict[str, Any] | None = None) -> SessionProviders:
        """The providers of a session whose agent names ``overrides`` (``{"llm":
        "llm:..."}``; kinds it does not name get the defaults)."""
        chosen = {k: str((overrides or {}).get(k) or self.defaults[k]) for k in KINDS}
        for kind, spec in chosen.items():
            self.check(spec, kind)
        loaded = {kind: await self.load(spec) for kind, spec in chosen.items()}
        return SessionProviders(loaded["stt"], loaded["llm"], loaded["tts"], loaded["vad"])

    # ------------------------------------------------------------ defaults

    @property
    def stt(self) -> SpeechToText:
        """The default STT (loaded)."""
        stt: SpeechToText = self._loaded[self.defaults["stt"]]
        return stt

    @property
    def llm(self) -> LanguageModel:
        """The default LLM (loaded)."""
        llm: LanguageModel = self._loaded[self.defaults["llm"]]
        return llm

    @property
    def tts(self) -> TextToSpeech:
        """The default TTS (loaded)."""
        tts: TextToSpeech = self._loaded[self.defaults["tts"]]
        return tts

    @property
    def vad_factory(self) -> VADFactory:
        """Makes the default VAD's per-session detectors."""
        factory: VADFactory = self._loaded[self.defaults["vad"]]
        return factory

    def close(self) -> None:
        """Release every loaded provider's threads."""
        for provider in self._loaded.values():
            close = getattr(provider, "close", None)
            if close is not None:
                close()
