"""The operator's providers file: named STT, LLM and TTS providers beside the built-in ones.

A TOML file (``parley serve --providers FILE`` or ``PARLEY_PROVIDERS_FILE``) with one
table per provider, ``[<kind>.<name>]``, and optionally ``[defaults]`` naming the
provider each kind uses when an agent names none::

    [llm.big]
    type = "openai"                  # any OpenAI-compatible /v1/chat/completions server
    base_url = "http://127.0.0.1:8080/v1"
    model = "qwen2.5-7b-instruct"
    api_key_env = "BIG_LLM_KEY"      # secrets come from the environment only
    timeout_s = 15

    [defaults]
    llm = "llm:big"

Secrets are read from the environment when the file is read (a missing variable stops
the server at start) and never stored, logged or returned. Every problem is reported
with the file, the line and the setting.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import pydantic
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from parley.config import Settings, environment_secret
from parley.providers.search import SearchSettings, search_providers

Kind = Literal["stt", "llm", "tts"]
KINDS: tuple[Kind, ...] = ("stt", "llm", "tts")
Loader = Callable[[Settings], Any]
_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_ENV = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"


class ProvidersFileError(ValueError):
    """The providers file cannot be used; the message says where and why."""


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Remote(_Entry):
    """What every OpenAI-compatible remote provider takes."""

    type: Literal["openai"]
    base_url: HttpUrl = Field(description="the server's API root, e.g. http://host:8080/v1")
    model: Annotated[str, Field(min_length=1, max_length=200)]
    api_key_env: Annotated[str, Field(pattern=_ENV)] | None = None
    timeout_s: Annotated[float, Field(gt=0, le=600)] = 30.0
    max_retries: Annotated[int, Field(ge=0, le=5)] = 2


class RemoteLLM(_Remote):
    """An OpenAI-compatible ``/chat/completions`` server (vLLM, Ollama, llama.cpp, ...)."""

    tools: Literal["native", "prompt"] = Field(
        "native",
        description="native: the server's tool calling; prompt: tools described in the "
        "system prompt and calls read from the text (servers or models without it)",
    )


class LocalGGUF(_Entry):
    """A GGUF file run in this process by llama.cpp."""

    type: Literal["gguf"]
    path: Path
    threads: Annotated[int, Field(ge=1, le=256)] = 2
    context: Annotated[int, Field(ge=256, le=1_048_576)] = 2048
    parallel: Annotated[int, Field(ge=1, le=64)] = 1


class RemoteSTT(_Remote):
    """An OpenAI-compatible ``/audio/transcriptions`` server."""

    response_format: Literal["verbose_json", "json"] = Field(
        "verbose_json", description="verbose_json also gives the detected language"
    )


class RemoteTTS(_Remote):
    """An OpenAI-compatible ``/audio/speech`` server."""

    voices: Annotated[list[Annotated[str, Field(pattern=_NAME)]], Field(min_length=1)] = Field(
        description="the server's voices agents may use"
    )
    language: Annotated[str, Field(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")] = "en"
    response_format: Literal["pcm", "wav"] = Field(
        "pcm", description="pcm: raw PCM16 mono at sample_rate (OpenAI: 24000 Hz)"
    )
    sample_rate: Annotated[int, Field(ge=8000, le=48000)] = 24_000


_TYPES: dict[Kind, Any] = {
    "llm": Annotated[RemoteLLM | LocalGGUF, Field(discriminator="type")],
    "stt": RemoteSTT,
    "tts": RemoteTTS,
}


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """What may be shown of a provider (never its secrets)."""

    name: str
    kind: str
    type: str
    model: str
    base_url: str | None = None
    local: bool = True


@dataclass
class Catalog:
    """The providers of a file: their loaders, what to show of them, new defaults."""

    loaders: dict[str, Loader] = field(default_factory=dict)
    infos: dict[str, ProviderInfo] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)
    search: dict[str, SearchSettings] = field(default_factory=dict)
    """Web search providers (``[search.<name>]``), see :mod:`parley.providers.search`."""


def _shown_url(url: str) -> str:
    """``url`` without credentials (user:password@)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


class _Locator:
    """Finds the line of a table or a setting in the file's text."""

    def __init__(self, path: Path, text: str) -> None:
        self.path, self.lines = path, text.splitlines()

    def line(self, kind: str, name: str | None = None, key: str | None = None) -> int | None:
        kind_re = re.escape(kind)
        table = (
            rf"{kind_re}(\s*\..*)?"
            if name is None
            else rf"{kind_re}\s*\.\s*\"?{re.escape(name)}\"?"
        )
        start = next(
            (i for i, ln in enumerate(self.lines) if re.match(rf"^\s*\[\s*{table}\s*\]", ln)),
            None,
        )
        if start is None or key is None:
            return None if start is None else start + 1
        for i in range(start + 1, len(self.lines)):
            if re.match(r"^\s*\[", self.lines[i]):
                break
            if re.match(rf"^\s*\"?{re.escape(key)}\"?\s*=", self.lines[i]):
                return i + 1
        return start + 1

    def error(
        self, message: str, kind: str, name: str | None = None, key: str | None = None
    ) -> ProvidersFileError:
        where = self.line(kind, name, key)
        table = f"[{kind}.{name}]" if name else f"[{kind}]"
        at = f", line {where}" if where else ""
        return ProvidersFileError(f"providers file {self.path}{at} ({table}): {message}")


def read_catalog(path: Path, make_loader: Callable[[str, Any, str | None], Loader]) -> Catalog:
    """Read the providers file at ``path``. ``make_loader(name, entry, api_key)`` makes
    the loader of one provider. Raises :class:`ProvidersFileError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProvidersFileError(f"providers file {path}: cannot be read: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProvidersFileError(f"providers file {path}: not valid TOML: {exc}") from None
    where = _Locator(path, text)
    catalog = Catalog()
    for kind, tables in data.items():
        if kind == "defaults":
            continue
        if kind == "search":
            catalog.search = _read_search(where, tables)
            continue
        if kind not in KINDS:
            kinds = ", ".join((*KINDS, "search"))
            raise where.error(f"unknown kind {kind!r}; kinds: {kinds}", kind)
        if not isinstance(tables, dict):
            raise where.error("expected tables such as [llm.my-model]", kind)
        for name, raw in tables.items():
            _add(catalog, where, kind, name, raw, make_loader)
    _read_defaults(catalog, where, data.get("defaults", {}))
    return catalog


def _add(
    catalog: Catalog,
    where: _Locator,
    kind: Kind,
    name: str,
    raw: Any,
    make_loader: Callable[[str, Any, str | None], Loader],
) -> None:
    if not re.match(_NAME, name):
        raise where.error("a provider's name is letters, digits, '.', '_' and '-'", kind, name)
    if not isinstance(raw, dict):
        raise where.error("expected a table of settings", kind, name)
    try:
        entry = pydantic.TypeAdapter(_TYPES[kind]).validate_python(raw)
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        key = next((str(p) for p in err["loc"] if isinstance(p, str) and p in raw), None)
        path = ".".join(str(p) for p in err["loc"] if str(p) not in ("openai", "gguf"))
        raise where.error(f"{path or 'type'}: {err['msg']}", kind, name, key) from None
    api_key = None
    if getattr(entry, "api_key_env", None):
        api_key = environment_secret(entry.api_key_env)
        if api_key is None:
            message = f"api_key_env: the environment variable {entry.api_key_env} is not set"
            raise where.error(message, kind, name, "api_key_env")
    spec = f"{kind}:{name}"
    if isinstance(entry, LocalGGUF) and not entry.path.is_file():
        raise where.error(f"path: no GGUF file at {entry.path}", kind, name, "path")
    catalog.loaders[spec] = make_loader(spec, entry, api_key)
    if isinstance(entry, _Remote):
        info = ProviderInfo(
            spec, kind, entry.type, entry.model, _shown_url(str(entry.base_url)), False
        )
    else:
        info = ProviderInfo(spec, kind, entry.type, entry.path.name)
    catalog.infos[spec] = info


def _read_search(where: _Locator, tables: Any) -> dict[str, SearchSettings]:
    """The ``[search.<name>]`` tables."""
    if not isinstance(tables, dict):
        raise where.error("expected tables such as [search.default]", "search")
    try:
        return search_providers(tables)
    except ValueError as exc:
        path, _, message = str(exc).partition(": ")
        parts = path.split(".")  # search, name, key...
        name = parts[1] if len(parts) > 1 else None
        key = parts[2] if len(parts) > 2 else None
        shown = f"{'.'.join(parts[2:])}: {message}" if key else message
        raise where.error(shown, "search", name, key) from None


def _read_defaults(catalog: Catalog, where: _Locator, raw: Any) -> None:
    if not isinstance(raw, Mapping):
        raise where.error('expected settings such as llm = "llm:big"', "defaults")
    for kind, spec in raw.items():
        if kind not in (*KINDS, "vad"):
            raise where.error(f"unknown kind {kind!r}", "defaults", None, kind)
        if not isinstance(spec, str) or not spec.startswith(f"{kind}:"):
            raise where.error(
                f'{kind}: expected a name such as "{kind}:my-model"', "defaults", None, kind
            )
        catalog.defaults[kind] = spec
