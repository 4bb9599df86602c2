"""Calling a webhook tool: the user's HTTP endpoint, reached with every guard of
:mod:`parley.safe_fetch` (public addresses only unless allowed, one deadline, the body cut
at 64 KiB) and no redirects (the headers may carry secrets).

The LLM's arguments (with the fixed ``webhook.body`` fields) go as the JSON body for POST,
PUT and PATCH, as the query for GET and DELETE. The request is signed
(:mod:`parley.tools.signing`). GET, PUT and DELETE are tried once more after a timeout, a
failed connection or a 5xx; POST and PATCH never are.

Nothing here raises: a failure is an error result the LLM can talk about, e.g.
``{"error": "the order service did not answer within 5.0 s", "status": 504,
"code": "timeout"}``; ``code`` (timeout, http_error, not_json, too_large, refused,
connection, config) is for metrics.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from parley import safe_fetch
from parley.tools.definitions import WebhookTool
from parley.tools.secrets import MissingSecret, resolve
from parley.tools.signing import HEADER, sign
from parley.tools.variables import MissingVariables, fill_json, fill_url

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 64 * 1024
IDEMPOTENT = frozenset({"GET", "PUT", "DELETE"})
_QUERY_METHODS = frozenset({"GET", "DELETE"})


@dataclass(frozen=True, slots=True)
class WebhookOutcome:
    """What a webhook call gave: the result for the LLM, ``code`` ("ok" or the failure's
    code) and how many requests were sent."""

    output: dict[str, Any]
    code: str
    attempts: int = 0

    @property
    def ok(self) -> bool:
        """True when the endpoint answered usable JSON."""
        return self.code == "ok"


class _Failure(Exception):
    def __init__(self, code: str, text: str, status: int = 502, retry: bool = False) -> None:
        super().__init__(text)
        self.code, self.text, self.status, self.retry = code, text, status, retry
        self.extra: dict[str, Any] = {}

    def outcome(self, attempts: int) -> WebhookOutcome:
        output = {"error": self.text, "status": self.status, "code": self.code, **self.extra}
        return WebhookOutcome(output, self.code, attempts)


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _query(arguments: Mapping[str, Any]) -> str:
    pairs: list[tuple[str, str]] = []
    for key, value in arguments.items():
        if value is None:
            continue
        items = value if isinstance(value, list) else [value]
        pairs.extend((key, _query_value(item)) for item in items)
    return urlencode(pairs)


@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    url: str
    headers: dict[str, str]
    content: bytes | None
    signed: bytes
    """What the signature covers: the body, or the query string for GET and DELETE."""


def _prepare(
    defn: WebhookTool, arguments: Mapping[str, Any], variables: Mapping[str, str]
) -> _Request:
    hook, who = defn.webhook, f"the {defn.name} service"
    try:
        url = fill_url(hook.url, variables, where=f"tool {defn.name}: webhook.url")
        fixed = fill_json(hook.body or {}, variables, where=f"tool {defn.name}: webhook.body")
        headers = {name: resolve(value) for name, value in hook.headers.items()}
    except MissingVariables as exc:
        log.warning("webhook %s not called: %s", defn.name, exc)
        raise _Failure("config", f"{who} is not set up right on this server") from None
    except MissingSecret as exc:
        log.warning("webhook %s not called: %s", defn.name, exc)
        text = f"{who} is not set up on this server (a secret is missing)"
        raise _Failure("config", text) from None
    payload = {**arguments, **fixed}  # the fixed fields win over anything the LLM adds
    headers.update({"User-Agent": "Parley", "Accept": "application/json"})
    if hook.method in _QUERY_METHODS:
        query = _query(payload)
        if query:
            url = f"{url}{'&' if '?' in url else '?'}{query}"
        return _Request(hook.method, url, headers, None, httpx.URL(url).query)
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers["Content-Type"] = "application/json"
    return _Request(hook.method, url, headers, body, body)


def _kind_of(content_type: str | None) -> str:
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in ("text/html", "application/xhtml+xml"):
        return "HTML"
    return kind or "a body without a content type"


def _parse(fetched: safe_fetch.Fetched, who: str) -> dict[str, Any]:
    if not fetched.body.strip():
        return {"result": None}
    try:
        value = json.loads(fetched.body)
    except (ValueError, UnicodeDecodeError):
        what = _kind_of(fetched.content_type)
        raise _Failure("not_json", f"{who} answered with {what}, not JSON") from None
    return value if isinstance(value, dict) else {"result": value}


def _http_error(fetched: safe_fetch.Fetched, who: str) -> _Failure:
    failure = _Failure(
        "http_error", f"{who} answered HTTP {fetched.status}", retry=fetched.status >= 500
    )
    failure.extra["upstream_status"] = fetched.status
    with suppress(_Failure):  # a JSON error body tells the LLM what went wrong
        failure.extra["detail"] = _parse(fetched, who)
    return failure


async def _attempt(
    request: _Request,
    defn: WebhookTool,
    signing_secret: str | None,
    client: httpx.AsyncClient,
    allow_private: bool,
) -> dict[str, Any]:
    who, timeout_s = f"the {defn.name} service", defn.webhook.timeout_ms / 1000
    headers = dict(request.headers)
    if signing_secret:
        headers[HEADER] = sign(signing_secret, request.signed, time.time())
    try:
        fetched = await safe_fetch.request(
            request.method,
            request.url,
            allow_private=allow_private,
            max_bytes=MAX_RESPONSE_BYTES,
            timeout_s=timeout_s,
            headers=headers,
            content=request.content,
            max_redirects=0,
            raise_for_status=False,
            client=client,
        )
    except safe_fetch.UrlRefused as exc:
        failure = _Failure("refused", f"{who}'s address is not allowed on this server")
        failure.extra["detail"] = exc.message
        raise failure from None
    except safe_fetch.FetchTimeout:
        text = f"{who} did not answer within {timeout_s:.1f} s"
        raise _Failure("timeout", text, status=504, retry=True) from None
    except safe_fetch.FetchTooLarge:
        kib = MAX_RESPONSE_BYTES // 1024
        raise _Failure("too_large", f"{who}'s answer was larger than {kib} KiB") from None
    except (safe_fetch.FetchConnectionError, safe_fetch.FetchDnsError) as exc:
        log.info("webhook %s: %s", defn.name, exc.message)
        raise _Failure("connection", f"could not reach {who}", retry=True) from None
    except safe_fetch.FetchFailed:  # a redirect (max_redirects=0)
        text = f"{who} answered with a redirect, which webhooks do not follow"
        raise _Failure("http_error", text) from None
    if fetched.status >= 300:
        raise _http_error(fetched, who)
    return _parse(fetched, who)


async def run_webhook(
    defn: WebhookTool,
    arguments: Mapping[str, Any],
    *,
    variables: Mapping[str, str],
    signing_secret: str | None,
    client: httpx.AsyncClient,
    allow_private: bool,
) -> WebhookOutcome:
    """Call ``defn``'s endpoint with ``arguments``; see the module's docstring."""
    try:
        request = _prepare(defn, arguments, variables)
    except _Failure as failure:
        return failure.outcome(0)
    tries, attempt = (2 if request.method in IDEMPOTENT else 1), 0
    while True:
        attempt += 1
        try:
            output = await _attempt(request, defn, signing_secret, client, allow_private)
        except _Failure as failure:
            if failure.retry and attempt < tries:
                log.info("webhook %s: %s; trying again", defn.name, failure.text)
                continue
            return failure.outcome(attempt)
        return WebhookOutcome(output, "ok", attempt)


async def call_webhook(
    defn: WebhookTool,
    arguments: Mapping[str, Any],
    *,
    variables: Mapping[str, str],
    signing_secret: str | None,
    client: httpx.AsyncClient,
    allow_private: bool,
) -> dict[str, Any]:
    """The JSON result of calling ``defn`` (an error result if it failed)."""
    outcome = await run_webhook(
        defn,
        arguments,
        variables=variables,
        signing_secret=signing_secret,
        client=client,
        allow_private=allow_private,
    )
    return outcome.output
