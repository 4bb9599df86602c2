"""A cap on every HTTP request body, as pure ASGI middleware: a body over its path's limit
is answered with 413 (the shared JSON error body) before it is read.

A ``Content-Length`` over the limit is refused at once, without a byte of the body being
received; a body without one (chunked) is counted as the app receives it and refused as
soon as the count passes the limit. Either way the connection is then closed, so the rest
of the body is never read. WebSockets and lifespan events pass untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parley.knowledge.ingest import MAX_DOCUMENT_BYTES
from parley.server.errors import error_body
from parley.server.socketio_agent import SOCKETIO_PATH
from parley.server.speech import MAX_SPEECH_BODY_BYTES, MAX_UPLOAD_BYTES

log = logging.getLogger(__name__)

UPLOAD_PATH = "/v1/audio/transcriptions"
KNOWLEDGE_PATH = "/v1/knowledge-bases"
ROUTE_LIMITS: Mapping[str, int | None] = {
    UPLOAD_PATH: MAX_UPLOAD_BYTES,
    KNOWLEDGE_PATH: MAX_DOCUMENT_BYTES + 64 * 1024,
    "/v1/audio/speech": MAX_SPEECH_BODY_BYTES,
    SOCKETIO_PATH: None,
}
"""Paths (and everything below them) with a limit of their own in place of the default:
the speech routes' own limits (the routes check them too; the transcription upload's
counts the whole multipart body), a knowledge-base document's (its form around it),
and none for Socket.IO, whose engine reads at most its
``max_http_buffer_size`` of a body."""


def under(path: str, prefix: str) -> bool:
    """Whether ``path`` is ``prefix`` or below it."""
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


def declared_length(scope: Scope) -> int | None:
    """The largest ``Content-Length`` the request declares (None: none, or not a number)."""
    values = [v.strip() for v in Headers(scope=scope).getlist("content-length")]
    lengths = [int(v) for v in values if v.isascii() and v.isdigit()]
    return max(lengths) if lengths else None


def too_large(limit: int) -> JSONResponse:
    """The 413 response; the connection closes after it (the body is left unread)."""
    message = f"the request body is larger than this endpoint's limit of {limit} bytes"
    return JSONResponse(
        error_body("validation_error", message), 413, headers={"Connection": "close"}
    )


class BodyLimitMiddleware:
    """Refuse HTTP request bodies over ``max_body_bytes`` (or the path's own limit in
    ``routes``, see :data:`ROUTE_LIMITS`) with 413, before they are read."""

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        routes: Mapping[str, int | None] = ROUTE_LIMITS,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.routes = dict(routes)

    def limit(self, path: str) -> int | None:
        """The body limit of ``path`` (None: the app there limits its own bodies)."""
        for prefix, limit in self.routes.items():
            if under(path, prefix):
                return limit
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limit(scope["path"]) if scope["type"] == "http" else None
        if limit is None:
            await self.app(scope, receive, send)
            return
        length = declared_length(scope)
        if length is not None and length > limit:
            await too_large(limit)(scope, receive, send)
            return
        counter = _CountedBody(scope, receive, send, limit)
        try:
            await self.app(scope, counter.receive, counter.send)
        except Exception:
            if not counter.refused:
                raise
            # the app failed reading a body it was told had ended; the 413 is out
            log.debug("request handler stopped after a 413", exc_info=True)


class _CountedBody:
    """One request's ``receive`` and ``send``, counting the body's bytes."""

    def __init__(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        self.scope, self._receive, self._send, self.limit = scope, receive, send, limit
        self.received = 0
        self.over = False
        """The body passed the limit: the app gets ``http.disconnect`` from now on."""
        self.started = False
        self.refused = False
        """The 413 was sent in place of the app's response."""

    async def receive(self) -> Message:
        if self.over:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.over = True
                if not self.started:  # otherwise the response just stops the body
                    self.refused = True
                    await too_large(self.limit)(self.scope, self._receive, self._send)
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        if self.refused:
            return  # the 413 went out in place of the app's answer
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)
