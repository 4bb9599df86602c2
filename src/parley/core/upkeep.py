"""Cheap checks between turns: idle check-ins and the turn limit (loop detection joins
them later). Sans-I/O: the session asks, upkeep answers with a line to say, or nothing.
The lines are those of :attr:`Upkeep.pack`, the conversation's current language.
"""

from __future__ import annotations

from dataclasses import dataclass

from parley.core.agent import AgentConfig
from parley.core.clock import Clock
from parley.core.events import EndReason
from parley.languages.packs import ENGLISH, LanguagePack

IDLE_PROMPT = ENGLISH.lines.idle_prompt
IDLE_GOODBYE = ENGLISH.lines.idle_goodbye
MAX_TURNS_GOODBYE = ENGLISH.lines.max_turns_goodbye


@dataclass(frozen=True, slots=True)
class Say:
    """Speak ``text`` as an agent turn, then end the session with ``then_end`` if set."""

    text: str
    then_end: EndReason | None = None


class Upkeep:
    """Idle check-ins after the agent finished speaking, and the end after max_turns.

    ``pack``: the language its lines are said in; set it when the language changes.
    """

    def __init__(self, agent: AgentConfig, clock: Clock, pack: LanguagePack = ENGLISH) -> None:
        self.agent = agent
        self.pack = pack
        self._clock = clock
        self._last_activity = clock.now()
        self._prompts_used = 0
        self.user_turns = 0

    def user_active(self) -> None:
        """The user did something: restart the idle timer and its check-ins."""
        self._last_activity = self._clock.now()
        self._prompts_used = 0

    def agent_done(self) -> None:
        """The agent's audio has been played: the idle timer runs from now."""
        self._last_activity = self._clock.now()

    def user_turn(self) -> None:
        """A user turn joined the conversation."""
        self.user_turns += 1

    def idle_check(self, *, busy: bool) -> Say | None:
        """What to say after the user stayed silent too long (``busy``: the agent is
        speaking, waiting for a tool, or the user is speaking; no check-in then)."""
        timeout = self.agent.idle_timeout_ms / 1000.0
        if (
            timeout <= 0
            or busy
            or not self.agent.turn_detection
            or not self.agent.auto_respond
            or self._clock.now() - self._last_activity < timeout
        ):
            return None
        if self._prompts_used < self.agent.idle_prompts:
            self._prompts_used += 1
            return Say(self.pack.lines.idle_prompt)
        return Say(self.pack.lines.idle_goodbye, then_end="idle")

    def after_reply(self) -> Say | None:
        """What to say once the agent answered (the goodbye at ``max_turns``)."""
        if self.user_turns >= self.agent.max_turns:
            return Say(self.pack.lines.max_turns_goodbye, then_end="max_turns")
        return None
