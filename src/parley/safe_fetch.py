"""Server-side HTTP requests to URLs that users give (documents to ingest, webhooks).

Every hop is checked before a byte is sent: http(s) only, no credentials in the URL, and
the host's addresses must all be public unless the operator allows private ones
(``PARLEY_ALLOW_PRIVATE_URLS``) or lists networks in ``allowed_networks``. The request
then connects to the address that was checked (the URL's host goes in the Host header
and TLS SNI), so a DNS answer that changes between the check and the connection cannot
reach a private address. Redirects are followed by hand, each hop checked; the body is
streamed and cut at ``max_bytes``; one deadline covers resolution, redirects and body.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_REDIRECTS = 5
ALLOW_HINT = "set PARLEY_ALLOW_PRIVATE_URLS=true to allow private addresses"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class FetchFailed(Exception):
    """A request to a user-given URL that did not give a usable answer."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.message = message
        self.url = url


class UrlRefused(FetchFailed, ValueError):
    """The URL is not allowed: wrong scheme, credentials, or a non-public address."""


class FetchTimeout(FetchFailed):
    """No complete answer within the time limit."""


class FetchConnectionError(FetchFailed):
    """The connection could not be made (refused, reset, TLS failure)."""


class FetchDnsError(FetchFailed):
    """The host name does not resolve."""


class FetchHttpError(FetchFailed):
    """The server answered with an HTTP error status (>= 400)."""

    def __init__(self, message: str, *, url: str, status: int) -> None:
        super().__init__(message, url=url)
        self.status = status


class FetchTooLarge(FetchFailed):
    """The body is over the size limit."""


@dataclass(frozen=True)
class Fetched:
    """A complete answer: the final URL after redirects, its status, type and body."""

    url: str
    status: int
    content_type: str | None
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


# --- the address guard ---------------------------------------------------------------


def _networks(allowed: Iterable[str | IPNetwork]) -> list[IPNetwork]:
    return [ipaddress.ip_network(n, strict=False) if isinstance(n, str) else n for n in allowed]


def address_problem(address: IPAddress) -> str | None:
    """Why ``address`` is not public (e.g. "a loopback address"), or None if it is."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            inner = address_problem(mapped)
            kind = "IPv4-mapped" if address.ipv4_mapped else "6to4"
            return f"an {kind} IPv6 address of {mapped}" + (f", {inner}" if inner else "")
    checks = (
        (address.is_unspecified, "an unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address.is_reserved, "a reserved address"),
        (address.is_private, "a private address"),
        (not address.is_global, "not a globally routable address"),
    )
    return next((why for bad, why in checks if bad), None)


def _parse(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise UrlRefused(f"refusing to fetch {url!r}: not a valid URL ({exc})", url=url) from None
    if parsed.scheme not in ("http", "https"):
        why = f"scheme {parsed.scheme!r} is not allowed (only http and https)"
        raise UrlRefused(f"refusing to fetch {url}: {why}", url=url)
    if not parsed.host:
        raise UrlRefused(f"refusing to fetch {url}: the URL has no host", url=url)
    if parsed.userinfo:
        why = "credentials in the URL are not accepted (send them in a header)"
        raise UrlRefused(f"refusing to fetch {url}: {why}", url=url)
    return parsed


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def _infos_to_addresses(infos: Sequence[tuple[Any, ...]]) -> list[IPAddress]:
    seen: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in seen:
            seen.append(address)
    return seen


def _judge(
    url: str,
    host: str,
    addresses: list[IPAddress],
    allow_private: bool,
    allowed: Iterable[str | IPNetwork],
) -> list[IPAddress]:
    if not addresses:
        raise FetchDnsError(f"could not fetch {url}: {host} has no addresses", url=url)
    if allow_private:
        return addresses
    networks = _networks(allowed)
    for address in addresses:
        if any(address in n for n in networks if n.version == address.version):
            continue
        why = address_problem(address)
        if why is not None:
            who = str(address) if _literal(host) else f"{host} resolves to {address}, which"
            text = f"{who} is {why}"
            raise UrlRefused(f"refusing to fetch {url}: {text}; {ALLOW_HINT}", url=url)
    return addresses


def _dns_error(url: str, host: str, exc: OSError) -> FetchDnsError:
    detail = exc.strerror or str(exc)
    return FetchDnsError(f"could not fetch {url}: cannot resolve host {host} ({detail})", url=url)


def _resolve(url: str, allow_private: bool, allowed: Iterable[str | IPNetwork]) -> list[IPAddress]:
    host = _parse(url).host
    literal = _literal(host)
    if literal is not None:
        return _judge(url, host, [literal], allow_private, allowed)
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise _dns_error(
            url, host, exc if isinstance(exc, OSError) else OSError(str(exc))
        ) from None
    return _judge(url, host, _infos_to_addresses(infos), allow_private, allowed)


def check_url(
    url: str, *, allow_private: bool, allowed_networks: Iterable[str | IPNetwork] = ()
) -> None:
    """Raise ``UrlRefused`` (or ``FetchDnsError``) unless ``url`` may be fetched.

    Resolves the host (blocking); every address it resolves to must be public, unless
    ``allow_private`` or the address is in one of ``allowed_networks``.
    """
    _resolve(url, allow_private, allowed_networks)


async def check_url_async(
    url: str, *, allow_private: bool, allowed_networks: Iterable[str | IPNetwork] = ()
) -> list[IPAddress]:
    """``check_url`` with the resolution in a worker thread; returns the checked addresses."""
    return await asyncio.to_thread(_resolve, url, allow_private, tuple(allowed_networks))


# --- requests -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Limits:
    allow_private: bool
    allowed_networks: tuple[str | IPNetwork, ...]
    max_bytes: int
    timeout_s: float
    max_redirects: int
    raise_for_status: bool


async def request(
    method: str,
    url: str,
    *,
    allow_private: bool,
    max_bytes: int,
    timeout_s: float,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
    max_redirects: int = MAX_REDIRECTS,
    raise_for_status: bool = True,
    allowed_networks: Iterable[str | IPNetwork] = (),
    client: httpx.AsyncClient | None = None,
) -> Fetched:
    """Send one request to a user-given URL with every guard on; return the whole answer.

    ``timeout_s`` bounds everything (DNS, connect, redirects, body). Redirects: 307/308
    repeat the method and body, 301/302/303 become a GET without body. With
    ``raise_for_status=False`` a status >= 400 is returned instead of raised.
    """
    limits = _Limits(
        allow_private,
        tuple(allowed_networks),
        max_bytes,
        timeout_s,
        max_redirects,
        raise_for_status,
    )
    own = client is None
    http = client or httpx.AsyncClient(trust_env=False, follow_redirects=False)
    try:
        async with asyncio.timeout(timeout_s):
            return await _follow(http, method.upper(), url, dict(headers or {}), content, limits)
    except TimeoutError:
        raise FetchTimeout(
            f"could not fetch {url}: no complete answer within {timeout_s:g} s", url=url
        ) from None
    finally:
        if own:
            await http.aclose()


async def fetch(
    url: str,
    *,
    allow_private: bool,
    max_bytes: int,
    timeout_s: float,
    accept: str | None = None,
    allowed_networks: Iterable[str | IPNetwork] = (),
    client: httpx.AsyncClient | None = None,
) -> Fetched:
    """GET a user-given URL (a document to ingest): see ``request``."""
    return await request(
        "GET",
        url,
        allow_private=allow_private,
        max_bytes=max_bytes,
        timeout_s=timeout_s,
        headers={"Accept": accept} if accept else None,
        allowed_networks=allowed_networks,
        client=client,
    )


async def _follow(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    headers: dict[str, str],
    content: bytes | None,
    limits: _Limits,
) -> Fetched:
    current = url
    for _hop in range(limits.max_redirects + 1):
        addresses = await check_url_async(
            current, allow_private=limits.allow_private, allowed_networks=limits.allowed_networks
        )
        response, body = await _send(http, method, current, addresses, headers, content, limits)
        location = response.headers.get("location")
        if response.status_code in _REDIRECTS and location:
            current = str(httpx.URL(current).join(location))
            if response.status_code in (301, 302, 303) and method != "HEAD":
                method, content = "GET", None
            continue
        if limits.raise_for_status and response.status_code >= 400:
            reason = response.reason_phrase or "error"
            raise FetchHttpError(
                f"could not fetch {current}: the server answered HTTP "
                f"{response.status_code} {reason}",
                url=current,
                status=response.status_code,
            )
        return Fetched(
            url=current,
            status=response.status_code,
            content_type=response.headers.get("content-type"),
            body=body,
            headers=dict(response.headers),
        )
    raise FetchFailed(f"could not fetch {url}: more than {limits.max_redirects} redirects", url=url)


async def _send(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    addresses: list[IPAddress],
    headers: dict[str, str],
    content: bytes | None,
    limits: _Limits,
) -> tuple[httpx.Response, bytes]:
    """Connect to the checked addresses in turn (the first that accepts the connection)."""
    target = httpx.URL(url)
    last: FetchConnectionError | None = None
    for address in addresses:
        pinned = target.copy_with(host=str(address))
        extensions: dict[str, Any] = {"timeout": httpx.Timeout(limits.timeout_s).as_dict()}
        if target.scheme == "https":
            extensions["sni_hostname"] = target.host
        host_header = target.netloc.decode("ascii")
        request = http.build_request(
            method,
            pinned,
            headers={**headers, "Host": host_header},
            content=content,
            extensions=extensions,
        )
        try:
            response = await http.send(request, stream=True, follow_redirects=False)
        except httpx.ConnectError as exc:
            last = FetchConnectionError(
                f"could not fetch {url}: cannot connect to {target.host} "
                f"({address}, port {target.port or _default_port(target)}): {_detail(exc)}",
                url=url,
            )
            continue
        except httpx.TimeoutException:
            raise TimeoutError from None
        except httpx.HTTPError as exc:
            raise FetchConnectionError(f"could not fetch {url}: {_detail(exc)}", url=url) from None
        try:
            body = await _read(response, url, limits.max_bytes)
        finally:
            await response.aclose()
        return response, body
    assert last is not None
    raise last


async def _read(response: httpx.Response, url: str, max_bytes: int) -> bytes:
    if response.status_code in _REDIRECTS:
        return b""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchTooLarge(
            f"could not fetch {url}: the body is {int(declared):,} bytes, over the limit of "
            f"{max_bytes:,} bytes",
            url=url,
        )
    parts: list[bytes] = []
    size = 0
    try:
        async for part in response.aiter_bytes():
            size += len(part)
            if size > max_bytes:
                raise FetchTooLarge(
                    f"could not fetch {url}: the body is over the limit of {max_bytes:,} bytes",
                    url=url,
                )
            parts.append(part)
    except httpx.TimeoutException:
        raise TimeoutError from None
    except httpx.HTTPError as exc:
        raise FetchConnectionError(
            f"could not fetch {url}: the connection failed while reading the body ({_detail(exc)})",
            url=url,
        ) from None
    return b"".join(parts)


def _default_port(url: httpx.URL) -> int:
    return 443 if url.scheme == "https" else 80


def _detail(exc: BaseException) -> str:
    """The most telling cause in an httpx error's chain (e.g. "connection refused")."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ConnectionResetError):
            return "connection reset by the server"
        cause = cause.__cause__ or cause.__context__
    return str(exc) or type(exc).__name__
