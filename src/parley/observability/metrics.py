"""Prometheus metrics of one server: sessions, turns, stage latencies, interruptions,
errors, model queue wait, speech API requests. Session metrics are fed from the events a
session emits, so the engine itself knows nothing about Prometheus."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from parley.core.events import (
    ErrorOut,
    Interruption,
    LanguageOut,
    MetricsOut,
    SafetyOut,
    ServerEvent,
    TranscriptOut,
    TurnPrediction,
)
from parley.languages import is_language

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


def _asyncio_tasks() -> float:
    """Tasks of the running event loop (0 outside one)."""
    try:
        return float(len(asyncio.all_tasks()))
    except RuntimeError:
        return 0.0


class ServerMetrics:
    """All metrics of one app, in their own registry (several apps may share a process)."""

    def __init__(self, active_sessions: Callable[[], int]) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.active = Gauge("parley_active_sessions", "Conversations in progress", registry=r)
        self.active.set_function(lambda: float(active_sessions()))
        self.tasks = Gauge(
            "parley_asyncio_tasks", "asyncio tasks alive in the event loop", registry=r
        )
        self.tasks.set_function(_asyncio_tasks)
        self.sessions_started = Counter(
            "parley_sessions_started", "Conversations started", registry=r
        )
        self.sessions_ended = Counter(
            "parley_sessions_ended", "Conversations ended, by reason", ["reason"], registry=r
        )
        self.turns = Counter("parley_turns", "Finished turns, by role", ["role"], registry=r)
        self.turn_languages = Counter(
            "parley_turn_languages",
            "Finished turns by role and language (user: detected; agent: answered in)",
            ["role", "language"],
            registry=r,
        )
        self.language_switches = Counter(
            "parley_language_switches",
            "Conversations whose reply language followed the caller, by new language",
            ["language"],
            registry=r,
        )
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
        self.safety = Counter(
            "parley_safety_events",
            "What content safety and loop detection did, by kind (blocked_term, pii, "
            "criterion, loop) and action (replaced, redacted, blocked, flagged, steered, "
            "said, ended)",
            ["kind", "action"],
            registry=r,
        )
        self.hooks = Histogram(
            "parley_turn_hook_seconds",
            "Time a turn spent in an agent-layer hook (policy, loops), per measured turn",
            ["hook"],
            buckets=(0.001, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.3, 1.0, 3.0),
            registry=r,
        )
        self.refused = Counter(
            "parley_refused_client_messages",
            "Client messages and audio dropped for breaking a limit, by limit (audio_rate, "
            "message_rate, message_size, malformed)",
            ["limit"],
            registry=r,
        )
        self.queue_wait = Histogram(
            "parley_model_queue_wait_seconds",
            "Time a model call waited for its model's worker thread",
            ["model"],
            buckets=_BUCKETS,
            registry=r,
        )

        self.provider_calls = Counter(
            "parley_provider_calls",
            "Calls to remote model servers, by provider and outcome (ok, error, timeout, "
            "cancelled)",
            ["provider", "outcome"],
            registry=r,
        )
        self.provider_seconds = Histogram(
            "parley_provider_call_seconds",
            "Duration of calls to remote model servers (LLM: the whole streamed reply)",
            ["provider"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.speech_requests = Counter(
            "parley_speech_requests",
            "Requests to the OpenAI-compatible speech endpoints, by endpoint (transcriptions, "
            "speech) and outcome (ok; rejected: 4xx; error: 5xx; aborted: the client left "
            "while audio streamed)",
            ["endpoint", "outcome"],
            registry=r,
        )
        self.speech_audio = Counter(
            "parley_speech_audio_seconds",
            "Seconds of audio transcribed (transcriptions) or synthesized (speech)",
            ["endpoint"],
            registry=r,
        )

        self.documents = Counter(
            "parley_knowledge_documents",
            "Knowledge-base documents, by event (added_upload, added_text, added_url, "
            "ready, failed)",
            ["event"],
            registry=r,
        )
        self.retrievals = Histogram(
            "parley_retrieval_seconds",
            "Knowledge-base searches, by where (turn: grounding a reply, query: the REST "
            "query endpoint, tool: the knowledge_search tool)",
            ["where"],
            buckets=(0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.3, 1.0),
            registry=r,
        )
        self.tool_calls = Counter(
            "parley_tool_calls",
            "Tool calls the server ran, by type (webhook, end_call, transfer_call, "
            "knowledge_search, web_search) and outcome (ok, timeout, http_error, not_json, "
            "too_large, refused, connection, config, bad_arguments, search_failed, failed)",
            ["type", "outcome"],
            registry=r,
        )
        self.tool_seconds = Histogram(
            "parley_tool_seconds",
            "Duration of tool calls the server ran",
            ["type"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.7, 1.0, 2.0, 5.0, 10.0, 30.0),
            registry=r,
        )

        self.turn_predictions = Counter(
            "parley_turn_predictions",
            "End-of-turn model verdicts at a pause in the user's speech, by verdict "
            "(complete, incomplete)",
            ["verdict"],
            registry=r,
        )
        self.turn_model_seconds = Histogram(
            "parley_turn_model_seconds",
            "Time from a pause to the end-of-turn model's verdict (queue and inference)",
            buckets=(0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0),
            registry=r,
        )
        self.sessions_refused = Counter(
            "parley_sessions_refused",
            "Conversations refused before they started, by reason (capacity)",
            ["reason"],
            registry=r,
        )

        self.resumes = Counter(
            "parley_resumes",
            "Resume attempts of dropped conversations, by outcome "
            "(resumed, unknown_token, over, refused)",
            ["outcome"],
            registry=r,
        )
        self.sessions_swept = Counter(
            "parley_sessions_swept",
            "Sessions of replicas whose lease expired, ended by this replica",
            registry=r,
        )
        self.bus_messages = Counter(
            "parley_bus_messages",
            "Messages between replicas, by direction (sent, received) and kind",
            ["direction", "kind"],
            registry=r,
        )
        self.cluster_errors = Counter(
            "parley_cluster_errors",
            "Calls to the shared store (Redis) that failed, by operation",
            ["operation"],
            registry=r,
        )
        self.draining = Gauge(
            "parley_draining", "1 while this replica drains (SIGTERM), else 0", registry=r
        )

    def tool_call(self, kind: str, outcome: str, seconds: float) -> None:
        """A server-run tool call of ``kind`` ended with ``outcome`` after ``seconds``."""
        self.tool_calls.labels(kind, outcome).inc()
        self.tool_seconds.labels(kind).observe(seconds)

    def document(self, event: str) -> None:
        """A knowledge-base document was added (``added_<source>``) or ingested."""
        self.documents.labels(event).inc()

    def retrieval(self, seconds: float, where: str) -> None:
        """A knowledge-base search took ``seconds``."""
        self.retrievals.labels(where).observe(seconds)

    def provider_call(self, provider: str, outcome: str, seconds: float) -> None:
        """A call to a remote provider ended with ``outcome`` after ``seconds``."""
        self.provider_calls.labels(provider, outcome).inc()
        self.provider_seconds.labels(provider).observe(seconds)

    def speech_request(self, endpoint: str, outcome: str, audio_seconds: float = 0.0) -> None:
        """Count one request to ``/v1/audio/<endpoint>`` and the audio it processed."""
        self.speech_requests.labels(endpoint, outcome).inc()
        if audio_seconds:
            self.speech_audio.labels(endpoint).inc(audio_seconds)

    def observe(self, event: ServerEvent) -> None:
        """Count one event a session sent to its client."""
        match event:
            case MetricsOut(latency_ms=latency):
                for stage in STAGES:
                    value = latency.get(stage)
                    if value is not None:
                        self.stage.labels(stage).observe(value / 1000.0)
                for key, value in latency.items():
                    if key.startswith("hook:") and value is not None:
                        self.hooks.labels(key[5:]).observe(value / 1000.0)
                if (searched := latency.get("retrieval")) is not None:
                    self.retrieval(searched / 1000.0, "turn")
            case SafetyOut(kind=kind, action=action):
                self.safety.labels(kind, action).inc()
            case TranscriptOut(role=role, final=True, language=language):
                self.turns.labels(role).inc()
                if language is not None and is_language(language):  # a bounded label set
                    self.turn_languages.labels(role, language).inc()
            case LanguageOut(language=language):
                self.language_switches.labels(language).inc()
            case Interruption():
                self.interruptions.inc()
            case TurnPrediction(finished=finished, took_ms=took):
                self.turn_predictions.labels("complete" if finished else "incomplete").inc()
                self.turn_model_seconds.observe(took / 1000.0)
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
