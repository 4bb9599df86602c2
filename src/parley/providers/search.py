"""Web search for agents: the search providers of the providers file and their clients.

The operator names search providers in the providers file, one ``[search.<name>]`` table
each; an agent with ``web_search: true`` uses ``[search.default]``::

    [search.default]
    type = "searxng"                     # a SearXNG (or searx) instance
    base_url = "http://127.0.0.1:8888"   # its JSON API must be on: search.formats: [html, json]
    timeout_s = 5

    [search.brave]
    type = "brave"                       # the Brave Search API
    api_key_env = "BRAVE_API_KEY"

    [search.tavily]
    type = "tavily"                      # the Tavily search API
    api_key_env = "TAVILY_API_KEY"

API keys come from the environment only: the variable must be set when the file is read,
and its value is read again when a client is made. Every client answers
:meth:`WebSearch.search` with a list of :class:`SearchResult` (title, url, snippet) or
raises :class:`SearchFailed` with a message that names the provider and says what went wrong.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, Protocol

import httpx
import pydantic
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from parley.config import environment_secret
from parley.errors import ProviderError

MAX_RESULTS = 20
MAX_RESPONSE_BYTES = 4 * 1024 * 1024
SNIPPET_CHARS = 500
_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_ENV = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
_WORD = r"^[A-Za-z0-9_ .-]{1,64}$"
_TAG = re.compile(r"<[^>]{0,200}>")
_SPACE = re.compile(r"\s+")


class SearchFailed(ProviderError):
    """A search provider did not give results: down, too slow, an HTTP error, or an
    answer that is not the JSON it documents. The message names the provider."""


@dataclass(frozen=True, slots=True)
class SearchResult:
    """One web page found: what goes into the LLM's context, with its source."""

    title: str
    url: str
    snippet: str

    def as_dict(self) -> dict[str, str]:
        """The result as JSON for a tool result."""
        return {"title": self.title, "url": self.url, "snippet": self.snippet}


class WebSearch(Protocol):
    """A search provider's client."""

    name: str

    async def search(self, query: str, *, limit: int = 5) -> list[SearchResult]:
        """At most ``limit`` results for ``query``. Raises :class:`SearchFailed`."""
        ...

    async def aclose(self) -> None:
        """Close its connections."""
        ...


# --- settings -------------------------------------------------------------------------------


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0


class SearxngSettings(_Settings):
    """A SearXNG (or searx) instance: ``GET {base_url}/search?q=...&format=json``."""

    type: Literal["searxng"]
    base_url: HttpUrl = Field(description="the instance's root, e.g. http://127.0.0.1:8888")
    categories: list[Annotated[str, Field(pattern=_WORD)]] | None = None
    engines: list[Annotated[str, Field(pattern=_WORD)]] | None = None
    language: Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z]{2})?$|^all$")] | None = None


class BraveSettings(_Settings):
    """The Brave Search API (web search endpoint)."""

    type: Literal["brave"]
    api_key_env: Annotated[str, Field(pattern=_ENV)]
    endpoint: HttpUrl = HttpUrl("https://api.search.brave.com/res/v1/web/search")
    country: Annotated[str, Field(pattern=r"^[A-Za-z]{2}$|^ALL$")] | None = None
    search_lang: Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)?$")] | None = None
    safesearch: Literal["off", "moderate", "strict"] = "moderate"


class TavilySettings(_Settings):
    """The Tavily search API."""

    type: Literal["tavily"]
    api_key_env: Annotated[str, Field(pattern=_ENV)]
    endpoint: HttpUrl = HttpUrl("https://api.tavily.com/search")
    search_depth: Literal["basic", "advanced"] = "basic"
    topic: Literal["general", "news"] = "general"


SearchSettings = Annotated[
    SearxngSettings | BraveSettings | TavilySettings, Field(discriminator="type")
]
SEARCH_TYPES = ("searxng", "brave", "tavily")
_ADAPTER: pydantic.TypeAdapter[SearchSettings] = pydantic.TypeAdapter(SearchSettings)


def search_providers(table: Mapping[str, Any]) -> dict[str, SearchSettings]:
    """Validate the ``[search]`` table of the providers file (``{name: settings}``).

    Raises :class:`ValueError` whose message starts with the setting's path, e.g.
    ``search.default.base_url: ...``, or ``search.brave.api_key_env: ...`` when the
    environment variable is not set."""
    providers: dict[str, SearchSettings] = {}
    for name, raw in table.items():
        where = f"search.{name}"
        if not re.match(_NAME, str(name)):
            raise ValueError(f"{where}: a provider's name is letters, digits, '.', '_' and '-'")
        if not isinstance(raw, Mapping):
            raise ValueError(f'{where}: expected a table of settings such as type = "searxng"')
        if "type" not in raw:
            raise ValueError(f"{where}.type: missing; one of {', '.join(SEARCH_TYPES)}")
        if raw["type"] not in SEARCH_TYPES:
            raise ValueError(
                f"{where}.type: unknown search type {raw['type']!r}; "
                f"one of {', '.join(SEARCH_TYPES)}"
            )
        try:
            settings = _ADAPTER.validate_python(dict(raw))
        except pydantic.ValidationError as exc:
            err = exc.errors()[0]
            path = ".".join(str(p) for p in err["loc"][1:])
            raise ValueError(f"{where}.{path or 'type'}: {err['msg']}") from None
        env = getattr(settings, "api_key_env", None)
        if env is not None and environment_secret(env) is None:
            raise ValueError(f"{where}.api_key_env: the environment variable {env} is not set")
        providers[str(name)] = settings
    return providers


def make_web_search(name: str, settings: SearchSettings) -> WebSearch:
    """The client of provider ``name``; reads its API key from the environment now.
    Raises :class:`SearchFailed` if the key's variable is no longer set."""
    if isinstance(settings, SearxngSettings):
        return SearxngSearch(name, settings)
    key = environment_secret(settings.api_key_env)
    if key is None:
        raise SearchFailed(
            f"search provider {name}: the environment variable {settings.api_key_env} is not set"
        )
    if isinstance(settings, BraveSettings):
        return BraveSearch(name, settings, key)
    return TavilySearch(name, settings, key)


# --- clients --------------------------------------------------------------------------------


def clean_text(text: Any, limit: int = SNIPPET_CHARS) -> str:
    """``text`` as plain text on one line: tags dropped, entities decoded, at most
    ``limit`` characters."""
    if not isinstance(text, str):
        return ""
    plain = _SPACE.sub(" ", html.unescape(_TAG.sub("", text))).strip()
    return plain if len(plain) <= limit else plain[: limit - 1].rstrip() + "…"


def _results(items: Any, snippet_key: str, limit: int) -> list[SearchResult]:
    """The usable results of a list of JSON objects: with an http(s) URL, once per URL."""
    found: list[SearchResult] = []
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, dict):
            continue
        url = item.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            continue
        if url in seen:
            continue
        seen.add(url)
        title = clean_text(item.get("title"), 300) or url
        found.append(SearchResult(title, url, clean_text(item.get(snippet_key))))
        if len(found) >= limit:
            break
    return found


class _JsonSearch:
    """What every client shares: one HTTP request, its errors, the JSON answer."""

    kind: ClassVar[str]
    _hint_for_status: ClassVar[dict[int, str]] = {}

    def __init__(self, name: str, timeout_s: float, where: str) -> None:
        self.name = name
        self._where = where
        self._timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None

    def build_request(self, query: str, limit: int) -> httpx.Request:
        """The HTTP request for ``query`` (no I/O)."""
        raise NotImplementedError

    def parse(self, data: Any, limit: int) -> list[SearchResult]:
        """The results in the provider's JSON answer; raises :class:`SearchFailed`."""
        raise NotImplementedError

    def _fail(self, why: str) -> SearchFailed:
        return SearchFailed(f"search provider {self.name} ({self.kind} at {self._where}): {why}")

    async def search(self, query: str, *, limit: int = 5) -> list[SearchResult]:
        """At most ``limit`` (1..20) results for ``query``. Raises :class:`SearchFailed`."""
        query = _SPACE.sub(" ", query).strip()
        if not query:
            raise SearchFailed(f"search provider {self.name}: the query is empty")
        limit = max(1, min(MAX_RESULTS, limit))
        body = await self._fetch(self.build_request(query[:400], limit))
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise self._fail(f"the answer is not JSON ({exc})") from None
        return self.parse(data, limit)

    async def _fetch(self, request: httpx.Request) -> bytes:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout_s, follow_redirects=False)
        try:
            async with asyncio.timeout(self._timeout_s):
                return await self._read(self._client, request)
        except (TimeoutError, httpx.TimeoutException):
            raise self._fail(f"no answer within {self._timeout_s:g} s (timeout_s)") from None
        except httpx.ConnectError as exc:
            raise self._fail(f"cannot connect; is the server running? ({exc})") from None
        except httpx.HTTPError as exc:
            raise self._fail(f"the request failed: {type(exc).__name__}: {exc}") from None

    async def _read(self, client: httpx.AsyncClient, request: httpx.Request) -> bytes:
        response = await client.send(request, stream=True)
        try:
            if response.status_code != 200:
                hint = self._hint_for_status.get(response.status_code, "")
                raise self._fail(f"HTTP {response.status_code} {response.reason_phrase}{hint}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_RESPONSE_BYTES:
                    raise self._fail(f"the answer is over {MAX_RESPONSE_BYTES} bytes")
            return bytes(body)
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        """Close its connections."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class SearxngSearch(_JsonSearch):
    """A SearXNG or searx instance's JSON API."""

    kind = "searxng"
    _hint_for_status = {
        403: " (SearXNG answers 403 when its JSON format is off: "
        "add json to search.formats in its settings.yml)",
        429: " (the instance's rate limiter refused the request: exempt this server in "
        "its limiter settings)",
    }

    def __init__(self, name: str, settings: SearxngSettings) -> None:
        self._base = str(settings.base_url).rstrip("/")
        super().__init__(name, settings.timeout_s, self._base)
        self._settings = settings

    def build_request(self, query: str, limit: int) -> httpx.Request:
        params = {"q": query, "format": "json"}
        if self._settings.categories:
            params["categories"] = ",".join(self._settings.categories)
        if self._settings.engines:
            params["engines"] = ",".join(self._settings.engines)
        if self._settings.language:
            params["language"] = self._settings.language
        headers = {"Accept": "application/json"}
        return httpx.Request("GET", f"{self._base}/search", params=params, headers=headers)

    def parse(self, data: Any, limit: int) -> list[SearchResult]:
        if not isinstance(data, dict) or not isinstance(data.get("results"), list):
            raise self._fail("the answer has no results list; is this a SearXNG JSON API?")
        results = _results(data["results"], "content", limit)
        failed = data.get("unresponsive_engines") or []
        if not results and failed and isinstance(failed, list):
            reasons = "; ".join(
                f"{e[0]}: {e[1]}" for e in failed if isinstance(e, list) and len(e) >= 2
            )
            raise self._fail(f"no results, and its engines failed ({reasons})")
        return results


class BraveSearch(_JsonSearch):
    """The Brave Search API: ``GET /res/v1/web/search?q=...`` with ``X-Subscription-Token``;
    the results are ``web.results[]`` (title, url, description)."""

    kind = "brave"
    _hint_for_status = {
        401: " (check the API key)",
        403: " (check the API key and the subscription's plan)",
        422: " (the API refused the request's parameters)",
        429: " (rate limited or out of quota)",
    }

    def __init__(self, name: str, settings: BraveSettings, api_key: str) -> None:
        super().__init__(name, settings.timeout_s, str(settings.endpoint))
        self._settings, self._key = settings, api_key

    def build_request(self, query: str, limit: int) -> httpx.Request:
        params = {"q": query, "count": str(limit), "safesearch": self._settings.safesearch}
        if self._settings.country:
            params["country"] = self._settings.country
        if self._settings.search_lang:
            params["search_lang"] = self._settings.search_lang
        headers = {"Accept": "application/json", "X-Subscription-Token": self._key}
        return httpx.Request("GET", str(self._settings.endpoint), params=params, headers=headers)

    def parse(self, data: Any, limit: int) -> list[SearchResult]:
        if not isinstance(data, dict):
            raise self._fail("the answer is not a JSON object")
        web = data.get("web")
        if web is None:
            return []  # no web results for this query
        if not isinstance(web, dict) or not isinstance(web.get("results", []), list):
            raise self._fail("the answer's web.results is not a list")
        return _results(web.get("results", []), "description", limit)


class TavilySearch(_JsonSearch):
    """The Tavily API: ``POST /search {"query", "max_results", ...}`` with a bearer key;
    the results are ``results[]`` (title, url, content)."""

    kind = "tavily"
    _hint_for_status = {
        400: " (the API refused the request's parameters)",
        401: " (check the API key)",
        429: " (rate limited)",
        432: " (the plan's limit is reached)",
        433: " (the pay-as-you-go limit is reached)",
    }

    def __init__(self, name: str, settings: TavilySettings, api_key: str) -> None:
        super().__init__(name, settings.timeout_s, str(settings.endpoint))
        self._settings, self._key = settings, api_key

    def build_request(self, query: str, limit: int) -> httpx.Request:
        body = {
            "query": query,
            "max_results": limit,
            "search_depth": self._settings.search_depth,
            "topic": self._settings.topic,
            "include_answer": False,
            "include_raw_content": False,
            "include_images": False,
        }
        headers = {"Accept": "application/json", "Authorization": f"Bearer {self._key}"}
        return httpx.Request("POST", str(self._settings.endpoint), json=body, headers=headers)

    def parse(self, data: Any, limit: int) -> list[SearchResult]:
        if not isinstance(data, dict) or not isinstance(data.get("results"), list):
            raise self._fail("the answer has no results list")
        return _results(data["results"], "content", limit)
