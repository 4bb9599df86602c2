"""Server event names: the GA names, and their beta (``OpenAI-Beta: realtime=v1``) names."""

from __future__ import annotations

BETA_EVENT_NAMES = {
    "conversation.item.added": "conversation.item.created",
    "response.output_audio.delta": "response.audio.delta",
    "response.output_audio.done": "response.audio.done",
    "response.output_audio_transcript.delta": "response.audio_transcript.delta",
    "response.output_audio_transcript.done": "response.audio_transcript.done",
    "response.output_text.delta": "response.text.delta",
    "response.output_text.done": "response.text.done",
}
"""GA name → beta name, where they differ."""

GA_ONLY = frozenset({"conversation.item.done"})
"""GA events the beta protocol does not have (they are not sent to beta clients)."""


def beta_name(ga_name: str) -> str | None:
    """The beta name of a GA server event, or ``None`` if beta clients do not get it."""
    if ga_name in GA_ONLY:
        return None
    return BETA_EVENT_NAMES.get(ga_name, ga_name)
