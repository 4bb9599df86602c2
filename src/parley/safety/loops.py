"""Loop detection: cheap checks after each turn (no LLM) that a conversation is stuck.

Four signals, each counted over a short window of recent turns:

- ``agent_repeats``: the agent's new reply is a near-duplicate of earlier ones, ``n`` times
  (itself included) within its last ``2n - 1`` replies (a majority of recent replies);
- ``user_repeats``: the same for the user's turns;
- ``tool_repeats``: the same tool with the same arguments, ``n`` times within the last
  ``2n - 1`` tool calls;
- ``no_progress``: the agent's last ``N`` replies together brought at most ``N / 2`` content
  words it had not said before in the conversation (see :class:`LoopDetector`).

Near-duplicate: :func:`similarity` of two utterances' word sequences (lowercase, no
punctuation, fillers such as "um", "okay", "please" left out) is at least ``similarity``.
An utterance with fewer than :data:`MIN_CONTENT_WORDS` content words (words other than
fillers and function words: "yes", "no", "okay", "I don't know") never counts as a repeat:
people say those all the time. Fillers, function words and the lines said come from the
conversation's language pack (:attr:`LoopDetector.pack`; English by default); a pack
without word lists compares every word.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from parley.languages.packs import ENGLISH, LanguagePack
from parley.safety.terms import words
from parley.single_line import ONE_LINE

LoopSignal = Literal["agent_repeats", "user_repeats", "tool_repeats", "no_progress"]

MIN_CONTENT_WORDS = 2
"""Fewest content words for an utterance to count as a repeat."""
NEW_WORDS_PER_REPLY = 0.5
"""``no_progress``: at most this many new content words per reply, on average."""
MAX_HISTORY = 20
"""Utterances or tool calls kept per signal (``2n - 1`` for the largest ``n``, 10, is 19)."""
MAX_SEEN_WORDS = 5000
"""Distinct content words remembered for ``no_progress`` (the oldest are forgotten)."""

STEER_NOTE = (
    "You are repeating yourself and the conversation is not moving forward. Do not repeat "
    "your last answer. Change approach: ask one short clarifying question, offer a different "
    "option, or offer to end the call or transfer to a person."
)
"""The system note added to the LLM's context with action ``steer``."""
SAY_LINE = ENGLISH.lines.loop_say
"""Said with action ``say`` when the settings name no ``line`` (English; other languages:
``LanguagePack.lines.loop_say``)."""
END_LINE = ENGLISH.lines.loop_end
"""Said before hanging up with action ``end`` when the settings name no ``line``."""


@dataclass(frozen=True, slots=True)
class _Vocabulary:
    fillers: frozenset[str]
    function_words: frozenset[str]
    plural_suffixes: tuple[str, ...]


@cache
def _vocabulary(pack: LanguagePack) -> _Vocabulary:
    """The pack's word lists, normalized as :func:`words` normalizes text."""
    fillers = frozenset(words(pack.loop_fillers))
    function_words = frozenset(words(pack.loop_function_words))
    return _Vocabulary(fillers, function_words, pack.plural_suffixes)


FILLERS = _vocabulary(ENGLISH).fillers
"""Left out of the word sequences compared (English)."""
_FUNCTION_WORDS = _vocabulary(ENGLISH).function_words
"""Not content words (with :data:`FILLERS`): function words and acknowledgements
("sounds good", "that's correct"), which people repeat without being stuck."""


def utterance_words(text: str, *, pack: LanguagePack = ENGLISH) -> list[str]:
    """The word sequence compared for near-duplicates: :func:`words` less fillers."""
    fillers = _vocabulary(pack).fillers
    return [w for w in words(text) if w not in fillers]


def content_words(seq: Sequence[str], *, pack: LanguagePack = ENGLISH) -> list[str]:
    """The content words of a word sequence, lightly stemmed (``orders`` → ``order``)."""
    vocabulary = _vocabulary(pack)
    skip = vocabulary.fillers | vocabulary.function_words
    return [_stem(w, vocabulary.plural_suffixes) for w in seq if w not in skip]


def _stem(word: str, suffixes: tuple[str, ...]) -> str:
    for suffix in suffixes:
        if len(word) > 3 and word.endswith(suffix) and not word.endswith(suffix * 2):
            return word[: -len(suffix)]
    return word


def similarity(a: Sequence[str], b: Sequence[str], floor: float = 0.0) -> float:
    """Ratio of matching words (difflib, 0..1); 0.0 when cheap upper bounds are < ``floor``."""
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    if matcher.real_quick_ratio() < floor or matcher.quick_ratio() < floor:
        return 0.0
    return matcher.ratio()


class LoopSettings(BaseModel):
    """An agent's loop detection (the agent field ``loop_detection``; null: these defaults)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="Check for loops after each turn.")
    agent_repeats: int = Field(
        default=3,
        ge=2,
        le=10,
        description="A loop when the agent gives near-duplicate replies this many times "
        "within its last 2n-1 replies.",
    )
    user_repeats: int = Field(
        default=3,
        ge=2,
        le=10,
        description="A loop when the user says the same thing (at least two content words) "
        "this many times within their last 2n-1 turns.",
    )
    tool_repeats: int = Field(
        default=3,
        ge=2,
        le=10,
        description="A loop when the same tool is called with the same arguments this many "
        "times within the last 2n-1 tool calls.",
    )
    no_progress_turns: int = Field(
        default=6,
        description="A loop when the agent's last N replies together brought at most N/2 "
        "content words it had not said before in the conversation. 0 disables; else 3..50.",
    )
    similarity: float = Field(
        default=0.85,
        ge=0.5,
        le=1.0,
        description="How alike two utterances must be to count as the same (ratio of "
        "matching words, fillers and punctuation ignored).",
    )
    action: Literal["steer", "say", "end"] = Field(
        default="steer",
        description="steer: tell the LLM it is repeating itself and must change approach; "
        "say: speak `line`; end: speak `line` and end the session.",
    )
    line: Annotated[str, Field(min_length=1, max_length=500), ONE_LINE] | None = Field(
        default=None,
        description="What is said with action say or end (null: a neutral default line).",
    )

    @field_validator("no_progress_turns")
    @classmethod
    def _no_progress_range(cls, value: int) -> int:
        if value != 0 and not 3 <= value <= 50:
            raise ValueError("must be 0 (off) or from 3 to 50")
        return value

    def spoken_line(self, pack: LanguagePack = ENGLISH) -> str:
        """The line for action ``say`` or ``end`` (the pack's unless ``line`` is set)."""
        if self.line is not None:
            return self.line
        return pack.lines.loop_end if self.action == "end" else pack.lines.loop_say


@dataclass(frozen=True)
class LoopFinding:
    """A loop: which signal, how many repeats (or replies without progress), and a short
    detail for logs and the turn's safety record (never the user's words)."""

    signal: LoopSignal
    count: int
    detail: str


class _Repeats:
    """Near-duplicates of the newest item among the last ``2n - 1`` (None: never a repeat)."""

    def __init__(self, threshold: int, similarity: float) -> None:
        self.threshold, self.similarity = threshold, similarity
        self.items: deque[list[str] | str | None] = deque(maxlen=2 * threshold - 1)

    def add(self, item: list[str] | str | None) -> int:
        """Record ``item``; how many of the window are the same as it (itself included)."""
        self.items.append(item)
        if item is None:
            return 0
        count = 1
        for earlier in list(self.items)[:-1]:
            if earlier is None:
                continue
            if isinstance(item, str) or isinstance(earlier, str):
                count += earlier == item
            elif similarity(item, earlier, self.similarity) >= self.similarity:
                count += 1
        return count


class LoopDetector:
    """One session's loop detection; call :meth:`user_turn` and :meth:`agent_turn` after
    each committed turn, and :meth:`reset_after` once a finding was acted on.

    ``no_progress``: each agent reply's *new* content words are those not in the set of
    content words of the agent's earlier replies (lowercase, accents and punctuation
    ignored, plural ``s`` dropped; numbers count). The signal fires when the last
    ``no_progress_turns`` replies with text brought at most ``no_progress_turns / 2`` new
    words together, e.g. six replies that keep asking for the order number in other words.
    Replies without text (only tool calls) are not counted.

    ``pack``: the conversation's language (its fillers and function words); settable.
    """

    def __init__(self, settings: LoopSettings | None = None, pack: LanguagePack = ENGLISH) -> None:
        self.settings = s = settings or LoopSettings()
        self.pack = pack
        self._agent = _Repeats(s.agent_repeats, s.similarity)
        self._user = _Repeats(s.user_repeats, s.similarity)
        self._tools = _Repeats(s.tool_repeats, 1.0)
        self._seen: dict[str, None] = {}
        self._new_counts: deque[int] = deque(maxlen=max(1, s.no_progress_turns))

    def user_turn(self, text: str) -> LoopFinding | None:
        """Record a user turn; a finding when the user keeps saying the same thing."""
        if not self.settings.enabled:
            return None
        count = self._user.add(_comparable(text, self.pack))
        if count >= self._user.threshold:
            return LoopFinding("user_repeats", count, f"user_repeats x{count}")
        return None

    def agent_turn(
        self, text: str, tool_calls: Sequence[tuple[str, dict[str, Any]]] = ()
    ) -> LoopFinding | None:
        """Record an agent reply and the tool calls it made; the first finding of
        ``agent_repeats``, ``tool_repeats``, ``no_progress`` (in that order), or None."""
        if not self.settings.enabled:
            return None
        findings: list[LoopFinding] = []
        if text.strip():
            count = self._agent.add(_comparable(text, self.pack))
            if count >= self._agent.threshold:
                findings.append(LoopFinding("agent_repeats", count, f"agent_repeats x{count}"))
        for name, arguments in tool_calls:
            count = self._tools.add(_tool_key(name, arguments))
            if count >= self._tools.threshold and not any(
                f.signal == "tool_repeats" for f in findings
            ):
                findings.append(
                    LoopFinding("tool_repeats", count, f"tool_repeats x{count} ({name[:64]})")
                )
        stalled = self._progress(text)
        if stalled is not None:
            findings.append(stalled)
        return findings[0] if findings else None

    def _progress(self, text: str) -> LoopFinding | None:
        turns = self.settings.no_progress_turns
        found = content_words(words(text), pack=self.pack)
        if turns == 0 or not found:
            self._remember(found)
            return None
        self._new_counts.append(len({w for w in found if w not in self._seen}))
        self._remember(found)
        if len(self._new_counts) == turns and sum(self._new_counts) <= turns * NEW_WORDS_PER_REPLY:
            return LoopFinding("no_progress", turns, f"no_progress x{turns}")
        return None

    def _remember(self, found: list[str]) -> None:
        for word in found:
            self._seen.pop(word, None)
            self._seen[word] = None  # most recent last
        while len(self._seen) > MAX_SEEN_WORDS:
            del self._seen[next(iter(self._seen))]

    def reset_after(self, finding: LoopFinding) -> None:
        """Restart the counting of ``finding``'s signal, so one loop is reported once."""
        if finding.signal == "agent_repeats":
            self._agent.items.clear()
        elif finding.signal == "user_repeats":
            self._user.items.clear()
        elif finding.signal == "tool_repeats":
            self._tools.items.clear()
        else:
            self._new_counts.clear()


def _comparable(text: str, pack: LanguagePack) -> list[str] | None:
    """The word sequence to compare, or None when it has too few content words."""
    seq = utterance_words(text, pack=pack)
    return seq if len(set(content_words(seq, pack=pack))) >= MIN_CONTENT_WORDS else None


def _tool_key(name: str, arguments: dict[str, Any]) -> str:
    """Tool name and arguments, canonical (key order and spacing do not matter)."""
    try:
        args = json.dumps(arguments, sort_keys=True, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        args = repr(sorted(arguments.items(), key=lambda kv: str(kv[0])))
    return f"{name}\x00{args}"
