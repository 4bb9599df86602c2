"""What the native and the Socket.IO protocols carry alike: typed user text in, and the
engine events sent with the same name and fields (the native protocol adds them to
``{"type": name}``)."""

from __future__ import annotations

from typing import Any

from parley.core.events import (
    AgentTurnStart,
    CitationsOut,
    ControlAck,
    Interruption,
    LanguageOut,
    MetricsOut,
    Pong,
    SafetyOut,
    ServerEvent,
    ServerToolOut,
    TextIn,
    ToolCallOut,
    TranscriptOut,
    TransferOut,
    TurnPrediction,
    UserTurnDropped,
)
from parley.errors import ValidationError


def text_in(text: str, *, max_chars: int, prefix: str = "") -> TextIn:
    """A typed user turn of at most ``max_chars`` characters (ValidationError otherwise)."""
    if len(text) > max_chars:
        raise ValidationError(
            f"{prefix}text of {len(text)} characters exceeds the limit of {max_chars}",
            param="text",
        )
    return TextIn(text)


def common_event(event: ServerEvent) -> tuple[str, dict[str, Any]] | None:
    """``(name, fields)`` of an event both protocols send alike; None for the others."""
    match event:
        case AgentTurnStart():
            return "agent_turn_start", {"turn_id": event.turn_id}
        case Interruption():
            return "interruption", {"turn_id": event.turn_id}
        case TurnPrediction():
            return "turn_prediction", {
                "probability": round(event.probability, 3),
                "finished": event.finished,
                "wait_ms": round(event.wait_ms),
                "took_ms": round(event.took_ms, 1),
            }
        case UserTurnDropped():
            return "user_turn_dropped", {"turn_id": event.turn_id}
        case LanguageOut():
            return "language_changed", {
                "language": event.language,
                "previous": event.previous,
                "turn_id": event.turn_id,
                "probability": round(event.probability, 3),
            }
        case ToolCallOut():
            return "tool_call", {
                "call_id": event.call_id,
                "name": event.name,
                "arguments": event.arguments,
                "turn_id": event.turn_id,
            }
        case MetricsOut():
            return "metrics", {"turn_id": event.turn_id, "latency_ms": event.latency_ms}
        case SafetyOut():
            return "safety", {"turn_id": event.turn_id, **event.as_json()}
        case CitationsOut():
            citations = [c.as_json() for c in event.citations]
            return "citations", {"turn_id": event.turn_id, "citations": citations}
        case ServerToolOut():
            return "tool_run", {
                "turn_id": event.turn_id,
                "call_id": event.call_id,
                "name": event.name,
                "status": event.status,
                "duration_ms": event.duration_ms,
            }
        case TransferOut():
            return "transfer", {
                "turn_id": event.turn_id,
                "destination": event.destination,
                "phone_number": event.phone_number,
            }
        case ControlAck():
            return "control_ack", {"action": event.action, "status": event.status}
        case Pong():
            return "pong", {"ts": event.ts}
    return None


def transcript_language(event: TranscriptOut) -> dict[str, Any]:
    """The language fields of a transcript event: ``language`` and, for a user turn,
    ``language_probability``, each only when known."""
    fields: dict[str, Any] = {}
    if event.language is not None:
        fields["language"] = event.language
    if event.language_probability is not None:
        fields["language_probability"] = round(event.language_probability, 3)
    return fields
