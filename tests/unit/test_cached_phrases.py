"""Fixed lines are synthesized once per process and replayed; other text is not kept."""

from __future__ import annotations

from parley.providers.tts.cached_phrases import CachedPhrasesTTS, PhraseStore
from parley.testing.fakes import ToneTTS


async def _audio(tts: CachedPhrasesTTS, text: str) -> bytes:
    return b"".join([chunk async for chunk in tts.synthesize(text, voice_id="tone")])


async def test_a_phrase_is_synthesized_once_and_replayed_by_every_session() -> None:
    tone, store = ToneTTS(), PhraseStore()
    first = CachedPhrasesTTS(tone, {"One moment."}, store)
    second = CachedPhrasesTTS(tone, {"One moment."}, store)
    heard = [await _audio(first, "One moment."), await _audio(second, "One moment.")]
    assert heard[0] == heard[1] and len(heard[0]) > 0
    assert tone.spoken == ["One moment."]
    await _audio(first, "Your order ships today.")
    await _audio(first, "Your order ships today.")
    assert tone.spoken.count("Your order ships today.") == 2, "other text is not cached"
    assert len(store) == 1


async def test_the_store_keeps_only_the_most_recent_phrases() -> None:
    tone, store = ToneTTS(), PhraseStore(limit=2)
    tts = CachedPhrasesTTS(tone, {"a b", "c d", "e f"}, store)
    await tts.warm("tone")
    assert len(store) == 2 and len(tone.spoken) == 3
    await _audio(tts, "a b")  # the oldest was dropped: synthesized again
    assert tone.spoken[-1] == "a b" and len(store) == 2
