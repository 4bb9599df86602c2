"""A simulated microphone: audio sent in fixed-size frames, paced like a live one."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

from parley.audio.pcm import SAMPLE_RATE, VAD_FRAME_BYTES, silence


class Microphone:
    """Sends audio as a live microphone does: fixed-size frames in real time (or as fast
    as possible with ``realtime=False``), and silence when nothing is queued. ``send``
    sends one frame, e.g. ``conv.send_audio``. Frames are 32 ms of 16 kHz PCM16 unless
    ``frame_bytes``, ``frame_s`` and a ``quiet`` frame say otherwise (other wire formats).
    Use as ``async with Microphone(conv.send_audio) as mic: await mic.say(pcm)``."""

    def __init__(
        self,
        send: Callable[[bytes], Awaitable[object]],
        *,
        realtime: bool = True,
        frame_bytes: int = VAD_FRAME_BYTES,
        frame_s: float = VAD_FRAME_BYTES / 2 / SAMPLE_RATE,
        quiet: bytes | None = None,
    ) -> None:
        self.send, self.realtime = send, realtime
        self.frame_bytes, self.frame_s = frame_bytes, frame_s
        self.quiet = quiet if quiet is not None else silence(frame_s * 1000, SAMPLE_RATE)
        self._queue: asyncio.Queue[tuple[bytes, asyncio.Future[float]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Microphone:
        self._task = asyncio.create_task(self.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    @property
    def running(self) -> bool:
        """Whether it streams now (not before ``async with``, after it, or once a send
        failed). A :class:`~parley.client.Conversation` that is reconnecting drops the
        frames instead of failing, so the microphone runs on through a drop."""
        return self._task is not None and not self._task.done()

    def say(self, audio: bytes) -> asyncio.Future[float]:
        """Queue an utterance; the future gives the time its last frame was sent."""
        done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((audio, done))
        return done

    async def run(self) -> None:
        """Stream until cancelled. If sending fails (the connection closed), every
        utterance not yet sent fails with that error, and so does ``run``."""
        try:
            await self._stream()
        except Exception as exc:
            while not self._queue.empty():
                _, waiting = self._queue.get_nowait()
                if not waiting.done():
                    waiting.set_exception(exc)
            raise

    async def _stream(self) -> None:
        next_at = time.monotonic()
        while True:
            try:
                audio, done = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                audio, done = self.quiet, None
            for i in range(0, len(audio), self.frame_bytes):
                try:
                    await self.send(audio[i : i + self.frame_bytes])
                except Exception as exc:
                    if done is not None and not done.done():
                        done.set_exception(exc)
                    raise
                next_at += self.frame_s
                if self.realtime or done is None:
                    await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                else:
                    next_at = time.monotonic()
            if done is not None and not done.done():
                done.set_result(time.monotonic())
