"""The guard for server-side fetches of user URLs, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest

from parley.safe_fetch import (
    FetchConnectionError,
    FetchDnsError,
    FetchFailed,
    FetchHttpError,
    FetchTimeout,
    FetchTooLarge,
    UrlRefused,
    address_problem,
    check_url,
    check_url_async,
    fetch,
    request,
)
from parley.testing.documents import serve_directory


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory: Path = tmp_path_factory.mktemp("www")
    (directory / "hello.txt").write_text("hello from the test server\n")
    with serve_directory(directory) as url:
        yield url


async def test_loopback_is_refused_by_default(base: str) -> None:
    with pytest.raises(UrlRefused) as caught:
        await fetch(f"{base}/hello.txt", allow_private=False, max_bytes=1000, timeout_s=5)
    message = str(caught.value)
    assert "127.0.0.1 is a loopback address" in message
    assert "PARLEY_ALLOW_PRIVATE_URLS=true" in message


async def test_allowed_with_allow_private(base: str) -> None:
    got = await fetch(f"{base}/hello.txt", allow_private=True, max_bytes=1000, timeout_s=5)
    assert got.status == 200
    assert got.body == b"hello from the test server\n"
    assert got.content_type is not None and got.content_type.startswith("text/plain")
    assert got.url == f"{base}/hello.txt"


async def test_localhost_name_resolves_to_loopback_and_is_refused() -> None:
    with pytest.raises(UrlRefused, match=r"localhost resolves to .*loopback address"):
        await check_url_async("http://localhost:9/", allow_private=False)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.com/a", "scheme 'ftp' is not allowed"),
        ("file:///etc/passwd", "scheme 'file' is not allowed"),
        ("http://user:secret@example.com/", "credentials in the URL"),
        ("http://10.1.2.3/", "10.1.2.3 is a private address"),
        ("http://169.254.169.254/latest/", "is a link-local address"),
        ("http://[::1]/", "::1 is a loopback address"),
        ("http://[::ffff:127.0.0.1]/", "IPv4-mapped IPv6 address of 127.0.0.1, a loopback"),
        ("http://0.0.0.0/", "is an unspecified address"),
        ("http://224.0.0.1/", "is a multicast address"),
        ("http://240.0.0.1/", "is a reserved address"),
        ("http://100.64.0.1/", "not a globally routable address"),
        ("not a url", "scheme '' is not allowed"),
    ],
)
def test_check_url_refusals(url: str, why: str) -> None:
    with pytest.raises(UrlRefused) as caught:
        check_url(url, allow_private=False)
    assert why in str(caught.value)


def test_public_literal_is_allowed_without_connecting() -> None:
    check_url("https://93.184.215.14/doc.pdf", allow_private=False)
    assert address_problem(ipaddress.ip_address("2a00:1450:4009:81f::200e")) is None


def test_dns_failure_is_precise() -> None:
    with pytest.raises(FetchDnsError, match=r"cannot resolve host no-such-host\.invalid"):
        check_url("http://no-such-host.invalid/", allow_private=False)


async def test_redirect_to_a_private_address_is_refused(base: str) -> None:
    # the server itself is allowed by network; the hop it redirects to is not
    target = "http://127.0.0.2:9/secret"
    with pytest.raises(UrlRefused, match=r"127\.0\.0\.2 is a loopback address"):
        await fetch(
            f"{base}/redirect?to={target}",
            allow_private=False,
            allowed_networks=["127.0.0.1/32"],
            max_bytes=1000,
            timeout_s=5,
        )


async def test_redirects_are_followed_and_reported(base: str) -> None:
    got = await fetch(
        f"{base}/redirect?to=/hello.txt&status=301", allow_private=True, max_bytes=100, timeout_s=5
    )
    assert got.url == f"{base}/hello.txt"
    assert got.body.startswith(b"hello")


async def test_redirect_loop_stops(base: str) -> None:
    loop = f"{base}/redirect"  # redirects to itself
    with pytest.raises(FetchFailed, match="more than 5 redirects"):
        await fetch(loop, allow_private=True, max_bytes=100, timeout_s=5)


async def test_oversized_body_is_refused_by_content_length(base: str) -> None:
    with pytest.raises(FetchTooLarge, match="the body is 50,000 bytes, over the limit of 1,000"):
        await fetch(f"{base}/big?bytes=50000", allow_private=True, max_bytes=1000, timeout_s=5)


async def test_oversized_streamed_body_is_cut(base: str) -> None:
    with pytest.raises(FetchTooLarge, match="over the limit of 100,000 bytes"):
        await fetch(
            f"{base}/stream?bytes=5000000", allow_private=True, max_bytes=100_000, timeout_s=5
        )


async def test_timeout(base: str) -> None:
    with pytest.raises(FetchTimeout, match=r"no complete answer within 0\.5 s"):
        await fetch(f"{base}/slow?seconds=3", allow_private=True, max_bytes=100, timeout_s=0.5)


async def test_http_404(base: str) -> None:
    with pytest.raises(FetchHttpError) as caught:
        await fetch(f"{base}/missing.pdf", allow_private=True, max_bytes=1000, timeout_s=5)
    assert caught.value.status == 404
    assert "the server answered HTTP 404 File not found" in str(caught.value)


async def test_status_can_be_returned_instead_of_raised(base: str) -> None:
    got = await request(
        "GET",
        f"{base}/status/503",
        allow_private=True,
        max_bytes=10_000,
        timeout_s=5,
        raise_for_status=False,
    )
    assert got.status == 503


async def test_connection_refused() -> None:
    import socket

    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FetchConnectionError, match="connection refused"):
        await fetch(f"http://127.0.0.1:{port}/", allow_private=True, max_bytes=10, timeout_s=5)
