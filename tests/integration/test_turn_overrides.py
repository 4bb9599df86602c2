"""Per-conversation turn settings in the WebSocket URL."""

from __future__ import annotations

import asyncio
import time

import pytest
import websockets

from parley.audio.wav import read_wav
from parley.client import Conversation, conversation_url
from parley.testing.recordings import Recording
from tests.integration.conftest import Server

pytestmark = pytest.mark.integration


async def test_invalid_override_is_refused_with_4000(server: Server) -> None:
    url = conversation_url(server.url, server.admin_key, "agt_demo") + "&interrupt_threshold=99"
    async with Conversation(url) as conv:
        error = await conv.recv(timeout=10)
        with pytest.raises(websockets.ConnectionClosed):
            await conv.recv(timeout=10)
    assert error["code"] == "validation_error" and error["message"].startswith(
        "interrupt_threshold:"
    )
    assert conv.close_code == 4000


async def test_end_of_turn_silence_applies_to_this_conversation(
    server: Server, speech: dict[str, Recording]
) -> None:
    url = conversation_url(server.url, server.admin_key, "agt_demo")
    async with Conversation(url + "&end_of_turn_silence_ms=900&turn_detection=silence") as conv:
        assert (await conv.recv(timeout=10))["type"] == "connected"
        pcm = read_wav(speech["cards-003"].path) + bytes(32000 * 2)  # 2 s of silence after
        start = time.monotonic()
        for n, i in enumerate(range(0, len(pcm), 1024)):  # in real time, as a microphone
            await conv.send_audio(pcm[i : i + 1024])
            await asyncio.sleep(max(0.0, start + (n + 1) * 0.032 - time.monotonic()))
        metrics = None
        while metrics is None:
            event = await conv.recv(timeout=60)
            if event["type"] == "metrics":
                metrics = event["latency_ms"]
    assert 880 <= metrics["endpointing"] < 1300, metrics
