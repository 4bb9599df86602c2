"""A real TCP relay on a free loopback port, to cause real network drops in tests.

Not a fake of anything: bytes go through unchanged to the target. A test points a client
at ``proxy.port`` and then

- :meth:`TcpProxy.cut` resets every relayed connection at once (both sides see an abrupt
  close, no WebSocket close handshake: a client gets 1006);
- :meth:`TcpProxy.refuse` stops listening, so new connections are refused
  (``ECONNREFUSED``), for a while or until :meth:`TcpProxy.accept` listens again on the
  same port.

::

    async with TcpProxy(server_port) as proxy:
        url = f"ws://127.0.0.1:{proxy.port}/v1/voice/conversation?..."
        ...
        proxy.cut()
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Coroutine
from typing import Any

#: Bytes read per chunk; each direction holds at most this much plus the socket buffers.
CHUNK = 65536


class _Relay:
    """One client connection and its upstream connection."""

    def __init__(self, down: asyncio.StreamWriter, up: asyncio.StreamWriter) -> None:
        self.writers = (down, up)

    def reset(self) -> None:
        for writer in self.writers:
            _reset(writer)

    async def pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        """Copy until the end of the stream and pass the end on (a half-close); a reset
        on either side resets both."""
        try:
            while data := await src.read(CHUNK):
                dst.write(data)
                await dst.drain()
            if dst.can_write_eof():
                dst.write_eof()
        except (ConnectionError, OSError):
            self.reset()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (SO_LINGER 0), not a polite FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class TcpProxy:
    """Relays ``127.0.0.1:port`` to ``target_host:target_port``; see the module docs."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target_host, self.target_port = target_host, target_port
        self.host = "127.0.0.1"
        self.port = 0
        #: Connections accepted so far, and those cut by :meth:`cut`.
        self.accepted = 0
        self.cuts = 0
        self._server: asyncio.Server | None = None
        self._relays: set[_Relay] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._reopen: asyncio.TimerHandle | None = None

    async def __aenter__(self) -> TcpProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def listening(self) -> bool:
        """Whether new connections are accepted now."""
        return self._server is not None

    @property
    def live(self) -> int:
        """Connections being relayed now."""
        return len(self._relays)

    async def start(self) -> None:
        """Listen on a free loopback port (kept by :meth:`accept` after :meth:`refuse`)."""
        if self._server is None:
            self._server = await asyncio.start_server(self._handle, self.host, self.port)
            self.port = int(self._server.sockets[0].getsockname()[1])

    def cut(self) -> int:
        """Reset every relayed connection now; how many there were."""
        relays, self._relays = self._relays, set()
        for relay in relays:
            relay.reset()
        self.cuts += len(relays)
        return len(relays)

    async def refuse(self, for_s: float | None = None) -> None:
        """Stop listening (connects are refused); listen again after ``for_s`` seconds, or
        on :meth:`accept`. Connections already relayed go on (``cut`` them too for a full
        outage)."""
        self._cancel_reopen()
        if self._server is not None:
            server, self._server = self._server, None
            server.close()
            await server.wait_closed()
        if for_s is not None:
            loop = asyncio.get_running_loop()
            self._reopen = loop.call_later(for_s, lambda: self._spawn(self.accept()))

    async def accept(self) -> None:
        """Listen again, on the same port."""
        self._cancel_reopen()
        await self.start()

    async def stop(self) -> None:
        """Stop listening, cut everything and wait for the relays to finish."""
        self._cancel_reopen()
        await self.refuse()
        self.cut()
        tasks = list(self._tasks)
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=5.0)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)

    def _cancel_reopen(self) -> None:
        if self._reopen is not None:
            self._reopen.cancel()
            self._reopen = None

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            _reset(writer)
            return
        relay = _Relay(writer, up_writer)
        self._relays.add(relay)
        try:
            await asyncio.gather(relay.pipe(reader, up_writer), relay.pipe(up_reader, writer))
        except asyncio.CancelledError:
            pass  # stop(): the connection is reset below; asyncio's stream callback wants no error
        finally:
            self._relays.discard(relay)
            for w in relay.writers:
                w.transport.abort()
