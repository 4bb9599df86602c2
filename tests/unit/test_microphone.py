"""The simulated microphone when the connection goes away mid-utterance."""

from __future__ import annotations

import asyncio

import pytest

from parley.client.microphone import Microphone


async def test_an_utterance_fails_when_sending_fails_instead_of_waiting_forever() -> None:
    sent: list[bytes] = []

    async def send(frame: bytes) -> None:
        if len(sent) == 3:
            raise ConnectionError("closed by the server")
        sent.append(frame)

    async with Microphone(send, realtime=False) as mic:
        first, second = mic.say(b"\x00\x01" * 8000), mic.say(b"\x00\x01" * 8000)
        with pytest.raises(ConnectionError, match="closed by the server"):
            await asyncio.wait_for(first, 5)
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(second, 5)
    assert len(sent) == 3
