"""End-of-turn rules on the transcript: do not cut people off, answer clear questions fast.

The silence that ends a turn starts at the agent's ``end_of_turn_silence_ms``. Once a
(speculative) transcript exists, the first matching rule sets the silence to wait for:
longer when the words signal that more is coming, shorter for a finished question.
Rules look at the end of the transcript, with trailing ``.``/``,`` removed (Whisper
adds them to almost everything). The words come from the conversation's language pack
(:mod:`parley.languages.packs`; English by default).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from parley.languages.packs import ENGLISH, LanguagePack

FILLER_MS = 1500.0
TRAILING_WORD_MS = 1500.0
NUMBER_MS = 1200.0
QUESTION_MS = 300.0
_BEFORE_WORD = r"(?<![\w'-])"
_AFTER_WORD = r"(?![\w'-])"


@dataclass(frozen=True, slots=True)
class EndpointRule:
    """If ``pattern`` matches the end of the transcript, wait for ``silence_ms`` of silence."""

    name: str
    pattern: re.Pattern[str]
    silence_ms: float


_NUMBER = re.compile(r"(?<![\w.])(?=(?:\D*\d){2,9}\D*$)\d[\d\s-]*\d$")
"""A digit string being dictated: 2-9 digits so far ("my number is 555 12")."""


def _words(alternatives: tuple[str, ...]) -> str:
    return "|".join(sorted(alternatives, key=len, reverse=True))


@cache
def rules_for(pack: LanguagePack) -> tuple[EndpointRule, ...]:
    """The end-of-turn rules of ``pack``, in the order they are tried."""
    rules: list[EndpointRule] = []
    if pack.fillers:
        pattern = re.compile(rf"{_BEFORE_WORD}({_words(pack.fillers)})$", re.IGNORECASE)
        rules.append(EndpointRule("filler", pattern, FILLER_MS))
    if pack.trailing_words:
        words = tuple(re.escape(w) for w in pack.trailing_words)
        pattern = re.compile(rf"{_BEFORE_WORD}({_words(words)})$", re.IGNORECASE)
        rules.append(EndpointRule("trailing_conjunction", pattern, TRAILING_WORD_MS))
    rules.append(EndpointRule("incomplete_number", _NUMBER, NUMBER_MS))
    question = re.compile(rf"[{re.escape(pack.question_marks)}]$")
    rules.append(EndpointRule("question", question, QUESTION_MS))
    return tuple(rules)


@cache
def _digit_words(pack: LanguagePack) -> re.Pattern[str] | None:
    if not pack.digit_words:
        return None
    words = _words(tuple(re.escape(w) for w in pack.digit_words))
    return re.compile(rf"{_BEFORE_WORD}({words}){_AFTER_WORD}", re.IGNORECASE)


RULES: tuple[EndpointRule, ...] = rules_for(ENGLISH)
"""The English rules."""

_TRAILING = re.compile(r"[\s.,;:!…]+$")


def spoken_digits(text: str, *, pack: LanguagePack = ENGLISH) -> str:
    """``text`` with the pack's spoken digits written as digits ("cinco cinco" → "5 5")."""
    pattern = _digit_words(pack)
    if pattern is None:
        return text
    digits = pack.digit_words
    return pattern.sub(lambda m: digits.get(m.group().lower(), m.group()), text)


def matching_rule(transcript: str, *, pack: LanguagePack = ENGLISH) -> EndpointRule | None:
    """The first rule whose pattern matches the end of ``transcript``, if any."""
    tail = _TRAILING.sub("", transcript.strip()).replace("\u2019", "'")
    if not tail:
        return None
    for rule in rules_for(pack):
        text = spoken_digits(tail, pack=pack) if rule.name == "incomplete_number" else tail
        if rule.pattern.search(text):
            return rule
    return None


def silence_target_ms(
    transcript: str | None, base_ms: float, *, pack: LanguagePack = ENGLISH
) -> float:
    """Silence (ms) that should end a turn whose words so far are ``transcript``."""
    if transcript is None:
        return base_ms
    rule = matching_rule(transcript, pack=pack)
    return base_ms if rule is None else rule.silence_ms


_NOT_SPEECH = re.compile(r"^\W*$|^\s*[\[(][^\])]*[\])]\s*$")
BACKCHANNELS = ENGLISH.backchannels
"""The English backchannels."""
MAX_BACKCHANNEL_WORDS = 3


def has_words(transcript: str, *, pack: LanguagePack = ENGLISH) -> bool:
    """False for transcripts holding no words ("", "...", "[BLANK_AUDIO]", "(music)"), or
    only what speech-to-text is known to write for silence in the pack's language."""
    if _NOT_SPEECH.match(transcript):
        return False
    if pack.non_speech:
        lowered = transcript.lower()
        return not any(noise in lowered for noise in pack.non_speech)
    return True


def is_backchannel(transcript: str, *, pack: LanguagePack = ENGLISH) -> bool:
    """True for listener feedback ("mhm", "yeah, okay", "sí, claro") that does not take
    the turn: at most three words, all made of the pack's backchannels."""
    words = re.sub(r"[^\w\s']", " ", transcript.lower().replace("\u2019", "'")).split()
    if not words or len(words) > MAX_BACKCHANNEL_WORDS:
        return False
    return _covered(words, pack.backchannels)


def _covered(words: list[str], phrases: frozenset[str]) -> bool:
    """True if ``words`` is a sequence of ``phrases`` ("vale de acuerdo")."""
    if not words:
        return True
    return any(
        " ".join(words[:n]) in phrases and _covered(words[n:], phrases)
        for n in range(len(words), 0, -1)
    )
