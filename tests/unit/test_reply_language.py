"""The reply language: fixed for an agent with a language code; for ``auto``, the
caller's, switching only on confident, repeated evidence."""

from __future__ import annotations

from parley.core.language import ReplyLanguage, Switch

SPEAKABLE = ("en", "es", "fr", "de")


def test_a_language_code_always_answers_in_it() -> None:
    reply = ReplyLanguage("es-MX", "en", SPEAKABLE)
    assert reply.current == "es"
    assert reply.heard("fr", 0.99) is None
    assert reply.heard("fr", 0.99) is None
    assert reply.current == "es"


def test_auto_follows_a_confident_first_turn_at_once() -> None:
    reply = ReplyLanguage("auto", "en", SPEAKABLE)
    assert reply.preview("es", 0.9) == "es"
    assert reply.current == "en"  # a preview changes nothing
    assert reply.heard("es", 0.9) == Switch("es", "en", 0.9)
    assert reply.current == "es"


def test_one_misheard_turn_does_not_flip_the_conversation() -> None:
    reply = ReplyLanguage("auto", "en", SPEAKABLE)
    assert reply.heard("en", 0.95) is None
    assert reply.heard("de", 0.92) is None  # once: not yet
    assert reply.heard("en", 0.9) is None  # back: the count starts again
    assert reply.heard("de", 0.92) is None
    assert reply.current == "en"
    assert reply.preview("de", 0.9) == "de"  # a second one in a row would switch
    assert reply.heard("de", 0.9) == Switch("de", "en", 0.9)


def test_unsure_detections_never_switch_and_do_not_break_a_run() -> None:
    reply = ReplyLanguage("auto", "en", SPEAKABLE)
    assert reply.heard("fr", 0.4) is None  # a first turn, but unsure
    assert reply.current == "en"
    assert reply.heard("fr", 0.8) is None
    assert reply.heard("es", 0.3) is None  # unsure: neither counts nor resets
    assert reply.heard("fr", 0.8) == Switch("fr", "en", 0.8)


def test_a_language_without_a_voice_is_noted_and_not_followed() -> None:
    reply = ReplyLanguage("auto", "en", SPEAKABLE)
    assert reply.heard("am", 0.97) is None
    assert reply.current == "en" and reply.unspeakable == "am"


def test_a_resumed_conversation_goes_on_in_its_language() -> None:
    reply = ReplyLanguage("auto", "en", SPEAKABLE)
    reply.restore("fr")
    assert reply.current == "fr"
    assert reply.heard("en", 0.9) is None  # answered before: one turn is not enough
