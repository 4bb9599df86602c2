"""A Socket.IO session's settings: what ``start_session`` asks for, and what the session
runs with (the ``session_started`` payload)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from parley.audio.pcm import FRAME_MS, SAMPLE_RATE
from parley.core.agent import AgentConfig
from parley.languages import AUTO
from parley.protocols.socketio.messages import StartSessionPayload

AUDIO_FORMAT = {"encoding": "pcm16", "sample_rate": SAMPLE_RATE, "channels": 1}
LEGACY_VAD_NOTE = (
    "vad_threshold {value:g} is read as a legacy energy level (values of 1 or more); "
    "Parley's vad_threshold is a speech probability between 0 and 1, so the agent's "
    "own setting ({effective:g}) is used"
)
VAD_RANGE = (0.05, 0.95)
"""Speech probabilities the turn detector supports; others are moved into this range."""


@dataclass(frozen=True, slots=True)
class StartSession:
    """A validated ``start_session``: what the client asked for, in Parley's units.

    ``agent_id`` None means an ad-hoc agent on top of the server's default agent.
    ``vad_threshold`` is a speech probability (None: the agent's own); ``notes`` say
    which requested values were read differently or ignored.
    """

    agent_id: str | None = None
    voice: str | None = None
    language: str | None = None
    instructions: str | None = None
    first_message: str | None = None
    vad_threshold: float | None = None
    interrupt_threshold: int | None = None
    legacy_vad_threshold: float | None = None
    """A ``vad_threshold`` of 1 or more (an energy level of the product Parley replaces):
    not used, the agent's own setting applies."""
    notes: tuple[str, ...] = ()
    resume_token: str | None = None
    """Continue the conversation this token was given for (its history, its id)."""

    @property
    def ad_hoc(self) -> bool:
        """True when no stored agent is named."""
        return self.agent_id is None

    def turn_overrides(self) -> dict[str, float]:
        """Per-session turn settings, in the names of the agents API."""
        overrides: dict[str, float] = {}
        if self.vad_threshold is not None:
            overrides["vad_threshold"] = self.vad_threshold
        if self.interrupt_threshold is not None:
            overrides["interrupt_threshold"] = float(self.interrupt_threshold)
        return overrides


def start_session(message: StartSessionPayload, raw: dict[str, Any]) -> StartSession:
    """The ``start_session`` request: ``message`` validated, ``raw`` as received."""
    notes: list[str] = []
    unknown = sorted(str(k) for k in raw if k not in StartSessionPayload.model_fields)
    if unknown:
        notes.append(f"unknown fields ignored: {', '.join(unknown)}")
    vad, legacy = message.vad_threshold, None
    if vad is not None and vad >= 1:
        vad, legacy = None, vad
    elif vad is not None and not VAD_RANGE[0] <= vad <= VAD_RANGE[1]:
        clamped = min(max(vad, VAD_RANGE[0]), VAD_RANGE[1])
        notes.append(
            f"vad_threshold {vad:g} is outside the supported {VAD_RANGE[0]:g}-{VAD_RANGE[1]:g}; "
            f"{clamped:g} is used"
        )
        vad = clamped
    language = message.language
    if message.agent_id is None and language is None:
        language = AUTO  # as the API documents: no language, detect the caller's
    if message.agent_id is not None:
        ignored = [
            name
            for name in ("voice", "language", "instructions", "first_message")
            if getattr(message, name) is not None
        ]
        if ignored:
            notes.append(
                f"{', '.join(ignored)} ignored: a stored agent ({message.agent_id}) keeps its "
                "own; only vad_threshold and interrupt_threshold apply per session"
            )
    return StartSession(
        agent_id=message.agent_id,
        voice=message.voice,
        language=language,
        instructions=message.instructions,
        first_message=message.first_message,
        vad_threshold=vad,
        interrupt_threshold=message.interrupt_threshold,
        legacy_vad_threshold=legacy,
        notes=tuple(notes),
        resume_token=message.resume_token,
    )


@dataclass(frozen=True, slots=True)
class EffectiveSettings:
    """What a session runs with, as ``session_started`` reports it."""

    session_id: str
    agent_id: str
    ad_hoc: bool
    voice: str
    language: str
    vad_threshold: float
    interrupt_threshold: int
    end_of_turn_silence_ms: float
    notes: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        session_id: str,
        agent: AgentConfig,
        *,
        ad_hoc: bool,
        request: StartSession | None = None,
    ) -> EffectiveSettings:
        """The settings of engine config ``agent``, with the notes of ``request``."""
        vad = agent.turns.vad_threshold
        notes = list(request.notes) if request else []
        if request is not None and request.legacy_vad_threshold is not None:
            notes.insert(
                0, LEGACY_VAD_NOTE.format(value=request.legacy_vad_threshold, effective=vad)
            )
        return cls(
            session_id=session_id,
            agent_id=agent.agent_id,
            ad_hoc=ad_hoc,
            voice=agent.voice_id,
            language=agent.language,
            vad_threshold=vad,
            interrupt_threshold=round(agent.turns.interrupt_min_speech_ms / FRAME_MS),
            end_of_turn_silence_ms=agent.turns.end_of_turn_silence_ms,
            notes=tuple(notes),
        )

    def payload(self) -> dict[str, Any]:
        """The ``session_started`` payload."""
        return {
            "status": "started",
            "session_id": self.session_id,
            "agent_id": self.agent_id,
            "ad_hoc": self.ad_hoc,
            "voice": self.voice,
            "language": self.language,
            "vad_threshold": self.vad_threshold,
            "interrupt_threshold": self.interrupt_threshold,
            "end_of_turn_silence_ms": self.end_of_turn_silence_ms,
            "audio_format": dict(AUDIO_FORMAT),
            "notes": list(self.notes),
        }
