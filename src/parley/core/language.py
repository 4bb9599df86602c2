"""Which language the agent answers in: always one (an agent with a language code), or
the caller's (``auto``), switching only on confident, repeated evidence. Sans-I/O."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from parley.languages import AUTO, base_code

CONFIDENT = 0.7
"""A detection below this probability never moves the reply language."""
CONFIRMATIONS = 2
"""Consecutive confident turns in another language that switch an ``auto`` conversation
(once the caller has been answered in the current one): one misheard turn never does."""


@dataclass(frozen=True, slots=True)
class Switch:
    """The reply language changed from ``previous`` to ``language``."""

    language: str
    previous: str
    probability: float


class ReplyLanguage:
    """The reply language of one conversation.

    ``mode`` is the agent's ``language``: a code (always answer in it) or ``auto``.
    ``start`` is the language before the caller has said anything (that of the greeting);
    ``speakable`` the languages an ``auto`` conversation may switch to (those with a
    voice): a caller speaking another one is answered in the current language.
    """

    def __init__(self, mode: str, start: str, speakable: Collection[str]) -> None:
        self.auto = mode == AUTO
        self.current = start if self.auto else base_code(mode)
        self._speakable = frozenset(speakable)
        self._candidate: str | None = None
        self._seen = 0
        self._answered = False
        self.unspeakable: str | None = None
        """The last confidently detected language the agent cannot answer in, if any."""

    def preview(self, language: str | None, probability: float | None) -> str:
        """The language a reply to a user turn detected as ``language`` would be in (a
        speculative reply starts before the turn joins the conversation)."""
        return self._after(language, probability)[0]

    def heard(self, language: str | None, probability: float | None) -> Switch | None:
        """A user turn detected as ``language`` (with ``probability``) joined the
        conversation: the switch it causes, if any."""
        current, self._candidate, self._seen, unspeakable = self._after(language, probability)
        self._answered = True
        self.unspeakable = unspeakable or self.unspeakable
        if current == self.current:
            return None
        switch = Switch(current, self.current, 1.0 if probability is None else probability)
        self.current = current
        return switch

    def _after(
        self, language: str | None, probability: float | None
    ) -> tuple[str, str | None, int, str | None]:
        """(reply language, candidate, times seen, unspeakable language) after a turn."""
        if not self.auto or language is None or language == self.current:
            return self.current, None, 0, None
        p = 1.0 if probability is None else probability
        if p < CONFIDENT:
            return self.current, self._candidate, self._seen, None
        if language not in self._speakable:
            return self.current, self._candidate, self._seen, language
        seen = self._seen + 1 if language == self._candidate else 1
        if self._answered and seen < CONFIRMATIONS:
            return self.current, language, seen, None
        return language, None, 0, None

    def restore(self, language: str) -> None:
        """Continue a resumed conversation in ``language`` (its last reply's)."""
        if self.auto and language in self._speakable:
            self.current, self._answered = language, True
