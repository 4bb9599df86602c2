"""Per-turn timestamps and the latency breakdown derived from them."""

from __future__ import annotations

from dataclasses import dataclass, field


def _ms(end: float | None, start: float | None) -> float | None:
    if end is None or start is None:
        return None
    return round((end - start) * 1000.0, 1)


@dataclass
class TurnTimeline:
    """Clock readings (seconds) of one user→agent exchange; ``None`` until they happen."""

    speech_end: float | None = None
    end_of_turn: float | None = None
    stt_start: float | None = None
    stt_done: float | None = None
    llm_start: float | None = None
    llm_first_token: float | None = None
    first_clause: float | None = None
    first_tts_audio: float | None = None
    first_audio_sent: float | None = None
    turn_end: float | None = None
    turn_model: float | None = None
    """Milliseconds the end-of-turn model took to judge the pause that ended the turn."""
    hooks: dict[str, float] = field(default_factory=dict)
    """Milliseconds spent in each agent-layer hook (``hook:<name>``) during the turn."""

    def latency_ms(self) -> dict[str, float | None]:
        """Stage durations and voice-to-voice latency in ms, as sent in ``metrics``
        (plus the time of each hook that ran)."""
        return {
            "endpointing": _ms(self.end_of_turn, self.speech_end),
            "stt": _ms(self.stt_done, self.stt_start),
            "stt_wait_after_end_of_turn": _ms(self.stt_done, self.end_of_turn)
            if self.stt_done and self.end_of_turn and self.stt_done > self.end_of_turn
            else (0.0 if self.stt_done else None),
            "llm_first_token": _ms(self.llm_first_token, self.llm_start),
            "first_clause": _ms(self.first_clause, self.llm_start),
            "tts_first_audio": _ms(self.first_tts_audio, self.first_clause),
            "first_audio_sent": _ms(self.first_audio_sent, self.end_of_turn),
            "voice_to_voice": _ms(self.first_audio_sent, self.speech_end),
            "agent_turn": _ms(self.turn_end, self.llm_start),
            "turn_model": None if self.turn_model is None else round(self.turn_model, 1),
            **self.hooks,
        }
