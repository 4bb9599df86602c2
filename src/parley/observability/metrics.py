"""Prometheus metrics of one server: sessions, turns, stage latencies, interruptions,
errors, model queue wait. Fed from the events a session emits, so the engine itself
knows nothing about Prometheus."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from parley.core.events import ErrorOut, Interruption, MetricsOut, ServerEvent, TranscriptOut

STAGES = (
    "endpointing",
    "stt",
    "llm_first_token",
    "first_clause",
    "tts_first_audio",
    "first_audio_sent",
    "voice_to_voice",
)
_BUCKETS = (0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0)


class ServerMetrics:
    """All metrics of one app, in their own registry (several apps may share a process)."""

    def __init__(self, active_sessions: Callable[[], int]) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.active = Gauge("parley_active_sessions", "Conversations in progress", registry=r)
        self.active.set_function(lambda: float(active_sessions()))
        self.sessions_started = Counter(
            "parley_sessions_started", "Conversations started", registry=r
        )
        self.sessions_ended = Counter(
            "parley_sessions_ended", "Conversations ended, by reason", ["reason"], registry=r
        )
        self.turns = Counter("parley_turns", "Finished turns, by role", ["role"], registry=r)
        self.stage = Histogram(
            "parley_turn_stage_seconds",
            "Per-turn latency of each pipeline stage (voice_to_voice: end of user speech "
            "to first agent audio sent)",
            ["stage"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.interruptions = Counter(
            "parley_interruptions", "Agent turns interrupted by the user", registry=r
        )
        self.errors = Counter(
            "parley_errors", "Error events sent to clients, by code", ["code"], registry=r
        )
        self.queue_wait = Histogram(
            "parley_model_queue_wait_seconds",
            "Time a model call waited for its model's worker thread",
            ["model"],
            buckets=_BUCKETS,
            registry=r,
        )

    def observe(self, event: ServerEvent) -> None:
        """Count one event a session sent to its client."""
        match event:
            case MetricsOut(latency_ms=latency):
                for stage in STAGES:
                    value = latency.get(stage)
                    if value is not None:
                        self.stage.labels(stage).observe(value / 1000.0)
            case TranscriptOut(role=role, final=True):
                self.turns.labels(role).inc()
            case Interruption():
                self.interruptions.inc()
            case ErrorOut(code=code):
                self.errors.labels(code).inc()
            case _:
                pass

    def model_wait(self, model: str, seconds: float) -> None:
        """A model call waited ``seconds`` in its worker queue."""
        self.queue_wait.labels(model).observe(seconds)

    def exposition(self) -> bytes:
        """The text format served at ``/metrics``."""
        return bytes(generate_latest(self.registry))
