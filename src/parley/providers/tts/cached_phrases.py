"""Fixed lines (filler phrases, fallbacks) synthesized once and then replayed: a filler
said while a check runs must start at once, not after its own synthesis."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable

from parley.providers.tts.base import TextToSpeech, Voice

MAX_PHRASES = 256
"""Phrases kept per process (a few seconds of audio each: a few MB in all)."""

_Key = tuple[int, str, str]


class PhraseStore:
    """The audio of fixed phrases by (TTS, voice, text); least recently used go first."""

    def __init__(self, limit: int = MAX_PHRASES) -> None:
        self._audio: OrderedDict[_Key, bytes] = OrderedDict()
        self._limit = limit

    def get(self, key: _Key) -> bytes | None:
        audio = self._audio.get(key)
        if audio is not None:
            self._audio.move_to_end(key)
        return audio

    def put(self, key: _Key, audio: bytes) -> None:
        self._audio[key] = audio
        self._audio.move_to_end(key)
        while len(self._audio) > self._limit:
            self._audio.popitem(last=False)

    def __len__(self) -> int:
        return len(self._audio)


PHRASES = PhraseStore()
"""Shared by every session of the process."""


class CachedPhrasesTTS(TextToSpeech):
    """``tts``, except that ``phrases`` come from (or go into) the shared store."""

    def __init__(
        self, tts: TextToSpeech, phrases: Iterable[str], store: PhraseStore = PHRASES
    ) -> None:
        self._tts, self._phrases, self._store = tts, frozenset(phrases), store
        self.name = tts.name

    def voices(self) -> list[Voice]:
        return self._tts.voices()

    def voice(self, voice_id: str) -> Voice:
        return self._tts.voice(voice_id)

    def _key(self, text: str, voice_id: str) -> _Key:
        return (id(self._tts), voice_id, text)

    async def synthesize(self, text: str, *, voice_id: str) -> AsyncIterator[bytes]:
        if text not in self._phrases:
            async for chunk in self._tts.synthesize(text, voice_id=voice_id):
                yield chunk
            return
        key = self._key(text, voice_id)
        audio = self._store.get(key)
        if audio is None:
            audio = await self._synthesized(text, voice_id)
            self._store.put(key, audio)
        yield audio

    async def _synthesized(self, text: str, voice_id: str) -> bytes:
        pcm = bytearray()
        async for chunk in self._tts.synthesize(text, voice_id=voice_id):
            pcm += chunk
        return bytes(pcm)

    async def warm(self, voice_id: str) -> None:
        """Synthesize every phrase not yet stored (e.g. while the greeting plays)."""
        for text in sorted(self._phrases):
            key = self._key(text, voice_id)
            if self._store.get(key) is None:
                self._store.put(key, await self._synthesized(text, voice_id))
