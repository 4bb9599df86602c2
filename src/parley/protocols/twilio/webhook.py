"""The Twilio webhook: the request signature (``X-Twilio-Signature``) and the TwiML that
connects a call to a media stream."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit, urlunsplit
from xml.sax.saxutils import quoteattr


def request_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """Twilio's ``X-Twilio-Signature``: base64 HMAC-SHA1, keyed with the auth token, of
    the full URL followed by every POST parameter's name and value, sorted by name."""
    data = url + "".join(k + v for k, v in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _url_variants(url: str) -> list[str]:
    """``url`` as given, and with its default port added or removed (proxies and
    Twilio may disagree on whether ``:443`` is part of the URL)."""
    parts = urlsplit(url)
    default = _DEFAULT_PORTS.get(parts.scheme)
    try:
        port = parts.port
    except ValueError:
        return [url]
    if default is None or parts.hostname is None or (port is not None and port != default):
        return [url]
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    netloc = f"{prefix}{host}" if port is not None else f"{prefix}{host}:{default}"
    return [url, urlunsplit(parts._replace(netloc=netloc))]


def signature_valid(
    auth_token: str, url: str, params: Iterable[tuple[str, str]], signature: str
) -> bool:
    """Whether ``signature`` is Twilio's for this request (constant-time comparison)."""
    pairs = list(params)
    given = signature.encode()
    ok = False
    for candidate in _url_variants(url):
        expected = request_signature(auth_token, candidate, pairs).encode()
        ok |= hmac.compare_digest(expected, given)
    return ok


def connect_stream_twiml(stream_url: str, parameters: Mapping[str, str]) -> str:
    """TwiML that connects the call to a bidirectional media stream with these custom
    parameters (Twilio hands them back in the stream's ``start`` message)."""
    params = "".join(
        f"<Parameter name={quoteattr(k)} value={quoteattr(v)}/>" for k, v in parameters.items()
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Response><Connect><Stream url={quoteattr(stream_url)}>{params}</Stream>"
        "</Connect></Response>"
    )
