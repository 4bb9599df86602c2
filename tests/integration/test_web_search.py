"""The SearXNG search provider against a real searx 0.17.0 server on this machine (a local
SQLite FTS5 engine over pages about invented facts), a real search server that hangs, and
nginx answering the ways a misconfigured instance does (HTTP 403, HTML instead of JSON)."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from parley.providers.search import SearchFailed, SearchResult, WebSearch, make_web_search
from parley.providers.search import search_providers as read_search
from parley.testing.nginx import nginx_available, running_nginx
from parley.testing.search_server import SearchServer, running_search_server
from parley.testing.server import free_port

pytestmark = pytest.mark.integration

MISCONFIGURED = """
        location = /forbidden/search {
            return 403 "Forbidden";
        }
        location = /html/search {
            default_type text/html;
            return 200 "<!DOCTYPE html><html><body>searx</body></html>";
        }
        location = /notsearx/search {
            default_type application/json;
            return 200 '{"hits": []}';
        }
"""


@pytest.fixture(scope="module")
def searx() -> Iterator[SearchServer]:
    with running_search_server() as server:
        yield server


def _provider(base_url: str, **extra: Any) -> WebSearch:
    settings = read_search({"default": {"type": "searxng", "base_url": base_url, **extra}})
    return make_web_search("search:default", settings["default"])


@pytest.fixture
async def search(searx: SearchServer) -> AsyncIterator[WebSearch]:
    provider = _provider(searx.base_url, timeout_s=10)
    yield provider
    await provider.aclose()


async def test_a_question_finds_the_page_that_answers_it(search: WebSearch) -> None:
    results = await search.search("What colour is the Zorbel lighthouse?")
    assert results[0] == SearchResult(
        title="The Zorbel Lighthouse",
        url="https://zorbel.example/lighthouse",
        snippet="The Zorbel lighthouse on Kettle Point was painted teal in 1931 by its keeper, "
        "Ansa Moreth. Its lamp can be seen 19 nautical miles out to sea.",
    )
    ferry = await search.search("ferry Quillport")
    assert [r.url for r in ferry] == ["https://zorbel.example/ferry"]
    assert "7:40" in ferry[0].snippet


async def test_limit_and_no_match(search: WebSearch) -> None:
    many = await search.search("the", limit=2)  # "the" is on every page
    assert len(many) == 2
    assert await search.search("xyzzyplugh") == []


async def test_the_settings_options_reach_the_server(searx: SearchServer) -> None:
    provider = _provider(searx.base_url, categories=["general"], engines=["corpus"], language="en")
    try:
        results = await provider.search("cardamom knot")
    finally:
        await provider.aclose()
    assert results[0].title == "Brindlewick Bakery" and "3.20 crowns" in results[0].snippet


async def test_failing_engines_are_named(searx: SearchServer) -> None:
    provider = _provider(searx.base_url, engines=["broken"])
    try:
        with pytest.raises(SearchFailed) as caught:
            await provider.search("lighthouse")
    finally:
        await provider.aclose()
    assert str(caught.value) == (
        f"search provider search:default (searxng at {searx.base_url}): no results, and its "
        "engines failed (broken: unexpected crash unable to open database file)"
    )


async def test_a_server_that_is_down_says_so() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    provider = _provider(url)
    with pytest.raises(SearchFailed) as caught:
        await provider.search("lighthouse")
    message = str(caught.value)
    assert message.startswith(
        f"search provider search:default (searxng at {url}): cannot connect; is the server running?"
    )


async def test_a_hung_server_is_a_timeout(searx: SearchServer) -> None:
    provider = _provider(searx.base_url, timeout_s=0.5)
    os.kill(searx.pid, signal.SIGSTOP)
    try:
        with pytest.raises(SearchFailed) as caught:
            await provider.search("lighthouse")
    finally:
        os.kill(searx.pid, signal.SIGCONT)
        await provider.aclose()
    assert str(caught.value) == (
        f"search provider search:default (searxng at {searx.base_url}): "
        "no answer within 0.5 s (timeout_s)"
    )
    # the server goes on answering once it runs again
    again = _provider(searx.base_url, timeout_s=10)
    try:
        assert (await again.search("observatory"))[0].title == "Mount Harrowgate Observatory"
    finally:
        await again.aclose()


@pytest.fixture(scope="module")
def misconfigured() -> Iterator[str]:
    if not nginx_available():
        pytest.skip("nginx is not installed (apt-get install nginx)")
    with running_nginx(MISCONFIGURED) as url:
        yield url


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("forbidden", "HTTP 403 Forbidden (SearXNG answers 403 when its JSON format is off"),
        ("html", "the answer is not JSON"),
        ("notsearx", "the answer has no results list; is this a SearXNG JSON API?"),
    ],
)
async def test_a_misconfigured_server_is_explained(
    misconfigured: str, path: str, expected: str
) -> None:
    provider = _provider(f"{misconfigured}/{path}")
    try:
        with pytest.raises(SearchFailed) as caught:
            await provider.search("lighthouse")
    finally:
        await provider.aclose()
    assert f"(searxng at {misconfigured}/{path}): {expected}" in str(caught.value)
