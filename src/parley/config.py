"""Settings, grouped in typed objects. This module is the only reader of env vars.

Every field can be set from the environment with the ``PARLEY_`` prefix; nested
groups use ``__``, e.g. ``PARLEY_TURNS__END_OF_TURN_SILENCE_MS=700``.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from parley.core.turns import TurnDetectionMode


class TurnSettings(BaseModel):
    """Turn-taking defaults; agents may override them."""

    vad_threshold: float = Field(0.5, ge=0.05, le=0.95, description="speech probability")
    end_of_turn_silence_ms: int = Field(500, ge=100, le=5000)
    min_speech_ms: int = Field(96, ge=32, le=2000, description="speech needed to open a turn")
    speculative_stt_after_ms: int = Field(
        96, ge=0, le=5000, description="silence after which STT starts speculatively"
    )
    interrupt_threshold: int = Field(
        5, ge=1, le=50, description="32 ms frames of speech that interrupt the agent"
    )
    idle_timeout_ms: int = Field(
        15000, ge=0, le=600_000, description="user silence before the agent checks in; 0: never"
    )
    idle_prompts: int = Field(2, ge=0, le=5, description="check-ins before ending as idle")
    record_audio: bool = Field(
        False, description="keep a stereo WAV of each conversation (user left, agent right)"
    )
    turn_detection: TurnDetectionMode = Field(
        "model",
        description="how a pause ends a user turn: 'model' asks the Smart Turn model whether "
        "the speech sounds finished; 'silence' waits for end_of_turn_silence_ms",
    )
    turn_complete_silence_ms: int = Field(
        300, ge=32, le=5000, description="silence that ends a turn the model heard as finished"
    )
    turn_incomplete_silence_ms: int = Field(
        1600,
        ge=100,
        le=10_000,
        description="silence that ends a turn the model heard as unfinished (a mid-thought pause)",
    )
    turn_model_threshold: float = Field(
        0.5, gt=0.0, lt=1.0, description="the model's probability of 'finished' that ends a turn"
    )


class ModelSettings(BaseModel):
    """Embedded model knobs (thread counts are per model, shared by all sessions)."""

    stt_threads: int = Field(2, ge=1)
    stt_beam_size: int = Field(1, ge=1, le=10)
    stt_short_window: bool = Field(
        True, description="encode only the utterance's length (min 10 s), not Whisper's 30 s"
    )
    speculative_reply: bool = Field(
        True, description="prepare the reply during the end-of-turn silence"
    )
    llm_threads: int = Field(2, ge=1)
    llm_context_tokens: int = Field(2048, ge=256, description="context of each LLM slot")
    llm_parallel: int = Field(
        4, ge=1, le=64, description="conversations the local LLM decodes at once (slots)"
    )
    llm_cache_mib: int = Field(
        256, ge=0, le=65536, description="RAM for evaluated prompts of idle conversations"
    )
    llm_max_tokens: int = Field(96, ge=8, le=2048)
    llm_temperature: float = Field(0.3, ge=0.0, le=2.0)
    tts_threads: int = Field(1, ge=1)
    history_messages: int = Field(12, ge=2, description="past messages sent to the LLM")


class LimitSettings(BaseModel):
    """Bounds on what a client may send."""

    max_frame_bytes: int = Field(256 * 1024, ge=1024, description="largest WebSocket message")
    max_text_chars: int = Field(4000, ge=1)
    max_body_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="largest REST request body; a larger one is refused with 413 before it "
        "is read (transcription uploads have their own limit, 25 MiB)",
    )
    client_timeout_s: float = Field(
        30.0, ge=1.0, description="close a socket that sends nothing (not even ping) this long"
    )
    audio_burst_s: float = Field(
        5.0,
        ge=0.5,
        le=3600.0,
        description="seconds of audio a client may send ahead of real time; more is dropped "
        "(audio_rate_exceeded), and the session ends when that much more was dropped",
    )
    messages_per_s: float = Field(
        100.0, gt=0, le=100_000, description="WebSocket messages per second per connection"
    )
    message_burst: int = Field(
        500, ge=1, le=1_000_000, description="messages a connection may send at once"
    )
    max_refused: int = Field(
        20,
        ge=1,
        le=10_000,
        description="refused messages in a row (malformed, too large, over the rate; one "
        "is forgiven per second) before the connection is closed with 1008",
    )

    max_sessions: int = Field(
        4,
        ge=0,
        le=100_000,
        description="conversations this server holds at once; more are refused with "
        "session_error (close 1013) and a retry hint (0: no limit)",
    )
    violation_cooldown_s: float = Field(
        60.0,
        ge=0.0,
        le=86_400.0,
        description="after a policy_violation close, the same API key from the same address "
        "may not open a conversation for this long (0: no cooldown)",
    )

    def transport_max_bytes(self) -> int:
        """The WebSocket library's own cap on one message: far above ``max_frame_bytes``,
        so that an oversized message is read and answered with an ``error`` event."""
        return max(16 * 1024 * 1024, 4 * self.max_frame_bytes)


class RateLimitSettings(BaseModel):
    """Per-key token bucket for REST requests and conversation connects.

    A key may override both numbers when it is created (``POST /v1/api-keys``).
    """

    enabled: bool = True
    requests_per_minute: float = Field(
        600.0, gt=0, le=1_000_000, description="bucket refill rate per key"
    )
    burst: int = Field(100, ge=1, le=100_000, description="bucket size: requests at once")


class SessionSettings(BaseModel):
    """Sessions created over REST (``POST /v1/agents/{id}/sessions``)."""

    token_ttl_s: int = Field(
        300, ge=1, le=3600, description="default life of a session's connect token"
    )


class TwilioSettings(BaseModel):
    """Phone calls through Twilio Media Streams (docs/twilio.md)."""

    auth_token: str | None = Field(
        None,
        description="Twilio auth token; when set, X-Twilio-Signature is checked on webhooks",
    )
    account_sid: str | None = Field(
        None,
        description="Twilio account SID; with auth_token, the transfer_call tool redirects "
        "calls through Twilio's REST API",
    )
    stream_token_ttl_s: int = Field(
        60, ge=5, le=3600, description="life of the token the TwiML hands to the media stream"
    )


class ClusterSettings(BaseModel):
    """Running several replicas behind a load balancer (docs/deployment.md)."""

    redis_url: str | None = Field(
        None,
        description="Redis shared by the replicas (redis://host:6379/0): the live-session "
        "bus, rate limits, cooldowns and replica leases; unset: one replica, in-process",
    )
    replica_id: str = Field(
        default_factory=socket.gethostname,
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="this replica's name, stable across restarts (default: the host name); "
        "at start a replica ends only the sessions it held itself",
    )
    lease_s: float = Field(
        10.0,
        ge=1.0,
        le=600.0,
        description="a replica that has not renewed its lease for this long is dead: its "
        "sessions are ended (reason error) by the others and may be resumed",
    )
    resume_window_s: float = Field(
        30.0,
        ge=0.0,
        le=3600.0,
        description="how long after its connection dropped a conversation may be resumed "
        "with its resume_token (0: never)",
    )
    drain_timeout_s: float = Field(
        20.0,
        ge=0.0,
        le=3600.0,
        description="on SIGTERM, how long agent turns in progress may finish before every "
        "client is told server_shutdown and the replica exits",
    )


class Settings(BaseSettings):
    """Server settings."""

    model_config = SettingsConfigDict(env_prefix="PARLEY_", env_nested_delimiter="__")

    data_dir: Path = Path("parley-data")
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str | None = Field(
        None, description="SQLAlchemy async URL; default: SQLite file in data_dir"
    )
    log_level: str = "INFO"
    log_json: bool = True
    public_url: str | None = Field(None, description="base URL clients use, if proxied")
    default_agent_id: str = Field(
        "agt_demo",
        description="agent whose settings ad-hoc sessions start from (Socket.IO without "
        "agent_id, OpenAI Realtime without a model that names an agent)",
    )
    allow_private_urls: bool = Field(
        False,
        description="let server-side fetches (document URLs, webhooks) reach loopback, "
        "private and link-local addresses (only on a trusted network)",
    )
    metrics_public: bool = Field(
        False, description="serve /metrics without an admin API key (for a private network)"
    )
    models_dir: Path | None = Field(
        None, description="where model weights are assembled once; default: data_dir/models"
    )
    providers_file: Path | None = Field(
        None, description="TOML file of named STT, LLM and TTS providers (docs/providers.md)"
    )
    turns: TurnSettings = Field(default_factory=TurnSettings)
    models: ModelSettings = Field(default_factory=ModelSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)
    sessions: SessionSettings = Field(default_factory=SessionSettings)
    twilio: TwilioSettings = Field(default_factory=TwilioSettings)
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)

    def resolved_models_dir(self) -> Path:
        """The folder of assembled model weights."""
        return self.models_dir or self.data_dir / "models"

    def resolved_database_url(self) -> str:
        """The async database URL in use."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'parley.db').resolve()}"


class ClientSettings(BaseSettings):
    """Settings of the ``parley`` client commands (``parley call``)."""

    model_config = SettingsConfigDict(env_prefix="PARLEY_")

    api_key: str | None = None
    url: str = "http://127.0.0.1:8000"


def environment_secret(name: str) -> str | None:
    """The value of environment variable ``name`` (a provider's secret), if set and not
    empty. Secrets are read here only, and never logged or stored."""
    return os.environ.get(name) or None
