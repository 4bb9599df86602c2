"""The ``call`` driver: talk to an agent as a person on a microphone would, and record
what came back (replies, their audio, timings)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from parley.audio.levels import speech_bounds_ms
from parley.audio.pcm import SAMPLE_RATE
from parley.client.conversation import Conversation, conversation_url
from parley.client.microphone import Microphone
from parley.client.reconnect import ReconnectPolicy


@dataclass
class AgentReply:
    """One agent turn as the client saw it."""

    turn_id: str
    text: str = ""
    audio: bytearray = field(default_factory=bytearray)
    interrupted: bool = False
    metrics: dict[str, float | None] = field(default_factory=dict)
    first_audio_at: float | None = None


@dataclass
class CallTurn:
    """A user utterance and the agent's reply to it."""

    user_text: str
    reply: AgentReply | None
    speech_end_at: float
    client_voice_to_voice_ms: float | None


@dataclass
class CallResult:
    """Everything a :func:`call` saw."""

    conversation_id: str
    greeting: AgentReply | None
    turns: list[CallTurn]
    events: list[dict[str, Any]]
    session_ended: str | None = None
    #: Times the conversation was resumed after a drop.
    reconnects: int = 0

    @property
    def agent_audio(self) -> bytes:
        """All agent audio in order, greeting included."""
        replies = [self.greeting] + [t.reply for t in self.turns]
        return b"".join(bytes(r.audio) for r in replies if r is not None)


def trailing_silence_ms(pcm: bytes) -> float:
    """Length of the quiet tail of an utterance, after its last speech frame."""
    bounds = speech_bounds_ms(pcm)
    total = len(pcm) / 2 / SAMPLE_RATE * 1000.0
    return 0.0 if bounds is None else max(0.0, total - bounds[1])


async def _until_played(reply: AgentReply) -> None:
    """Wait until a client playing the reply in real time would have finished it."""
    if reply.first_audio_at is None:
        return
    ends_at = reply.first_audio_at + len(reply.audio) / 2 / SAMPLE_RATE + 0.15
    await asyncio.sleep(max(0.0, ends_at - time.monotonic()))


class _Listener:
    """Collects server events and groups them into agent replies."""

    def __init__(self, conv: Conversation) -> None:
        self.conv = conv
        self.events: list[dict[str, Any]] = []
        self.replies: dict[str, AgentReply] = {}
        self.user_texts: dict[str, str] = {}
        self.ended: str | None = None
        self.changed = asyncio.Condition()

    async def run(self) -> None:
        async for event in self.conv.events():
            now = time.monotonic()
            event["_received_at"] = now
            self.events.append(event)
            kind, turn_id = event.get("type"), str(event.get("turn_id", ""))
            if kind == "agent_turn_start":
                self.replies.setdefault(turn_id, AgentReply(turn_id))
            elif kind == "audio":
                reply = self.replies.setdefault(turn_id, AgentReply(turn_id))
                reply.first_audio_at = reply.first_audio_at or now
                reply.audio += base64.b64decode(event["audio"])
            elif kind == "transcript" and event["role"] == "agent":
                self.replies.setdefault(turn_id, AgentReply(turn_id)).text = event["text"]
            elif kind == "transcript" and event["role"] == "user":
                self.user_texts[turn_id] = event["text"]
            elif kind == "metrics":
                self.replies.setdefault(turn_id, AgentReply(turn_id)).metrics = event["latency_ms"]
            elif kind == "interruption":
                self.replies.setdefault(turn_id, AgentReply(turn_id)).interrupted = True
            elif kind == "session_ended":
                self.ended = event["reason"]
            async with self.changed:
                self.changed.notify_all()
        async with self.changed:
            self.ended = self.ended or "closed"
            self.changed.notify_all()

    async def wait_for(self, predicate: Any, timeout: float) -> bool:
        async def wait() -> None:
            async with self.changed:
                await self.changed.wait_for(lambda: predicate() or self.ended is not None)

        try:
            await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            return False
        return bool(predicate())

    def done_turns(self) -> set[str]:
        return {e["turn_id"] for e in self.events if e.get("type") == "agent_turn_end"}


async def call(
    base_url: str,
    api_key: str,
    agent_id: str,
    utterances: list[bytes],
    *,
    realtime: bool = True,
    reply_timeout: float = 60.0,
    greeting_timeout: float = 30.0,
    reconnect: bool | ReconnectPolicy = True,
) -> CallResult:
    """Talk to an agent like a person would: wait for its greeting, say each utterance
    (streaming silence in between, as a microphone does) and wait for each reply. After a
    drop the conversation resumes unless ``reconnect`` is off; what is said meanwhile is
    lost (that turn may then go unanswered)."""
    url = conversation_url(base_url, api_key, agent_id)
    async with Conversation(url, reconnect=reconnect) as conv:
        first = await conv.recv(timeout=30)
        if first.get("type") != "connected":
            raise ConnectionError(f"{first.get('code')}: {first.get('message')}")
        listener = _Listener(conv)
        listening = asyncio.create_task(listener.run())
        mic = Microphone(conv.send_audio, realtime=realtime)
        streaming = asyncio.create_task(mic.run())
        try:
            greeting = None
            # an agent with a first message starts its turn at once
            greets = await listener.wait_for(lambda: bool(listener.replies), 1.5)
            if greets:
                tid = next(iter(listener.replies))
                await listener.wait_for(lambda: tid in listener.done_turns(), greeting_timeout)
                greeting = listener.replies[tid]
                await _until_played(greeting)
            turns: list[CallTurn] = []
            for pcm in utterances:
                before = set(listener.user_texts)
                speech_end = await mic.say(pcm) - trailing_silence_ms(pcm) / 1000.0

                def new_turn(before: set[str] = before) -> str | None:
                    return next((t for t in listener.user_texts if t not in before), None)

                await listener.wait_for(lambda: new_turn() is not None, reply_timeout)
                turn_id = new_turn()
                if turn_id is None:
                    turns.append(CallTurn("", None, speech_end, None))
                    continue

                def answered(turn_id: str = turn_id) -> bool:
                    return turn_id in listener.done_turns()

                await listener.wait_for(answered, reply_timeout)
                reply = listener.replies.get(turn_id)
                if reply is not None:
                    await _until_played(reply)  # a polite user lets the agent finish
                v2v = None
                if reply is not None and reply.first_audio_at is not None:
                    v2v = round((reply.first_audio_at - speech_end) * 1000.0, 1)
                turns.append(CallTurn(listener.user_texts[turn_id], reply, speech_end, v2v))
            await conv.send({"type": "end"})
            await listener.wait_for(lambda: listener.ended is not None, 5.0)
        finally:
            streaming.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await streaming
            await conv.close()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(listening, 5.0)
        conversation_id = str(first.get("conversation_id"))
        return CallResult(
            conversation_id, greeting, turns, listener.events, listener.ended, conv.reconnects
        )
