"""The ``[search.<name>]`` tables of the providers file: valid ones, and each mistake named
by its setting's path."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from parley.providers.search import (
    BraveSearch,
    BraveSettings,
    SearchFailed,
    SearxngSearch,
    SearxngSettings,
    TavilySearch,
    TavilySettings,
    make_web_search,
    search_providers,
)

FILE = """
[search.default]
type = "searxng"
base_url = "http://127.0.0.1:8888/"
timeout_s = 3
categories = ["general"]
language = "en"

[search.brave]
type = "brave"
api_key_env = "PARLEY_TEST_BRAVE_KEY"
country = "DE"

[search.tavily]
type = "tavily"
api_key_env = "PARLEY_TEST_TAVILY_KEY"
search_depth = "advanced"
"""


def _table(text: str) -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads(text)["search"]
    return data


def _error(table: dict[str, Any]) -> str:
    with pytest.raises(ValueError) as caught:
        search_providers(table)
    return str(caught.value)


def test_a_file_with_each_type_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_TEST_BRAVE_KEY", "brave-secret")
    monkeypatch.setenv("PARLEY_TEST_TAVILY_KEY", "tvly-secret")
    providers = search_providers(_table(FILE))
    searxng, brave, tavily = providers["default"], providers["brave"], providers["tavily"]
    assert isinstance(searxng, SearxngSettings)
    assert str(searxng.base_url) == "http://127.0.0.1:8888/"
    assert searxng.timeout_s == 3 and searxng.categories == ["general"]
    assert isinstance(brave, BraveSettings) and brave.country == "DE"
    assert str(brave.endpoint) == "https://api.search.brave.com/res/v1/web/search"
    assert isinstance(tavily, TavilySettings) and tavily.search_depth == "advanced"
    # the settings keep the variable's name, never the secret
    assert "brave-secret" not in repr(providers) and "tvly-secret" not in repr(providers)


def test_each_type_makes_its_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_TEST_BRAVE_KEY", "brave-secret")
    monkeypatch.setenv("PARLEY_TEST_TAVILY_KEY", "tvly-secret")
    providers = search_providers(_table(FILE))
    assert isinstance(make_web_search("search:default", providers["default"]), SearxngSearch)
    assert isinstance(make_web_search("search:brave", providers["brave"]), BraveSearch)
    assert isinstance(make_web_search("search:tavily", providers["tavily"]), TavilySearch)


def test_a_missing_environment_variable_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARLEY_TEST_BRAVE_KEY", raising=False)
    table = {"brave": {"type": "brave", "api_key_env": "PARLEY_TEST_BRAVE_KEY"}}
    assert _error(table) == (
        "search.brave.api_key_env: the environment variable PARLEY_TEST_BRAVE_KEY is not set"
    )
    monkeypatch.setenv("PARLEY_TEST_BRAVE_KEY", "")  # empty is not set either
    assert "PARLEY_TEST_BRAVE_KEY is not set" in _error(table)


def test_a_key_removed_after_reading_fails_when_the_client_is_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PARLEY_TEST_TAVILY_KEY", "tvly-secret")
    settings = search_providers({"t": {"type": "tavily", "api_key_env": "PARLEY_TEST_TAVILY_KEY"}})
    monkeypatch.delenv("PARLEY_TEST_TAVILY_KEY")
    with pytest.raises(SearchFailed, match="PARLEY_TEST_TAVILY_KEY is not set"):
        make_web_search("search:t", settings["t"])


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ({"default": {"type": "google"}}, "search.default.type: unknown search type 'google'"),
        ({"default": {"base_url": "http://x"}}, "search.default.type: missing; one of searxng"),
        ({"default": "searxng"}, "search.default: expected a table of settings"),
        ({"bad name": {"type": "searxng"}}, "search.bad name: a provider's name is letters"),
        ({"default": {"type": "searxng"}}, "search.default.base_url: Field required"),
        (
            {"default": {"type": "searxng", "base_url": "not a url"}},
            "search.default.base_url: Input should be a valid URL",
        ),
        (
            {"default": {"type": "searxng", "base_url": "ftp://127.0.0.1/"}},
            "search.default.base_url: URL scheme should be 'http' or 'https'",
        ),
        (
            {"default": {"type": "searxng", "base_url": "http://h", "bse_url": "http://h"}},
            "search.default.bse_url: Extra inputs are not permitted",
        ),
        (
            {"default": {"type": "searxng", "base_url": "http://h", "timeout_s": 0}},
            "search.default.timeout_s: Input should be greater than 0",
        ),
        (
            {"default": {"type": "searxng", "base_url": "http://h", "language": "English"}},
            "search.default.language: String should match pattern",
        ),
        ({"b": {"type": "brave"}}, "search.b.api_key_env: Field required"),
        (
            {"b": {"type": "brave", "api_key_env": "1BAD"}},
            "search.b.api_key_env: String should match pattern",
        ),
        (
            {"t": {"type": "tavily", "api_key_env": "K", "search_depth": "deep"}},
            "search.t.search_depth: Input should be 'basic' or 'advanced'",
        ),
        (
            {"t": {"type": "tavily", "api_key_env": "K", "endpoint": "api.tavily.com"}},
            "search.t.endpoint: Input should be a valid URL",
        ),
    ],
)
def test_each_mistake_is_named_by_its_path(table: dict[str, Any], expected: str) -> None:
    assert _error(table).startswith(expected)
