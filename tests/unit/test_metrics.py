"""Prometheus metrics are fed from session events."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from parley.core.events import ErrorOut, Interruption, MetricsOut, Pong, SafetyOut, TranscriptOut
from parley.observability.metrics import ServerMetrics


def _samples(metrics: ServerMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.exposition().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_events_become_metrics() -> None:
    live = [1, 2, 3]
    metrics = ServerMetrics(lambda: len(live))
    metrics.sessions_started.inc()
    metrics.observe(TranscriptOut("user", "hi", True, "turn_1"))
    metrics.observe(TranscriptOut("agent", "hel", False, "turn_1"))
    metrics.observe(TranscriptOut("agent", "hello", True, "turn_1"))
    metrics.observe(
        MetricsOut("turn_1", {"voice_to_voice": 850.0, "stt": None, "endpointing": 500.0})
    )
    metrics.observe(Interruption("turn_1"))
    metrics.observe(ErrorOut("audio_error", "bad"))
    metrics.observe(Pong(1))
    metrics.sessions_ended.labels("client").inc()
    metrics.model_wait("llm", 0.03)
    s = _samples(metrics)
    assert s[("parley_active_sessions", ())] == 3
    assert s[("parley_sessions_started_total", ())] == 1
    assert s[("parley_turns_total", (("role", "user"),))] == 1
    assert s[("parley_turns_total", (("role", "agent"),))] == 1, "partials are not turns"
    assert s[("parley_turn_stage_seconds_count", (("stage", "voice_to_voice"),))] == 1
    assert s[("parley_turn_stage_seconds_sum", (("stage", "voice_to_voice"),))] == 0.85
    assert (
        s[("parley_turn_stage_seconds_bucket", (("le", "1.0"), ("stage", "voice_to_voice")))] == 1
    )
    assert (
        s[("parley_turn_stage_seconds_bucket", (("le", "0.75"), ("stage", "voice_to_voice")))] == 0
    )
    assert ("parley_turn_stage_seconds_count", (("stage", "stt"),)) not in s
    assert s[("parley_interruptions_total", ())] == 1
    assert s[("parley_errors_total", (("code", "audio_error"),))] == 1
    assert s[("parley_sessions_ended_total", (("reason", "client"),))] == 1
    assert s[("parley_model_queue_wait_seconds_count", (("model", "llm"),))] == 1


def test_safety_marks_and_hook_times_become_metrics() -> None:
    metrics = ServerMetrics(lambda: 0)
    metrics.observe(SafetyOut("turn_1", "pii", "redacted", "CREDIT_CARD", "pol_x", "user"))
    metrics.observe(SafetyOut("turn_1", "blocked_term", "replaced", "term #1", "pol_x"))
    metrics.observe(SafetyOut("turn_2", "pii", "redacted", "PHONE_NUMBER", "pol_x"))
    metrics.observe(MetricsOut("turn_1", {"voice_to_voice": 700.0, "hook:policy": 12.0}))
    s = _samples(metrics)
    assert s[("parley_safety_events_total", (("action", "redacted"), ("kind", "pii")))] == 2
    replaced = (("action", "replaced"), ("kind", "blocked_term"))
    assert s[("parley_safety_events_total", replaced)] == 1
    assert s[("parley_turn_hook_seconds_sum", (("hook", "policy"),))] == 0.012
    assert ("parley_turn_hook_seconds_count", (("hook", "loops"),)) not in s
