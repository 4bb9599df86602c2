"""The reply language through a whole session, with scripted models: what speech-to-text
is asked for, when an ``auto`` agent switches, which voice speaks, what the LLM is told,
what the client and storage see, and that a speculative reply never counts twice."""

from __future__ import annotations

from parley.core.events import LanguageOut, TranscriptOut
from parley.testing.fakes import ScriptedLLM, ScriptedSTT, ToneTTS
from tests.unit.test_session import LOUD, QUIET, Harness


async def _turn(h: Harness) -> None:
    await h.frames(LOUD, 10)
    await h.frames(QUIET, 20)
    await h.wait(3.0)


def _told(h: Harness, call: int) -> str:
    system: str = h.llm.requests[call][0]["content"]
    return system


async def test_an_auto_agent_follows_the_caller_with_the_voice_of_the_language() -> None:
    stt = ScriptedSTT("hola", "buenos días", detected=["es"])
    h = Harness(stt, ScriptedLLM("Claro."), tts=ToneTTS("es"), language="auto",
                voices={"es": "tone-es"})  # fmt: skip
    await h.session.start()
    await _turn(h)
    assert stt.hints and set(stt.hints) == {"auto"}, "any language is heard"
    [switch] = h.of(LanguageOut)
    assert (switch.language, switch.previous, switch.probability) == ("es", "en", 0.9)
    user, agent = [t for t in h.of(TranscriptOut) if t.final]
    assert (user.role, user.language, user.language_probability) == ("user", "es", 0.9)
    assert switch.turn_id == user.turn_id
    assert (agent.role, agent.language) == ("agent", "es")
    assert h.tts.voiced == [("tone-es", "Claro.")]
    assert "Always reply in Spanish" in _told(h, 0)
    stored = [(r.role, r.language, r.language_probability) for r in h.recorder.turns]
    assert stored == [("user", "es", 0.9), ("agent", "es", None)]
    await _turn(h)
    assert len(h.of(LanguageOut)) == 1, "a turn in the same language changes nothing"
    await h.session.close("client")


async def test_a_speculative_reply_is_not_counted_twice() -> None:
    # Once answered in English, a switch needs two turns in German in a row. The first
    # German turn is transcribed speculatively, dropped as the caller goes on, and
    # transcribed again: still one turn, so no switch yet.
    stt = ScriptedSTT("hello", "guten", "guten Tag zusammen", "danke", detected=["en", "de"])
    h = Harness(stt, ScriptedLLM("Okay."), tts=ToneTTS("de"), language="auto",
                voices={"de": "tone-de"})  # fmt: skip
    await h.session.start()
    await _turn(h)
    await h.frames(LOUD, 10)
    await h.frames(QUIET, 6)  # a speculative reply starts on "guten"
    assert len(h.llm.requests) == 2
    await h.frames(LOUD, 10)  # the caller goes on
    await h.frames(QUIET, 20)
    await h.wait(3.0)
    assert h.of(LanguageOut) == []
    assert "Always reply in English" in _told(h, 2)
    await _turn(h)  # the second German turn in a row
    [switch] = h.of(LanguageOut)
    assert switch.language == "de"
    assert "Always reply in German" in _told(h, 3)
    assert h.tts.voiced[-1] == ("tone-de", "Okay.")
    await h.session.close("client")


async def test_a_language_without_a_voice_is_not_followed() -> None:
    stt = ScriptedSTT("selam", detected=["am"])
    h = Harness(stt, ScriptedLLM("Hello."), language="auto")
    await h.session.start()
    await _turn(h)
    assert h.of(LanguageOut) == []
    user, agent = [t for t in h.of(TranscriptOut) if t.final]
    assert (user.language, agent.language) == ("am", "en")
    assert h.tts.voiced == [("tone", "Hello.")]
    await h.session.close("client")


async def test_an_agent_with_a_language_always_answers_in_it() -> None:
    stt = ScriptedSTT("what time is it", detected=["en"])
    h = Harness(stt, ScriptedLLM("Es mediodía."), tts=ToneTTS("es"), language="es",
                voices={"es": "tone-es"})  # fmt: skip
    await h.session.start()
    await _turn(h)
    assert h.of(LanguageOut) == []
    user, agent = [t for t in h.of(TranscriptOut) if t.final]
    assert (user.language, agent.language) == ("en", "es")
    assert "Always reply in Spanish" in _told(h, 0)
    assert h.tts.voiced == [("tone-es", "Es mediodía.")]
    await h.session.close("client")


async def test_an_english_agent_asks_for_english_and_tells_the_llm_nothing() -> None:
    stt = ScriptedSTT("what time is it")
    h = Harness(stt, ScriptedLLM("Noon."))
    await h.session.start()
    await _turn(h)
    assert set(stt.hints) == {"en"}
    assert "Always reply" not in _told(h, 0)
    user, agent = [t for t in h.of(TranscriptOut) if t.final]
    assert (user.language, agent.language) == ("en", "en")
    await h.session.close("client")
