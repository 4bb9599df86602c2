"""The requests the search clients build and how they read answers, without a network.

Brave and Tavily cannot be reached from the test machines, so their answers here are JSON
written in the test from the shapes their API documentation gives (Brave: ``web.results[]``
with ``title``, ``url``, ``description``; Tavily: ``results[]`` with ``title``, ``url``,
``content``, ``score``). SearXNG is also tested against a real searx server in
tests/integration/test_web_search.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from parley.providers.search import (
    BraveSearch,
    BraveSettings,
    SearchFailed,
    SearchResult,
    SearxngSearch,
    SearxngSettings,
    TavilySearch,
    TavilySettings,
    clean_text,
)


def _brave(**extra: Any) -> BraveSearch:
    settings = BraveSettings.model_validate({"type": "brave", "api_key_env": "K", **extra})
    return BraveSearch("search:brave", settings, "brave-key")


def _tavily(**extra: Any) -> TavilySearch:
    settings = TavilySettings.model_validate({"type": "tavily", "api_key_env": "K", **extra})
    return TavilySearch("search:tavily", settings, "tvly-key")


def _searxng(**extra: Any) -> SearxngSearch:
    raw = {"type": "searxng", "base_url": "http://127.0.0.1:8888/sx/", **extra}
    return SearxngSearch("search:default", SearxngSettings.model_validate(raw))


def test_searxng_asks_for_json_with_its_options() -> None:
    request = _searxng(categories=["general", "news"], engines=["wikipedia"], language="de")
    built = request.build_request("zorbel lighthouse", 5)
    assert built.method == "GET"
    assert built.url.path == "/sx/search"
    assert dict(built.url.params) == {
        "q": "zorbel lighthouse",
        "format": "json",
        "categories": "general,news",
        "engines": "wikipedia",
        "language": "de",
    }


def test_searxng_reports_its_failed_engines_when_nothing_is_found() -> None:
    answer = {"results": [], "unresponsive_engines": [["google", "CAPTCHA"], ["bing", "timeout"]]}
    with pytest.raises(SearchFailed, match=r"engines failed \(google: CAPTCHA; bing: timeout\)"):
        _searxng().parse(answer, 5)
    assert _searxng().parse({"results": [], "unresponsive_engines": []}, 5) == []


def test_brave_request_follows_its_documentation() -> None:
    built = _brave(country="DE", search_lang="de", safesearch="strict").build_request("q", 7)
    assert built.method == "GET"
    assert str(built.url).startswith("https://api.search.brave.com/res/v1/web/search?")
    assert dict(built.url.params) == {
        "q": "q",
        "count": "7",
        "safesearch": "strict",
        "country": "DE",
        "search_lang": "de",
    }
    assert built.headers["X-Subscription-Token"] == "brave-key"
    assert built.headers["Accept"] == "application/json"


def test_brave_answer_is_read() -> None:
    answer = {
        "type": "search",
        "query": {"original": "zorbel lighthouse"},
        "web": {
            "type": "search",
            "results": [
                {
                    "type": "search_result",
                    "title": "The <strong>Zorbel</strong> Lighthouse",
                    "url": "https://zorbel.example/lighthouse",
                    "description": "Painted <strong>teal</strong> in 1931 &amp; never since.",
                    "age": "2 days ago",
                    "extra_snippets": ["more"],
                },
                {"title": "no url"},
                {"title": "Duplicate", "url": "https://zorbel.example/lighthouse"},
                {"title": "Ferry", "url": "https://zorbel.example/ferry", "description": "7:40"},
            ],
        },
    }
    assert _brave().parse(answer, 5) == [
        SearchResult(
            "The Zorbel Lighthouse",
            "https://zorbel.example/lighthouse",
            "Painted teal in 1931 & never since.",
        ),
        SearchResult("Ferry", "https://zorbel.example/ferry", "7:40"),
    ]
    assert len(_brave().parse(answer, 1)) == 1
    assert _brave().parse({"type": "search", "query": {"original": "x"}}, 5) == []


def test_tavily_request_follows_its_documentation() -> None:
    built = _tavily(search_depth="advanced", topic="news").build_request("zorbel ferry", 3)
    assert built.method == "POST"
    assert str(built.url) == "https://api.tavily.com/search"
    assert built.headers["Authorization"] == "Bearer tvly-key"
    body = json.loads(built.content)
    assert body["query"] == "zorbel ferry" and body["max_results"] == 3
    assert body["search_depth"] == "advanced" and body["topic"] == "news"
    assert body["include_answer"] is False and "api_key" not in body


def test_tavily_answer_is_read() -> None:
    answer = {
        "query": "zorbel ferry",
        "answer": None,
        "images": [],
        "results": [
            {
                "title": "Zorbel island ferry timetable",
                "url": "https://zorbel.example/ferry",
                "content": "The ferry leaves at 7:40.",
                "score": 0.91,
                "raw_content": None,
            }
        ],
        "response_time": 1.02,
    }
    assert _tavily().parse(answer, 5) == [
        SearchResult(
            "Zorbel island ferry timetable",
            "https://zorbel.example/ferry",
            "The ferry leaves at 7:40.",
        )
    ]
    with pytest.raises(SearchFailed, match=r"search:tavily .*no results list"):
        _tavily().parse({"detail": {"error": "Unauthorized"}}, 5)


def test_only_web_urls_are_kept_and_titles_default_to_the_url() -> None:
    answer = {
        "results": [
            {"url": "javascript:alert(1)", "title": "x"},
            {"url": "https://a.example/", "title": None, "content": 3},
        ]
    }
    assert _searxng().parse(answer, 5) == [
        SearchResult("https://a.example/", "https://a.example/", "")
    ]


def test_clean_text() -> None:
    assert clean_text("  a <b>bold</b>\n\tword &lt;ok&gt; ") == "a bold word <ok>"
    assert clean_text("x" * 600, 10) == "x" * 9 + "…"
    assert clean_text(None) == ""


async def test_an_empty_query_fails_before_any_request() -> None:
    with pytest.raises(SearchFailed, match="the query is empty"):
        await _searxng().search("  \n ")
