"""Loop detection as a turn hook: after each user and agent turn the
:class:`~parley.safety.loops.LoopDetector` looks for repetition; a finding is acted on
as the agent's ``loop_detection`` settings say (steer the LLM, say a line, or end)."""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence

from parley.core.events import Role, SafetyAction
from parley.core.hooks import ALLOW, Answer, TurnHook, TurnInfo, UserTurnDecision
from parley.languages.packs import pack_or_default
from parley.providers.llm.base import ChatMessage, ToolCall
from parley.safety.loops import STEER_NOTE, LoopDetector, LoopFinding, LoopSettings

log = logging.getLogger(__name__)


class LoopHook(TurnHook):
    """One session's loop detection."""

    name = "loops"

    def __init__(self, settings: LoopSettings) -> None:
        self.settings = settings
        self._detector = LoopDetector(settings)
        self._steer = False
        """A loop was found: the next LLM call gets :data:`STEER_NOTE`."""
        self._trial: tuple[str, LoopDetector] | None = None
        """The detector with the latest user turn counted, until that turn is stored."""

    def _act(self, turn: TurnInfo, finding: LoopFinding, role: Role) -> Answer | None:
        """Record the finding and what is done about it; the line to say, if any."""
        action = self.settings.action
        done: dict[str, SafetyAction] = {"steer": "steered", "say": "said", "end": "ended"}
        turn.mark("loop", done[action], finding.detail, role=role)
        log.info("loop detected", extra={"signal": finding.signal, "action": action})
        if action == "steer":
            self._steer = True
            return None
        line = self.settings.spoken_line(pack_or_default(turn.language))
        return Answer(line, end="loop_detected" if action == "end" else None)

    async def on_user_turn(self, turn: TurnInfo, text: str) -> UserTurnDecision:
        # The turn may be speculative (the user may go on): it is counted on a copy of
        # the detector, which becomes the detector once the turn is stored (committed).
        self._detector.pack = pack_or_default(turn.language)
        trial = copy.deepcopy(self._detector)
        self._trial = (turn.turn_id, trial)
        finding = trial.user_turn(text)
        if finding is None:
            return ALLOW
        trial.reset_after(finding)
        return self._act(turn, finding, "user") or ALLOW

    async def on_store(self, turn: TurnInfo, role: Role, text: str) -> str:
        if role == "user" and self._trial is not None and self._trial[0] == turn.turn_id:
            self._detector, self._trial = self._trial[1], None
        return text

    async def on_context(self, turn: TurnInfo, messages: list[ChatMessage]) -> list[ChatMessage]:
        if not self._steer:
            return messages
        self._steer = False
        note: ChatMessage = {"role": "system", "content": STEER_NOTE}
        return [*messages[:-1], note, messages[-1]] if messages else [note]

    def on_agent_turn(
        self, turn: TurnInfo, text: str, tool_calls: Sequence[ToolCall]
    ) -> Answer | None:
        calls = [(c.name, c.arguments) for c in tool_calls]
        self._detector.pack = pack_or_default(turn.language)
        finding = self._detector.agent_turn(text, calls)
        if finding is None:
            return None
        self._detector.reset_after(finding)
        return self._act(turn, finding, "agent")
