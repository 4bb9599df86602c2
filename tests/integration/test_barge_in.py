"""Barge-in with real speech over a real socket: the agent stops, forgets what was not
heard, and answers the new utterance."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from parley.audio.wav import read_wav
from parley.client import Conversation, conversation_url
from parley.storage import Database, SessionRepository
from parley.testing.recordings import Recording
from tests.integration.conftest import Server

pytestmark = pytest.mark.integration
FRAME = 1024  # 32 ms of PCM16 at 16 kHz


async def _stream(conv: Conversation, pcm: bytes) -> None:
    """Send audio in real time."""
    start = time.monotonic()
    for n, i in enumerate(range(0, len(pcm), FRAME)):
        await conv.send_audio(pcm[i : i + FRAME])
        await asyncio.sleep(max(0.0, start + (n + 1) * 0.032 - time.monotonic()))


async def test_user_interrupts_the_agent_with_real_speech(
    server: Server, speech: dict[str, Recording]
) -> None:
    question = read_wav(speech["librivox-0870"].path)
    interruption = read_wav(speech["cards-005"].path)
    events: list[dict[str, Any]] = []
    async with Conversation(conversation_url(server.url, server.admin_key, "agt_demo")) as conv:

        async def listen() -> None:
            async for event in conv.events():
                event["_at"] = time.monotonic()
                events.append(event)

        listener = asyncio.create_task(listen())

        async def wait_for(predicate: Any, timeout: float = 60.0) -> dict[str, Any]:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                found = next((e for e in events if predicate(e)), None)
                if found is not None:
                    return found
                await _stream(conv, bytes(FRAME))  # silence, as a live microphone sends
            raise AssertionError(f"timed out; last events: {[e['type'] for e in events[-8:]]}")

        connected = await wait_for(lambda e: e["type"] == "connected")
        await wait_for(lambda e: e["type"] == "agent_turn_end")  # the greeting
        await _stream(conv, bytes(FRAME) * 60)  # let it play out
        await _stream(conv, question)
        first = await wait_for(lambda e: e["type"] == "transcript" and e["role"] == "user")
        answer_turn = first["turn_id"]
        await wait_for(lambda e: e["type"] == "audio" and e["turn_id"] == answer_turn)
        await _stream(conv, interruption)
        cut = await wait_for(lambda e: e["type"] == "interruption")
        assert cut["turn_id"] == answer_turn
        second = await wait_for(
            lambda e: e["type"] == "transcript" and e["role"] == "user" and e is not first
        )
        assert "spades" in second["text"].lower()
        await wait_for(
            lambda e: e["type"] == "agent_turn_end" and e["turn_id"] == second["turn_id"]
        )
        await conv.send({"type": "end"})
        await wait_for(lambda e: e["type"] == "session_ended", timeout=10)
        listener.cancel()

    late = [
        e
        for e in events
        if e["type"] == "audio" and e["turn_id"] == answer_turn and e["_at"] > cut["_at"]
    ]
    assert late == [], "no audio of the interrupted turn after the interruption"
    replies = [e for e in events if e["type"] == "audio" and e["turn_id"] == second["turn_id"]]
    assert replies, "the agent answered the new utterance"

    db = Database(server.database_url)
    await db.connect()
    try:
        turns = await SessionRepository(db).turns(connected["conversation_id"])
    finally:
        await db.close()
    (stopped,) = [t for t in turns if t.turn_id == answer_turn and t.role == "agent"]
    assert stopped.interrupted
    partials = [
        e["text"]
        for e in events
        if e["type"] == "transcript" and e["role"] == "agent" and e["turn_id"] == answer_turn
    ]
    sent_text = partials[-1] if partials else ""
    assert sent_text.startswith(stopped.text), (stopped.text, sent_text)
    user_turns = [t.text for t in turns if t.role == "user"]
    assert user_turns == [first["text"], second["text"]]
