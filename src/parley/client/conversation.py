"""A live conversation over the native WebSocket protocol, raw: JSON messages in and out."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

import websockets


def conversation_url(base_url: str, api_key: str, agent_id: str) -> str:
    """WebSocket URL of a native conversation."""
    ws_base = base_url.rstrip("/").replace("https://", "wss://").replace("http://", "ws://")
    return (
        f"{ws_base}/v1/voice/conversation?{urlencode({'api_key': api_key, 'agent_id': agent_id})}"
    )


class Conversation:
    """A raw native-protocol conversation: send audio/text/control, iterate server events."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._ws: Any = None

    async def __aenter__(self) -> Conversation:
        self._ws = await websockets.connect(self.url, max_size=None)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def send(self, message: dict[str, Any]) -> None:
        """Send one JSON message."""
        await self._ws.send(json.dumps(message))

    async def send_raw(self, frame: str | bytes) -> None:
        """Send a frame as is (for testing the server's error handling)."""
        await self._ws.send(frame)

    async def send_audio(self, pcm: bytes) -> None:
        """Send PCM16 16 kHz mono audio."""
        await self.send({"type": "audio", "audio": base64.b64encode(pcm).decode("ascii")})

    async def recv(self, timeout: float | None = None) -> dict[str, Any]:
        """The next server event."""
        raw = await asyncio.wait_for(self._ws.recv(), timeout)
        event: dict[str, Any] = json.loads(raw)
        return event

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Every server event until the socket closes."""
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self._ws:
                yield json.loads(raw)

    @property
    def close_code(self) -> int | None:
        """The close code once the socket is closed."""
        return None if self._ws is None else self._ws.close_code

    async def close(self) -> None:
        """Close the socket."""
        if self._ws is not None:
            await self._ws.close()
