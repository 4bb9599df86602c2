"""Any OpenAI-compatible ``/audio/speech`` server (another Parley, hosted APIs): its audio,
raw PCM16 or WAV at any rate, is converted to the voice's rate as it streams in."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from typing import Any

from parley.audio.resample import StreamResampler
from parley.audio.wav import UNKNOWN_SIZE, WavFormat, parse_wav, wav_pcm
from parley.errors import AudioError, ProviderError
from parley.providers.remote import Endpoint, call
from parley.providers.tts.base import TextToSpeech, Voice

MAX_HEADER_BYTES = 64 * 1024
"""A WAV whose header is not complete after this many bytes is refused."""
_TEXT_TYPES = ("application/json", "text/")


class AudioStream:
    """A server's audio as it arrives, as PCM16 mono at ``rate``: raw PCM16 mono at
    ``pcm_rate`` Hz, or a WAV (streamed or not) of any rate, channels and encoding."""

    def __init__(self, container: str, *, rate: int, pcm_rate: int) -> None:
        self._wav = container == "wav"
        self._rate = rate
        self._format: WavFormat | None = None if self._wav else WavFormat(1, 1, pcm_rate, 16)
        self._resampler = None if self._wav else StreamResampler(pcm_rate, rate)
        self._pending = b""
        self._left = UNKNOWN_SIZE
        """Sample bytes the WAV still has (``UNKNOWN_SIZE``: to the end of the stream)."""
        self.received = 0

    def push(self, data: bytes) -> bytes:
        """The audio in the next ``data`` bytes (as much as whole frames allow)."""
        self.received += len(data)
        buffer = self._pending + data
        if self._format is None:
            buffer = self._header(buffer)
            if self._format is None:
                self._pending = buffer
                return b""
        fmt = self._format
        if self._left != UNKNOWN_SIZE:
            buffer, self._left = buffer[: self._left], max(0, self._left - len(buffer))
        usable = len(buffer) - len(buffer) % fmt.frame_bytes
        self._pending = buffer[usable:]
        if not usable:
            return b""
        assert self._resampler is not None
        return self._resampler.push(wav_pcm(fmt, buffer[:usable], fmt.rate))

    def finish(self) -> bytes:
        """The rest of the audio; raises :class:`AudioError` if there was none to use."""
        if self._format is None:
            what = "no audio at all" if not self.received else "a WAV without a usable header"
            raise AudioError(f"{what} ({self.received} bytes)")
        assert self._resampler is not None
        return self._resampler.push(b"", last=True)

    def _header(self, buffer: bytes) -> bytes:
        """Read the WAV header once it is complete; returns the bytes after it."""
        if len(buffer) >= 12 and buffer[:4] not in (b"RIFF", b"RF64"):
            raise AudioError("the audio is not a WAV file")
        try:
            fmt, _ = parse_wav(buffer)
        except AudioError:
            if len(buffer) > MAX_HEADER_BYTES:
                raise
            return buffer  # not all of the header yet
        pos = 12
        while pos + 8 <= len(buffer):
            chunk_id, size = (
                buffer[pos : pos + 4],
                struct.unpack("<I", buffer[pos + 4 : pos + 8])[0],
            )
            pos += 8
            if chunk_id == b"data":
                self._format, self._left = fmt, size
                self._resampler = StreamResampler(fmt.rate, self._rate)
                return buffer[pos:]
            pos += size + (size & 1)
        return buffer


class OpenAICompatibleTTS(TextToSpeech):
    """Speaks with the configured voices of a remote server."""

    def __init__(
        self,
        name: str,
        endpoint: Endpoint,
        *,
        voices: list[str],
        language: str = "en",
        response_format: str = "pcm",
        sample_rate: int = 24_000,
    ) -> None:
        self.name = name
        self._model, self._timeout = endpoint.model, endpoint.timeout_s
        self._format, self._pcm_rate = response_format, sample_rate
        self._voices = [Voice(v, v, language, sample_rate) for v in voices]
        self._client = endpoint.client()

    def voices(self) -> list[Voice]:
        return list(self._voices)

    async def synthesize(self, text: str, *, voice_id: str) -> AsyncIterator[bytes]:
        voice = self.voice(voice_id)
        pieces: asyncio.Queue[bytes | Exception | None] = asyncio.Queue()
        fetch = asyncio.create_task(self._fetch(text, voice, pieces))
        try:
            while (piece := await pieces.get()) is not None:
                if isinstance(piece, Exception):
                    raise piece
                yield piece
        finally:
            fetch.cancel()

    async def _fetch(
        self, text: str, voice: Voice, out: asyncio.Queue[bytes | Exception | None]
    ) -> None:
        """Stream the server's audio into ``out`` (then None), or the failure."""
        audio = AudioStream(self._format, rate=voice.sample_rate, pcm_rate=self._pcm_rate)
        request: dict[str, Any] = {
            "model": self._model,
            "voice": voice.id,
            "input": text,
            "response_format": self._format,
        }
        speech = self._client.audio.speech.with_streaming_response
        try:
            async with call(self.name, self._timeout), speech.create(**request) as response:
                kind = response.headers.get("content-type", "")
                if kind.startswith(_TEXT_TYPES):
                    raise ProviderError(f"{self.name} sent {kind.split(';')[0]}, not audio")
                try:
                    async for data in response.iter_bytes():
                        if pcm := audio.push(data):
                            out.put_nowait(pcm)
                    if tail := audio.finish():
                        out.put_nowait(tail)
                except AudioError as exc:
                    message = f"{self.name} sent audio that cannot be used: {exc.message}"
                    raise ProviderError(message) from exc
            out.put_nowait(None)
        except Exception as exc:  # handed to the consumer
            out.put_nowait(exc)
