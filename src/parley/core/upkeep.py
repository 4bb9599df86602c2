"""Cheap checks between turns: idle check-ins and the turn limit (loop detection joins
them later). Sans-I/O: the session asks, upkeep answers with a line to say, or nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from parley.core.agent import AgentConfig
from parley.core.clock import Clock
from parley.core.events import EndReason

IDLE_PROMPT = "Are you still there?"
IDLE_GOODBYE = "It seems you have stepped away. Goodbye for now!"
MAX_TURNS_GOODBYE = "We have reached the end of our time for this conversation. Goodbye!"


@dataclass(frozen=True, slots=True)
class Say:
    """Speak ``text`` as an agent turn, then end the session with ``then_end`` if set."""

    text: str
    then_end: EndReason | None = None


class Upkeep:
    """Idle check-ins after the agent finished speaking, and the end after max_turns."""

    def __init__(self, agent: AgentConfig, clock: Clock) -> None:
        self.agent = agent
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
            return Say(IDLE_PROMPT)
        return Say(IDLE_GOODBYE, then_end="idle")

    def after_reply(self) -> Say | None:
        """What to say once the agent answered (the goodbye at ``max_turns``)."""
        if self.user_turns >= self.agent.max_turns:
            return Say(MAX_TURNS_GOODBYE, then_end="max_turns")
        return None
