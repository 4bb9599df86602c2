"""End-of-turn rules on the transcript: do not cut people off, answer clear questions fast.

The silence that ends a turn starts at the agent's ``end_of_turn_silence_ms``. Once a
(speculative) transcript exists, the first matching rule sets the silence to wait for:
longer when the words signal that more is coming, shorter for a finished question.
Rules look at the end of the transcript, with trailing ``.``/``,`` removed (Whisper
adds them to almost everything).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EndpointRule:
    """If ``pattern`` matches the end of the transcript, wait for ``silence_ms`` of silence."""

    name: str
    pattern: re.Pattern[str]
    silence_ms: float


RULES: tuple[EndpointRule, ...] = (
    EndpointRule(
        "filler",
        re.compile(r"\b(um+|uh+|er+m?|hmm+|mm+)$", re.IGNORECASE),
        1500.0,
    ),
    EndpointRule(
        "trailing_conjunction",
        re.compile(
            r"\b(and|but|or|so|because|then|if|with|to|the|a|an|my|our|your|of|is|are|was)$",
            re.IGNORECASE,
        ),
        1500.0,
    ),
    EndpointRule(
        # a digit string being dictated: 2-9 digits so far ("my number is 555 12")
        "incomplete_number",
        re.compile(r"(?<![\w.])(?=(?:\D*\d){2,9}\D*$)\d[\d\s-]*\d$"),
        1200.0,
    ),
    EndpointRule("question", re.compile(r"\?$"), 300.0),
)

_TRAILING = re.compile(r"[\s.,;:!…]+$")


def matching_rule(transcript: str) -> EndpointRule | None:
    """The first rule whose pattern matches the end of ``transcript``, if any."""
    tail = _TRAILING.sub("", transcript.strip())
    if not tail:
        return None
    return next((rule for rule in RULES if rule.pattern.search(tail)), None)


def silence_target_ms(transcript: str | None, base_ms: float) -> float:
    """Silence (ms) that should end a turn whose words so far are ``transcript``."""
    if transcript is None:
        return base_ms
    rule = matching_rule(transcript)
    return base_ms if rule is None else rule.silence_ms


_NOT_SPEECH = re.compile(r"^\W*$|^\s*[\[(][^\])]*[\])]\s*$")
BACKCHANNELS = frozenset(
    {
        "mhm", "mm", "mmhmm", "mm hmm", "hmm", "uh huh", "uhhuh", "aha", "ah", "oh",
        "yeah", "yes", "yep", "yup", "ok", "okay", "right", "sure", "i see", "got it",
        "go on", "alright", "all right", "cool", "nice",
    }
)  # fmt: skip


def has_words(transcript: str) -> bool:
    """False for transcripts holding no words ("", "...", "[BLANK_AUDIO]", "(music)")."""
    return not _NOT_SPEECH.match(transcript)


def is_backchannel(transcript: str) -> bool:
    """True for listener feedback ("mhm", "yeah, okay") that does not take the turn."""
    words = re.sub(r"[^\w\s']", " ", transcript.lower()).split()
    if not words or len(words) > 3:
        return False
    text = " ".join(words)
    return text in BACKCHANNELS or all(w in BACKCHANNELS for w in words)
