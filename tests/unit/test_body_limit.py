"""The request-body middlewares at the ASGI level: the size cap (413 before the body is
read, or as soon as a chunked one passes the limit) and the JSON check (422 for NaN,
Infinity, NUL and lone surrogates, naming the path)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from parley.knowledge.ingest import MAX_DOCUMENT_BYTES
from parley.server.body_limit import ROUTE_LIMITS, BodyLimitMiddleware, declared_length
from parley.server.json_body import JsonBodyCheckMiddleware, json_problem
from parley.server.speech import MAX_SPEECH_BODY_BYTES, MAX_UPLOAD_BYTES


class Recorder:
    """An ASGI app that reads its whole body and answers 200 with its length."""

    def __init__(self) -> None:
        self.received: list[Message] = []
        self.body = b""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            self.received.append(message)
            if message["type"] != "http.request":
                raise RuntimeError("client disconnected")  # as Starlette's ClientDisconnect
            self.body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(len(self.body)).encode()})


def http_scope(path: str = "/v1/agents", headers: Iterable[tuple[str, str]] = ()) -> Scope:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers]
    return {"type": "http", "method": "POST", "path": path, "headers": raw}


async def call(app: Any, scope: Scope, chunks: list[bytes]) -> tuple[list[Message], int]:
    """Run ``app`` with a body in ``chunks``; ``(messages sent, chunks it pulled)``."""
    pulled = 0

    async def receive() -> Message:
        nonlocal pulled
        if pulled >= len(chunks):
            return {"type": "http.disconnect"}
        pulled += 1
        return {
            "type": "http.request",
            "body": chunks[pulled - 1],
            "more_body": pulled < len(chunks),
        }

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent, pulled


def response(sent: list[Message]) -> tuple[int, dict[str, str], Any]:
    start, body = sent[0], b"".join(m.get("body", b"") for m in sent[1:])
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    is_json = headers.get("content-type") == "application/json"
    return start["status"], headers, json.loads(body) if is_json else body


async def test_a_declared_length_over_the_limit_is_refused_unread() -> None:
    inner = Recorder()
    app = BodyLimitMiddleware(inner, max_body_bytes=1000)
    scope = http_scope(headers=[("content-length", "50000000")])
    sent, pulled = await call(app, scope, [b"x" * 1000] * 3)
    status, headers, body = response(sent)
    assert (status, pulled, inner.received) == (413, 0, [])
    assert headers["connection"] == "close"
    assert body == {
        "error": {
            "type": "validation_error",
            "code": "validation_error",
            "message": "the request body is larger than this endpoint's limit of 1000 bytes",
            "param": None,
        }
    }


async def test_a_chunked_body_is_cut_off_as_it_passes_the_limit() -> None:
    inner = Recorder()
    app = BodyLimitMiddleware(inner, max_body_bytes=1000)
    sent, pulled = await call(app, http_scope(), [b"x" * 400] * 10)
    status, _, body = response(sent)
    assert status == 413 and body["error"]["code"] == "validation_error"
    assert pulled == 3  # 1200 bytes: nothing more is read
    assert inner.received[-1] == {"type": "http.disconnect"}
    assert len(sent) == 2  # the app's own answer (it failed) is not sent


async def test_bodies_within_the_limit_pass() -> None:
    inner = Recorder()
    app = BodyLimitMiddleware(inner, max_body_bytes=1000)
    scope = http_scope(headers=[("content-length", "1000")])
    sent, _ = await call(app, scope, [b"x" * 500, b"x" * 500])
    assert response(sent)[:1] == (200,) and inner.body == b"x" * 1000


async def test_an_answer_already_started_is_not_replaced() -> None:
    async def streams(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        while (await receive())["type"] == "http.request":
            pass
        await send({"type": "http.response.body", "body": b"done"})

    sent, pulled = await call(
        BodyLimitMiddleware(streams, max_body_bytes=100), http_scope(), [b"x" * 60] * 5
    )
    assert [m.get("status") for m in sent] == [200, None] and pulled == 2


@pytest.mark.parametrize("kind", ["websocket", "lifespan"])
async def test_other_scopes_pass_untouched(kind: str) -> None:
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)

    scope = {"type": kind, "path": "/", "headers": [(b"content-length", b"99999999")]}
    await call(BodyLimitMiddleware(app, max_body_bytes=1024), scope, [])
    assert seen == [scope]


def test_route_limits() -> None:
    app = BodyLimitMiddleware(Recorder(), max_body_bytes=1 << 20)
    assert app.limit("/v1/agents") == 1 << 20
    assert app.limit("/v1/audio/transcriptions") == MAX_UPLOAD_BYTES
    assert app.limit("/socket.io/") is None  # engine.io limits its own bodies
    assert app.limit("/socket.iox") == 1 << 20
    assert app.limit("/v1/audio/speech") == MAX_SPEECH_BODY_BYTES
    assert app.limit("/v1/knowledge-bases/kb_1/documents") == MAX_DOCUMENT_BYTES + 64 * 1024
    assert set(ROUTE_LIMITS) == {
        "/v1/audio/transcriptions",
        "/v1/audio/speech",
        "/socket.io",
        "/v1/knowledge-bases",
    }


def test_declared_length() -> None:
    assert declared_length(http_scope(headers=[("content-length", "12")])) == 12
    assert declared_length(http_scope(headers=[("content-length", "x")])) is None
    assert declared_length(http_scope(headers=[("content-length", "\u00b2")])) is None
    assert declared_length(http_scope()) is None


@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        (b'{"metadata": {"a": NaN}}', "metadata.a", "NaN is not a JSON number"),
        (b'{"x": [1, -Infinity]}', "x.1", "-Infinity is not a JSON number"),
        (b'{"x": 1e999}', "x", "the number is too large for a 64-bit float"),
        (b'{"p": "a\\u0000b"}', "p", "must not contain NUL (\\u0000)"),
        (b'{"m": {"k\\u0000": 1}}', "m", "a key must not contain NUL (\\u0000)"),
        (b'{"m": ["\\ud800"]}', "m.0", "must not contain a lone surrogate"),
        (b"NaN", None, "the request body: NaN is not a JSON number"),
        (b'{"a": "\\u0000", "b": NaN}', "a", "must not contain NUL"),  # the first one
    ],
)
def test_json_problems(body: bytes, param: str | None, message: str) -> None:
    problem = json_problem(body)
    assert problem is not None and problem.param == param and message in problem.message
    assert problem.http_status == 422 and problem.code == "validation_error"


@pytest.mark.parametrize(
    "body", [b'{"a": "\\ud83d\\ude00", "b": 1.5e300, "c": [null, true]}', b"{", b"[" * 5000]
)
def test_fine_or_not_json_at_all(body: bytes) -> None:
    assert json_problem(body) is None  # a body that is not JSON is the route's to refuse


async def test_the_json_check_refuses_and_replays() -> None:
    inner = Recorder()
    app = JsonBodyCheckMiddleware(inner)
    json_type = [("content-type", "application/json; charset=utf-8")]
    sent, _ = await call(app, http_scope(headers=json_type), [b'{"a": ', b"NaN}"])
    status, _, body = response(sent)
    assert status == 422 and body["error"]["param"] == "a" and inner.received == []

    sent, _ = await call(app, http_scope(headers=json_type), [b'{"a": ', b"1}"])
    assert response(sent)[0] == 200 and inner.body == b'{"a": 1}'

    skipped = Recorder()
    app = JsonBodyCheckMiddleware(skipped)
    await call(app, http_scope(headers=[("content-type", "text/plain")]), [b"NaN"])
    upload = http_scope("/v1/audio/transcriptions", json_type)
    await call(app, upload, [b"NaN"])
    assert skipped.body == b"NaNNaN"
