"""One TTS for a conversation whose voices come from several providers (a natural
English voice, basic voices for other languages): each voice is spoken by its own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from parley.providers.tts.base import TextToSpeech, Voice


class VoiceRouter(TextToSpeech):
    """Speaks each voice with the provider that has it; the first provider's voices win
    when two share an id, and an unknown id gets the first provider's first voice."""

    name = "voice-router"

    def __init__(self, providers: Sequence[TextToSpeech]) -> None:
        if not providers:
            raise ValueError("a voice router needs at least one provider")
        self._providers = list(providers)
        self._owner: dict[str, TextToSpeech] = {}
        for provider in reversed(self._providers):
            self._owner.update({v.id: provider for v in provider.voices()})

    def voices(self) -> list[Voice]:
        seen: set[str] = set()
        out: list[Voice] = []
        for provider in self._providers:
            for v in provider.voices():
                if v.id not in seen:
                    seen.add(v.id)
                    out.append(v)
        return out

    def synthesize(self, text: str, *, voice_id: str) -> AsyncIterator[bytes]:
        provider = self._owner.get(voice_id)
        if provider is None:
            provider = self._providers[0]
            voice_id = provider.voice(voice_id).id
        return provider.synthesize(text, voice_id=voice_id)
