"""A TEST webhook server: a real HTTP server (aiohttp) on 127.0.0.1, in a thread, playing
a user's webhook endpoint for tests and benchmarks of webhook tools. Not part of Parley.

Routes (any method):

- ``/echo``: 200 JSON of what it got (method, path, query, headers, JSON body) and
  whether the ``Parley-Signature`` header verifies with the server's signing secret;
- ``/slow?ms=N``: answers ``{"ok": true}`` after N ms;
- ``/fail/{key}``: HTTP 500, counting requests per key (:attr:`attempts`);
- ``/status/{code}``: that status with a JSON error body;
- ``/html``, ``/text``: a page, plain text;
- ``/list``: a JSON array;
- ``/big?mb=N[&length=1]``: N MB of JSON-looking bytes in 64 KiB writes (with
  ``length=1`` a Content-Length header), recording in :attr:`big` how many bytes were
  written and whether the client went away first;
- ``/redirect``: 302 to ``/echo``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web

from parley.tools.signing import HEADER, verify

CHUNK = 64 * 1024


@dataclass
class BigSent:
    """One ``/big`` answer: bytes written and whether the client hung up before the end."""

    written: int = 0
    aborted: bool = False
    done: threading.Event = field(default_factory=threading.Event)


class WebhookTestServer:
    """Start with ``with WebhookTestServer(secret) as server:``; :attr:`url` is its base."""

    def __init__(self, signing_secret: str = "") -> None:
        self.signing_secret = signing_secret
        self.attempts: dict[str, int] = {}
        self.big: list[BigSent] = []
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> WebhookTestServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        app = web.Application()
        routes = {
            "/echo": self._echo,
            "/slow": self._slow,
            "/fail/{key}": self._fail,
            "/status/{code}": self._status,
            "/html": self._html,
            "/text": self._text,
            "/list": self._list,
            "/big": self._big,
            "/redirect": self._redirect,
        }
        for path, handler in routes.items():
            app.router.add_route("*", path, handler)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def _echo(self, request: web.Request) -> web.Response:
        raw = await request.read()
        query = request.raw_path.partition("?")[2].encode()
        signed = query if request.method in ("GET", "DELETE") else raw
        header = request.headers.get(HEADER)
        valid = bool(header) and verify(self.signing_secret, header or "", signed, time.time())
        body: Any = json.loads(raw) if raw else None
        return web.json_response(
            {
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "headers": dict(request.headers),
                "json": body,
                "signature_valid": valid,
            }
        )

    async def _slow(self, request: web.Request) -> web.Response:
        await asyncio.sleep(int(request.query.get("ms", "1000")) / 1000)
        return web.json_response({"ok": True})

    async def _fail(self, request: web.Request) -> web.Response:
        key = request.match_info["key"]
        self.attempts[key] = self.attempts.get(key, 0) + 1
        return web.json_response({"error": "boom"}, status=500)

    async def _status(self, request: web.Request) -> web.Response:
        code = int(request.match_info["code"])
        return web.json_response({"error": f"status {code}", "found": False}, status=code)

    async def _html(self, request: web.Request) -> web.Response:
        return web.Response(text="<html><body>Hello</body></html>", content_type="text/html")

    async def _text(self, request: web.Request) -> web.Response:
        return web.Response(text="hello", content_type="text/plain")

    async def _list(self, request: web.Request) -> web.Response:
        return web.json_response([1, 2, 3])

    async def _redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/echo")

    async def _big(self, request: web.Request) -> web.StreamResponse:
        total = int(float(request.query.get("mb", "10")) * 1024 * 1024)
        sent = BigSent()
        self.big.append(sent)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        if request.query.get("length"):
            response.content_length = total
        try:
            await response.prepare(request)
            chunk = b"[" + b"0," * (CHUNK // 2 - 1) + b"0"
            while sent.written < total:
                part = chunk[: total - sent.written]
                await response.write(part)
                sent.written += len(part)
            await response.write_eof()
        except ConnectionError:
            sent.aborted = True
        finally:
            sent.done.set()
        return response
