"""A live conversation over the native WebSocket protocol, raw: JSON messages in and out.
It resumes by itself after a drop (docs/sdk.md, "Reconnection"; :mod:`.reconnect`)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    InvalidHandshake,
    InvalidStatus,
)

from parley.client import reconnect as rc
from parley.client.reconnect import ReconnectPolicy

#: Server events held for the reader at most; past it, reading the socket waits.
MAX_QUEUED_EVENTS = 256


def conversation_url(base_url: str, api_key: str, agent_id: str) -> str:
    """WebSocket URL of a native conversation."""
    ws_base = base_url.rstrip("/").replace("https://", "wss://").replace("http://", "ws://")
    return (
        f"{ws_base}/v1/voice/conversation?{urlencode({'api_key': api_key, 'agent_id': agent_id})}"
    )


class _Refused(Exception):
    """A resume attempt failed: ``reason``; ``final`` when retrying cannot help."""

    def __init__(self, reason: str, final: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.final = reason, final


class Conversation:
    """A raw native-protocol conversation: send audio/text/control, iterate server events.

    After a drop (a network failure, or a replica that drains or dies) it reconnects with
    the latest ``resume_token`` and backoff (``reconnect``: a :class:`ReconnectPolicy`,
    or ``False`` for none). The reader then sees ``{"type": "reconnecting", "attempt",
    "delay_ms", "reason"}`` before each attempt and ``{"type": "reconnected",
    "conversation_id", "attempts"}`` instead of the second ``connected``. While
    disconnected, audio is dropped and other messages wait for the new socket. ``rand`` and
    ``clock`` are injectable for tests."""

    def __init__(
        self,
        url: str,
        *,
        reconnect: bool | ReconnectPolicy = True,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.policy = ReconnectPolicy.of(reconnect)
        #: From the latest ``connected`` event.
        self.conversation_id: str | None = None
        self.resume_token: str | None = None
        #: Successful resumes, and audio messages dropped while disconnected.
        self.reconnects = 0
        self.audio_dropped = 0
        self._rand, self._clock = rand, clock
        self._ws: ClientConnection | None = None
        self._inbox: deque[dict[str, Any]] = deque()
        self._changed = asyncio.Event()
        self._online = False
        self._finished = False
        self._closing = False
        self._failure: BaseException | None = None
        self._window_s: float | None = None  # a draining server's resume_within_s
        self._held_end: dict[str, Any] | None = None  # its session_ended, told on giving up
        self._supervisor: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Conversation:
        self._ws = await connect(self.url, max_size=None)
        self._online = True
        self._supervisor = asyncio.create_task(self._supervise(), name="parley-conversation")
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # ---- the public API -----------------------------------------------------------

    async def send(self, message: dict[str, Any]) -> None:
        """Send one JSON message (audio is dropped while disconnected)."""
        await self._send(json.dumps(message), audio=message.get("type") == "audio")

    async def send_raw(self, frame: str | bytes) -> None:
        """Send a frame as is (for testing the server's error handling)."""
        await self._send(frame, audio=False)

    async def send_audio(self, pcm: bytes) -> None:
        """Send PCM16 16 kHz mono audio (dropped while disconnected)."""
        await self.send({"type": "audio", "audio": base64.b64encode(pcm).decode("ascii")})

    async def recv(self, timeout: float | None = None) -> dict[str, Any]:
        """The next server event; ``ConnectionClosed`` once there are no more."""
        await self._wait(lambda: bool(self._inbox) or self._finished, timeout)
        if self._inbox:
            return self._take()
        raise await self._end_error()

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Every server event until the conversation is over."""
        while True:
            await self._wait(lambda: bool(self._inbox) or self._finished)
            if not self._inbox:
                if self._failure is not None:
                    raise self._failure
                return
            yield self._take()

    @property
    def connected(self) -> bool:
        """Whether a socket is open now (``False`` while reconnecting and at the end)."""
        return self._online

    @property
    def close_code(self) -> int | None:
        """The close code once the socket is closed (the last socket's)."""
        return None if self._ws is None else self._ws.close_code

    async def close(self) -> None:
        """Close the socket and stop reconnecting."""
        self._closing = True
        task = self._supervisor
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._ws is not None:
            await self._ws.close()
        self._finish()

    # ---- sending --------------------------------------------------------------------

    async def _send(self, frame: str | bytes, *, audio: bool) -> None:
        if self._ws is None:
            raise RuntimeError("use `async with Conversation(url) as conv:`")
        while True:
            if not (self._online or self._finished):
                if audio:
                    self.audio_dropped += 1
                    return
                await self._wait(lambda: self._online or self._finished)
                continue
            ws = self._ws
            try:
                await ws.send(frame)
                return
            except ConnectionClosed:
                if self._finished or not self._resumable():
                    raise
                if audio:
                    self.audio_dropped += 1
                    return
                # the reader notices the drop too: wait for its new socket (or the end)
                await self._wait(self._moved_on(ws))

    def _moved_on(self, ws: ClientConnection) -> Callable[[], bool]:
        return lambda: self._ws is not ws or self._finished

    # ---- the reader: events in, drops noticed, resumes -------------------------------

    async def _supervise(self) -> None:
        try:
            assert self._ws is not None
            reason = await self._pump(self._ws)
            while reason is not None:
                reason = await self._resume(reason)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # e.g. a frame that is not JSON: the reader raises it
            self._failure = exc
        finally:
            self._finish()

    async def _pump(self, ws: ClientConnection) -> str | None:
        """Read events until the socket closes; the reason to resume, or ``None``."""
        ended = False
        resumable_end: str | None = None
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                event: dict[str, Any] = json.loads(raw)
                kind = event.get("type")
                if kind == "connected":
                    self._on_connected(event)
                elif kind == "session_ended":
                    if event.get("resumable") is True and self._resumable():
                        resumable_end = str(event.get("reason") or "server_shutdown")
                        self._window_s = rc.announced_window(event.get("resume_within_s"))
                        self._held_end = event
                        continue
                    ended = True
                await self._deliver(event)
        self._online = False
        self._wake()
        if ended or not self._resumable():
            return None
        return resumable_end or rc.close_reason(ws.close_code)

    async def _resume(self, reason: str) -> str | None:
        """Reconnect with backoff until resumed (then pump that socket: the reason of its
        drop, or ``None``), refused for good, or out of time (``None``)."""
        backoff = rc.Backoff(self.policy, self._window_s, rand=self._rand, clock=self._clock)
        self._window_s = None
        while (delay := backoff.next_delay()) is not None:
            await self._deliver(
                {
                    "type": "reconnecting",
                    "attempt": backoff.attempts,
                    "delay_ms": round(delay * 1000),
                    "reason": reason,
                }
            )
            await asyncio.sleep(delay)
            try:
                ws, connected = await self._attempt(backoff.attempt_timeout())
            except _Refused as refused:
                if refused.final:
                    return None
                reason = refused.reason
                continue
            self._ws, self._online, self._held_end = ws, True, None
            self.reconnects += 1
            self._on_connected(connected)
            self._wake()
            await self._deliver(
                {
                    "type": "reconnected",
                    "conversation_id": self.conversation_id,
                    "attempts": backoff.attempts,
                }
            )
            return await self._pump(ws)
        await self._deliver(
            {
                "type": "error",
                "code": "session_error",
                "message": f"could not resume the conversation "
                f"({backoff.attempts} attempts in {backoff.window_s:g} s): {reason}",
                "reason": reason,
            }
        )
        if self._held_end is not None:
            await self._deliver(self._held_end)
        return None

    async def _attempt(self, timeout: float) -> tuple[ClientConnection, dict[str, Any]]:
        """One resume: the new socket and its ``connected`` event, or :class:`_Refused`."""
        assert self.resume_token is not None
        url = rc.resume_url(self.url, self.resume_token)
        try:
            ws = await connect(url, max_size=None, open_timeout=timeout)
        except InvalidStatus as exc:
            status = exc.response.status_code
            raise _Refused(f"http_{status}", final=not rc.http_retryable(status)) from exc
        except (OSError, InvalidHandshake) as exc:
            raise _Refused(rc.connect_failure(exc)) from exc
        try:
            return ws, await self._handshake(ws, timeout)
        except asyncio.CancelledError:
            ws.transport.abort()  # close() came: no socket is left behind
            raise

    async def _handshake(self, ws: ClientConnection, timeout: float) -> dict[str, Any]:
        """The ``connected`` event of a resumed socket, or :class:`_Refused`."""
        try:
            first: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        except (ConnectionClosed, TimeoutError, ValueError) as exc:
            await ws.close()
            raise _Refused(rc.close_reason(ws.close_code) or "timeout") from exc
        if first.get("type") == "connected":
            return first
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ws.wait_closed(), timeout)
        await ws.close()
        reason = rc.close_reason(ws.close_code)
        if reason is not None:  # 1013: at capacity or draining; the token still works
            raise _Refused(reason)
        self._ws = ws  # final (4001, 4004): the reader gets the server's error and code
        if first.get("type") == "error":
            await self._deliver(first)
        raise _Refused(f"close_{ws.close_code}", final=True)

    def _on_connected(self, event: dict[str, Any]) -> None:
        if isinstance(event.get("conversation_id"), str):
            self.conversation_id = event["conversation_id"]
        self.resume_token = rc.usable_token(event.get("resume_token"))

    def _resumable(self) -> bool:
        return self.policy.enabled and self.resume_token is not None and not self._closing

    # ---- the inbox ------------------------------------------------------------------

    async def _deliver(self, event: dict[str, Any]) -> None:
        await self._wait(lambda: len(self._inbox) < MAX_QUEUED_EVENTS or self._closing)
        self._inbox.append(event)
        self._wake()

    def _take(self) -> dict[str, Any]:
        event = self._inbox.popleft()
        self._wake()
        return event

    def _finish(self) -> None:
        self._online, self._finished = False, True
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait(self, ready: Callable[[], bool], timeout: float | None = None) -> None:
        if self._supervisor is None and not self._finished:
            raise RuntimeError("use `async with Conversation(url) as conv:`")

        async def until() -> None:
            while not ready():
                await self._changed.wait()

        await asyncio.wait_for(until(), timeout)

    async def _end_error(self) -> BaseException:
        """What ``recv`` raises at the end: the reader's failure, or the socket's own
        ``ConnectionClosed``."""
        if self._failure is not None:
            return self._failure
        assert self._ws is not None
        try:
            await self._ws.recv()
        except ConnectionClosed as closed:
            return closed
        return ConnectionClosedError(None, None)
