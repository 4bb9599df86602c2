"""The provider pool: named providers (``kind:name``), each loaded once, on first use,
and shared by every session of the process.

The built-in providers always exist; the operator's providers file adds more
(:mod:`parley.providers.catalog`) and may change the defaults. A session takes the
ones its agent names (``provider_overrides``) and the pool's defaults for the rest.
Loading runs in a worker thread, so a session that needs a provider nobody has used yet
never blocks the event loop, and two sessions asking at once load it once.
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
from parley.providers.catalog import (
    LocalGGUF,
    ProviderInfo,
    ProvidersFileError,
    RemoteLLM,
    RemoteSTT,
    RemoteTTS,
    read_catalog,
)
from parley.providers.llm.base import LanguageModel
from parley.providers.llm.qwen_weights import qwen_path
from parley.providers.remote import Endpoint, reachable
from parley.providers.search import SearchSettings, WebSearch, make_web_search
from parley.providers.stt.base import SpeechToText
from parley.providers.tts.base import TextToSpeech
from parley.providers.turn.base import TurnModel
from parley.providers.vad.base import VADFactory

log = logging.getLogger(__name__)

KINDS = ("stt", "llm", "tts", "vad", "turn")
OPTIONAL_KINDS = frozenset({"turn"})
"""Kinds a pool may have no provider of (no end-of-turn model: turns end by silence)."""
MULTILINGUAL_STT = "stt:whisper-multilingual"
"""The speech model of agents that hear more than English (unless they name their own)."""
REACHABLE_TTL_S = 10.0
"""How long the answer of a remote provider's reachability check is reused."""
Loader = Callable[[Settings], Any]


def _whisper(s: Settings) -> SpeechToText:
    from parley.providers.stt.whisper_local import WhisperSTT

    return WhisperSTT(
        threads=s.models.stt_threads,
        beam_size=s.models.stt_beam_size,
        short_window=s.models.stt_short_window,
    )


def _whisper_multilingual(s: Settings) -> SpeechToText:
    from parley.providers.stt.whisper_local import WhisperSTT
    from parley.providers.stt.whisper_multilingual import multilingual_model_dir

    return WhisperSTT(
        multilingual_model_dir(s.resolved_models_dir()),
        threads=s.models.stt_threads,
        beam_size=s.models.stt_beam_size,
        short_window=s.models.stt_short_window,
    )


def _llama(s: Settings) -> LanguageModel:
    from parley.providers.llm.llama_local import LlamaCppLLM

    m = s.models
    return LlamaCppLLM(
        qwen_path(s.resolved_models_dir()),
        threads=m.llm_threads,
        context=m.llm_context_tokens,
        parallel=m.llm_parallel,
        cache_mib=m.llm_cache_mib,
    )


def _piper(s: Settings) -> TextToSpeech:
    from parley.providers.tts.piper_local import PiperTTS

    return PiperTTS(threads=s.models.tts_threads)


def _espeak(s: Settings) -> TextToSpeech:
    from parley.providers.tts.espeak_local import EspeakTTS

    return EspeakTTS()


def _silero(s: Settings) -> VADFactory:
    from parley.providers.vad.silero import SileroModel

    return SileroModel().detector


def _smart_turn(s: Settings) -> TurnModel:
    from parley.providers.turn.smart_turn import SmartTurn

    return SmartTurn()


BUILT_IN: dict[str, Loader] = {
    "stt:whisper-local": _whisper,
    "stt:whisper-multilingual": _whisper_multilingual,
    "llm:llama-local": _llama,
    "tts:piper-local": _piper,
    "tts:espeak-ng": _espeak,
    "vad:silero": _silero,
    "turn:smart-turn": _smart_turn,
}
"""The providers every server has, by ``kind:name``."""

BUILT_IN_INFO: dict[str, ProviderInfo] = {
    "stt:whisper-local": ProviderInfo("stt:whisper-local", "stt", "local", "Whisper tiny.en int8"),
    "stt:whisper-multilingual": ProviderInfo(
        "stt:whisper-multilingual", "stt", "local", "Whisper base multilingual int8"
    ),
    "llm:llama-local": ProviderInfo(
        "llm:llama-local", "llm", "local", "Qwen2.5-Coder-0.5B-Instruct Q4_K_M"
    ),
    "tts:piper-local": ProviderInfo("tts:piper-local", "tts", "local", "Piper en_US joe medium"),
    "tts:espeak-ng": ProviderInfo(
        "tts:espeak-ng", "tts", "local", "eSpeak NG (Debian), basic voices in many languages"
    ),
    "vad:silero": ProviderInfo("vad:silero", "vad", "local", "Silero VAD v6"),
    "turn:smart-turn": ProviderInfo(
        "turn:smart-turn", "turn", "local", "Smart Turn v3.2 end-of-turn model"
    ),
}

DEFAULTS: dict[str, str] = {
    "stt": "stt:whisper-local",
    "llm": "llm:llama-local",
    "tts": "tts:piper-local",
    "vad": "vad:silero",
    "turn": "turn:smart-turn",
}
"""The provider of each kind a session uses unless its agent names another."""


@dataclass(frozen=True, slots=True)
class SessionProviders:
    """The providers one session uses."""

    stt: SpeechToText
    llm: LanguageModel
    tts: TextToSpeech
    vad_factory: VADFactory
    turn: TurnModel | None = None


class ProviderPool:
    """Named providers of one process, loaded lazily and shared."""

    def __init__(
        self,
        settings: Settings,
        loaders: dict[str, Loader] | None = None,
        defaults: dict[str, str] | None = None,
        infos: dict[str, ProviderInfo] | None = None,
        search: dict[str, SearchSettings] | None = None,
    ) -> None:
        self._settings = settings
        self.search = dict(search or {})
        """Web search providers of the providers file, by name."""
        self._web: dict[str, WebSearch] = {}
        self._loaders = dict(BUILT_IN if loaders is None else loaders)
        self.defaults = dict(DEFAULTS if defaults is None else defaults)
        self._infos = {
            name: (infos or {}).get(name) or BUILT_IN_INFO.get(name)
            or ProviderInfo(name, name.split(":")[0], "local", name)
            for name in self._loaders
        }  # fmt: skip
        self._loaded: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._reachable: dict[str, tuple[float, bool]] = {}
        self.load_seconds: dict[str, float] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> ProviderPool:
        """The built-in providers plus those of the operator's providers file (if any).
        Raises :class:`ProvidersFileError` for a file that cannot be used."""
        if settings.providers_file is None:
            return cls(settings)
        catalog = read_catalog(settings.providers_file, _loader)
        clashes = sorted(set(catalog.loaders) & set(BUILT_IN))
        if clashes:
            raise ProvidersFileError(
                f"providers file {settings.providers_file}: {', '.join(clashes)} is built in; "
                "give your provider another name"
            )
        loaders = {**BUILT_IN, **catalog.loaders}
        defaults = {**DEFAULTS, **catalog.defaults}
        for kind, spec in catalog.defaults.items():
            if spec not in loaders:
                known = sorted(n for n in loaders if n.startswith(f"{kind}:"))
                raise ProvidersFileError(
                    f"providers file {settings.providers_file} ([defaults]): {kind}: "
                    f"unknown provider {spec!r}; known: {known}"
                )
        return cls(settings, loaders, defaults, catalog.infos, catalog.search)

    def web_search(self, name: str = "default") -> WebSearch | None:
        """The client of search provider ``name`` (made once), or None if there is none."""
        if name not in self.search:
            return None
        if name not in self._web:
            self._web[name] = make_web_search(name, self.search[name])
        return self._web[name]

    def infos(self) -> list[ProviderInfo]:
        """What may be shown of every provider, by name."""
        return [self._infos[name] for name in self.names()]

    async def reachable(self, spec: str) -> bool:
        """True if ``spec`` can be used: a local provider always, a remote one if its
        server answers (remembered for ``REACHABLE_TTL_S``)."""
        info = self._infos[spec]
        if info.local or info.base_url is None:
            return True
        checked = self._reachable.get(spec)
        if checked is not None and time.monotonic() - checked[0] < REACHABLE_TTL_S:
            return checked[1]
        answer = await reachable(info.base_url)
        self._reachable[spec] = (time.monotonic(), answer)
        return answer

    # ------------------------------------------------------------ names

    def names(self, kind: str | None = None) -> list[str]:
        """Every provider name (of one ``kind``), sorted."""
        return sorted(n for n in self._loaders if kind is None or n.startswith(f"{kind}:"))

    def check(self, spec: str, kind: str) -> None:
        """Raise :class:`ValidationError` unless ``spec`` names a provider of ``kind``."""
        if spec not in self.names(kind):
            raise ValidationError(f"unknown {kind} provider {spec!r}; known: {self.names(kind)}")

    def available(self, spec: str) -> bool:
        """False for a built-in local model whose packages are not installed (checked
        without loading it); True otherwise."""
        if spec == MULTILINGUAL_STT and spec in self._loaders and spec not in self._loaded:
            from parley.providers.stt.whisper_multilingual import multilingual_installed

            return multilingual_installed()
        return spec in self._loaders

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
        for spec in specs if specs is not None else [self.defaults[k] for k in self._kinds()]:
            await self.load(spec)

    def _kinds(self) -> list[str]:
        return [k for k in KINDS if k in self.defaults or k not in OPTIONAL_KINDS]

    async def for_session(
        self, overrides: dict[str, Any] | None = None, *, multilingual: bool = False
    ) -> SessionProviders:
        """The providers of a session whose agent names ``overrides`` (``{"llm":
        "llm:..."}``; kinds it does not name get the defaults). A ``multilingual`` agent
        (one that hears more than English) gets the multilingual speech model unless it
        names its own, or the operator made another one the default."""
        chosen = {k: str((overrides or {}).get(k) or self.defaults[k]) for k in self._kinds()}
        if multilingual and not (overrides or {}).get("stt") and chosen["stt"] == DEFAULTS["stt"]:
            chosen["stt"] = MULTILINGUAL_STT
        for kind, spec in chosen.items():
            self.check(spec, kind)
        loaded = {kind: await self.load(spec) for kind, spec in chosen.items()}
        return SessionProviders(
            loaded["stt"], loaded["llm"], loaded["tts"], loaded["vad"], loaded.get("turn")
        )

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


def _loader(spec: str, entry: Any, api_key: str | None) -> Loader:
    """The loader of one provider of the providers file."""

    def load(settings: Settings) -> Any:
        if isinstance(entry, LocalGGUF):
            from parley.providers.llm.llama_local import LlamaCppLLM

            return LlamaCppLLM(
                entry.path,
                threads=entry.threads,
                context=entry.context,
                parallel=entry.parallel,
                cache_mib=settings.models.llm_cache_mib,
            )
        remote = Endpoint(
            str(entry.base_url), entry.model, api_key, entry.timeout_s, entry.max_retries
        )
        if isinstance(entry, RemoteLLM):
            from parley.providers.llm.openai_remote import OpenAICompatibleLLM

            return OpenAICompatibleLLM(spec, remote, tools=entry.tools)
        if isinstance(entry, RemoteSTT):
            from parley.providers.stt.openai_remote import OpenAICompatibleSTT

            return OpenAICompatibleSTT(spec, remote, response_format=entry.response_format)
        assert isinstance(entry, RemoteTTS)
        from parley.providers.tts.openai_remote import OpenAICompatibleTTS

        return OpenAICompatibleTTS(
            spec,
            remote,
            voices=entry.voices,
            language=entry.language,
            response_format=entry.response_format,
            sample_rate=entry.sample_rate,
        )

    return load
