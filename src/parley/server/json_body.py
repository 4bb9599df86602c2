"""JSON request bodies that are safe to store, checked once for every route (pure ASGI).

Python's ``json`` (which FastAPI parses bodies with) accepts ``NaN``, ``Infinity`` and
``-Infinity``, and numbers such as ``1e999`` that overflow to infinity; none of them is
JSON, and a stored one comes back as ``null`` or breaks the response. Strings may carry
NUL, which some databases refuse and C strings end at, or lone surrogates, which are not
Unicode. A body with any of these, anywhere (object keys included), is refused with 422
``validation_error`` whose ``param`` is the path to the value (``metadata.notes.0``).
A body that is not JSON at all goes on to the route, which answers 400 as before.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parley.errors import ValidationError
from parley.server.body_limit import UPLOAD_PATH, under
from parley.server.errors import error_body
from parley.server.socketio_agent import SOCKETIO_PATH
from parley.server.validation import NonFinite, value_problem

NOT_JSON = (UPLOAD_PATH, SOCKETIO_PATH)
"""Paths whose bodies are never JSON (a multipart upload of up to 25 MiB, Engine.IO
packets): not parsed, whatever their Content-Type says."""


def json_problem(body: bytes) -> ValidationError | None:
    """The first value (in document order) that makes a JSON ``body`` unsafe to store,
    as a 422; None when there is none or when the body is not JSON."""
    try:
        document = json.loads(body, parse_constant=NonFinite)
    except (ValueError, RecursionError):
        return None
    return value_problem(document)


def is_json(scope: Scope) -> bool:
    """Whether the request says its body is JSON (as FastAPI decides to parse it)."""
    kind = Headers(scope=scope).get("content-type", "").split(";")[0].strip().lower()
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


class JsonBodyCheckMiddleware:
    """Read a JSON body whole, refuse it with 422 if :func:`json_problem` finds something,
    and hand it on otherwise. Paths in ``skip`` are left alone. Put it inside the body
    limit, which bounds what it reads."""

    def __init__(self, app: ASGIApp, skip: Iterable[str] = NOT_JSON) -> None:
        self.app = app
        self.skip = tuple(skip)

    def checks(self, scope: Scope) -> bool:
        """Whether this request's body is checked."""
        if scope["type"] != "http" or not is_json(scope):
            return False
        return not any(under(scope["path"], prefix) for prefix in self.skip)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.checks(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left, or the body limit answered
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problem = json_problem(body) if body else None
        if problem is not None:
            content = error_body(problem.code, problem.message, problem.param)
            await JSONResponse(content, problem.http_status)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
