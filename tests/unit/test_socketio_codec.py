"""Socket.IO voice-agent codec: every client event, every error, every server event, the
start_session settings (legacy vad_threshold included), resampling; fuzzed with hypothesis."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parley.core.agent import AgentConfig
from parley.core.events import (
    CONTROL_ACTIONS,
    AgentTurnEnd,
    AgentTurnStart,
    AudioIn,
    AudioOut,
    Connected,
    ControlAck,
    ControlIn,
    EndIn,
    ErrorOut,
    Interruption,
    MetricsOut,
    Pong,
    ServerEvent,
    SessionEnded,
    SpeechStarted,
    SpeechStopped,
    TextIn,
    ToolCallOut,
    ToolResultIn,
    TranscriptOut,
    UserTurnDropped,
)
from parley.core.turns import TurnConfig
from parley.errors import ParleyError
from parley.protocols.socketio import (
    CLIENT_EVENTS,
    EffectiveSettings,
    SessionEncoder,
    SocketIOCodec,
    StartSession,
    connected_payload,
    error_event,
    payload_size,
)

PCM = bytes(range(256)) * 4  # 1024 bytes: every byte value, even length
B64 = base64.b64encode(PCM).decode("ascii")


@pytest.fixture
def codec() -> SocketIOCodec:
    return SocketIOCodec(max_frame_bytes=4096, max_text_chars=50)


# ---------------------------------------------------------------- decode: valid events


def test_audio_chunk_base64_or_binary_gives_exact_pcm(codec: SocketIOCodec) -> None:
    assert codec.decode("audio_chunk", {"audio": B64}) == AudioIn(PCM)
    assert codec.decode("audio_chunk", {"audio": B64, "format": "pcm16"}) == AudioIn(PCM)
    assert codec.decode("audio_chunk", {"audio": B64, "format": "PCM16"}) == AudioIn(PCM)
    assert codec.decode("audio_chunk", {"audio": PCM, "sample_rate": 16000}) == AudioIn(PCM)
    assert codec.decode("audio_chunk", {"audio": ""}) == AudioIn(b"")


def _tone(rate: int, seconds: float, hz: float = 440.0) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * hz * t) * 12000).astype("<i2").tobytes()


def _max_difference(a: bytes, b: bytes) -> int:
    """The largest difference of two PCM16 chunks' samples (over the shorter one's length)."""
    x, y = (np.frombuffer(pcm, "<i2").astype(np.int32) for pcm in (a, b))
    n = min(len(x), len(y))
    assert n > 0
    return int(np.abs(x[:n] - y[:n]).max())


def _pcm(codec: SocketIOCodec, payload: dict[str, Any]) -> bytes:
    event = codec.decode("audio_chunk", payload)
    assert isinstance(event, AudioIn)
    return event.pcm


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_other_sample_rates_are_resampled_to_16_khz(codec: SocketIOCodec, rate: int) -> None:
    pcm = _tone(rate, 1.0)
    step = rate * 32 // 1000 * 2  # 32 ms chunks, as a microphone sends them
    out = b"".join(
        _pcm(codec, {"audio": pcm[i : i + step], "sample_rate": rate})
        for i in range(0, len(pcm), step)
    )
    samples = np.frombuffer(out, "<i2").astype(np.float64)
    assert 14_500 <= len(samples) <= 16_000  # the filter holds back < 100 ms for later
    spectrum = np.abs(np.fft.rfft(samples))
    assert abs(np.argmax(spectrum) * 16_000 / len(samples) - 440) < 5
    assert np.sqrt(np.mean(samples[2000:] ** 2)) == pytest.approx(12000 / np.sqrt(2), rel=0.05)


def test_a_new_rate_or_a_reset_starts_a_new_resampler(codec: SocketIOCodec) -> None:
    first = _pcm(codec, {"audio": _tone(8000, 0.1), "sample_rate": 8000})
    more = _pcm(codec, {"audio": _tone(8000, 0.1), "sample_rate": 8000})
    other = _pcm(codec, {"audio": _tone(22050, 0.05), "sample_rate": 22050})
    codec.reset_audio()
    fresh = _pcm(codec, {"audio": _tone(8000, 0.1), "sample_rate": 8000})
    # soxr's SIMD code may round an output sample differently from one call to the next
    assert _max_difference(first, fresh) <= 2, "a reset resampler starts from the same state"
    assert _max_difference(first, more) > 2, "within a stream the filter carries on"
    assert len(other) > 0


@pytest.mark.parametrize("action", CONTROL_ACTIONS)
def test_control(codec: SocketIOCodec, action: str) -> None:
    assert codec.decode("control", {"action": action}) == ControlIn(action)  # type: ignore[arg-type]


def test_end_session_text_and_tool_result(codec: SocketIOCodec) -> None:
    assert codec.decode("end_session") == EndIn()
    assert codec.decode("end_session", None) == EndIn()
    assert codec.decode("end_session", {"reason": "bye"}) == EndIn()
    assert codec.decode("text", {"text": "hello"}) == TextIn("hello")
    result = codec.decode("tool_result", {"call_id": "c1", "output": {"ok": True}})
    assert result == ToolResultIn("c1", {"ok": True})


def test_start_session_defaults_to_an_ad_hoc_agent(codec: SocketIOCodec) -> None:
    for args in ((), (None,), ({},)):
        request = codec.decode("start_session", *args)
        assert request == StartSession(language="auto")  # no language: detect the caller's
        assert isinstance(request, StartSession) and request.ad_hoc
        assert request.turn_overrides() == {}


def test_start_session_with_every_field(codec: SocketIOCodec) -> None:
    request = codec.decode(
        "start_session",
        {
            "voice": "en_US-joe-medium",
            "language": "en-US",
            "instructions": "Be brief.",
            "first_message": "Hello!",
            "vad_threshold": 0.6,
            "interrupt_threshold": 8,
            "resume_token": "rt_abc",
        },
    )
    assert request == StartSession(
        voice="en_US-joe-medium",
        language="en-US",
        instructions="Be brief.",
        first_message="Hello!",
        vad_threshold=0.6,
        interrupt_threshold=8,
        resume_token="rt_abc",
    )
    assert isinstance(request, StartSession)
    assert request.turn_overrides() == {"vad_threshold": 0.6, "interrupt_threshold": 8.0}


@pytest.mark.parametrize("legacy", [1, 600, 600.0, 32768])
def test_legacy_energy_vad_threshold_falls_back_to_the_agent_setting(
    codec: SocketIOCodec, legacy: float
) -> None:
    request = codec.decode("start_session", {"vad_threshold": legacy, "interrupt_threshold": 8})
    assert isinstance(request, StartSession)
    assert request.vad_threshold is None and request.legacy_vad_threshold == legacy
    assert request.turn_overrides() == {"interrupt_threshold": 8.0}
    config = AgentConfig("agt_demo", "p", "v", turns=TurnConfig(vad_threshold=0.45))
    effective = EffectiveSettings.of("ses_1", config, ad_hoc=True, request=request)
    assert effective.vad_threshold == 0.45
    assert effective.notes == (
        f"vad_threshold {legacy:g} is read as a legacy energy level (values of 1 or more); "
        "Parley's vad_threshold is a speech probability between 0 and 1, so the agent's "
        "own setting (0.45) is used",
    )


@pytest.mark.parametrize(("given", "used"), [(0.001, 0.05), (0.04, 0.05), (0.99, 0.95)])
def test_probabilities_outside_the_supported_range_are_clamped(
    codec: SocketIOCodec, given: float, used: float
) -> None:
    request = codec.decode("start_session", {"vad_threshold": given})
    assert isinstance(request, StartSession)
    assert request.vad_threshold == used
    assert request.notes == (
        f"vad_threshold {given:g} is outside the supported 0.05-0.95; {used:g} is used",
    )


def test_start_session_notes_what_it_ignores(codec: SocketIOCodec) -> None:
    request = codec.decode(
        "start_session",
        {"agent_id": "agt_1", "voice": "v", "instructions": "x", "model": "gpt", "zz": 1},
    )
    assert isinstance(request, StartSession) and not request.ad_hoc
    assert request.notes == (
        "unknown fields ignored: model, zz",
        "voice, instructions ignored: a stored agent (agt_1) keeps its own; only "
        "vad_threshold and interrupt_threshold apply per session",
    )
    auto = codec.decode("start_session", {"language": "auto"})
    assert isinstance(auto, StartSession) and auto.language == "auto" and auto.notes == ()
    spanish = codec.decode("start_session", {"language": "es"})
    assert isinstance(spanish, StartSession) and spanish.language == "es"


# ---------------------------------------------------------------- decode: errors

ERRORS: list[tuple[Any, tuple[Any, ...], str, str, str | None]] = [
    (5, ({},), "validation_error", "an event name must be a string, got 5", None),
    ("dance", ({},), "validation_error", "unknown event 'dance'; expected one of", "event"),
    ("x" * 100, (), "validation_error", "unknown event 'xxxxxxxxxxxxxx", "event"),
    ("connect", (), "validation_error", "unknown event 'connect'", "event"),
    ("text", ({"text": "a"}, {}), "validation_error", "text: send one payload object, got 2", None),
    ("end_session", (5,), "validation_error", "end_session: the payload must be an object", None),
    (
        "start_session",
        ([],),
        "validation_error",
        "start_session: the payload must be an object, got list",
        None,
    ),
    (
        "audio_chunk",
        (None,),
        "validation_error",
        "audio_chunk: the payload must be an object, got NoneType",
        None,
    ),
    (
        "audio_chunk",
        ("AAAA",),
        "validation_error",
        "audio_chunk: the payload must be an object, got str",
        None,
    ),
    ("audio_chunk", ({},), "validation_error", "audio_chunk: audio: Field required", "audio"),
    (
        "audio_chunk",
        ({"audio": 5},),
        "validation_error",
        "audio_chunk: audio: must be a base64 string (or binary), got int",
        "audio",
    ),
    (
        "audio_chunk",
        ({"audio": B64, "format": 16},),
        "validation_error",
        "audio_chunk: format: Input should be a valid string",
        "format",
    ),
    (
        "audio_chunk",
        ({"audio": B64, "format": "mp3"},),
        "audio_error",
        "audio_chunk: format 'mp3' is not supported; send 'pcm16'",
        "format",
    ),
    (
        "audio_chunk",
        ({"audio": B64, "format": "pcm24"},),
        "audio_error",
        "format 'pcm24' is not supported",
        "format",
    ),
    (
        "audio_chunk",
        ({"audio": "@@@@"},),
        "audio_error",
        "audio_chunk: audio is not valid base64",
        "audio",
    ),
    (
        "audio_chunk",
        ({"audio": "AAA"},),
        "audio_error",
        "audio_chunk: audio is not valid base64",
        "audio",
    ),
    ("audio_chunk", ({"audio": "AA=="},), "audio_error", "even number of bytes, got 1", "audio"),
    ("audio_chunk", ({"audio": b"\x00"},), "audio_error", "even number of bytes, got 1", "audio"),
    (
        "audio_chunk",
        ({"audio": B64, "sample_rate": 7999},),
        "validation_error",
        "audio_chunk: sample_rate: Input should be greater than or equal to 8000",
        "sample_rate",
    ),
    (
        "audio_chunk",
        ({"audio": B64, "sample_rate": 96000},),
        "validation_error",
        "sample_rate: Input should be less than or equal to 48000",
        "sample_rate",
    ),
    (
        "audio_chunk",
        ({"audio": B64, "sample_rate": "16000"},),
        "validation_error",
        "sample_rate: Input should be a valid integer",
        "sample_rate",
    ),
    (
        "audio_chunk",
        ({"audio": B64, "sample_rate": 16000.5},),
        "validation_error",
        "sample_rate: Input should be a valid integer",
        "sample_rate",
    ),
    (
        "audio_chunk",
        ({"audio": B64, "sample_rate": True},),
        "validation_error",
        "sample_rate: Input should be a number, not a boolean",
        "sample_rate",
    ),
    (
        "audio_chunk",
        ({"audio": "A" * 5000},),
        "validation_error",
        "audio_chunk: the payload exceeds the limit of 4096 bytes",
        None,
    ),
    ("control", ({},), "validation_error", "control: action: Field required", "action"),
    (
        "control",
        ({"action": "dance"},),
        "validation_error",
        "control: action: Input should be 'interrupt', 'start_listening'",
        "action",
    ),
    (
        "control",
        ("pause",),
        "validation_error",
        "control: the payload must be an object, got str",
        None,
    ),
    (
        "text",
        ({"text": ""},),
        "validation_error",
        "text: text: String should have at least 1 character",
        "text",
    ),
    (
        "text",
        ({"text": "x" * 51},),
        "validation_error",
        "text: text of 51 characters exceeds the limit of 50",
        "text",
    ),
    (
        "tool_result",
        ({"output": 1},),
        "validation_error",
        "tool_result: call_id: Field required",
        "call_id",
    ),
    (
        "start_session",
        ({"vad_threshold": 0},),
        "validation_error",
        "start_session: vad_threshold: Input should be greater than 0",
        "vad_threshold",
    ),
    (
        "start_session",
        ({"vad_threshold": -600},),
        "validation_error",
        "vad_threshold: Input should be greater than 0",
        "vad_threshold",
    ),
    (
        "start_session",
        ({"vad_threshold": "0.5"},),
        "validation_error",
        "vad_threshold: Input should be a valid number",
        "vad_threshold",
    ),
    (
        "start_session",
        ({"vad_threshold": True},),
        "validation_error",
        "vad_threshold: Input should be a number, not a boolean",
        "vad_threshold",
    ),
    (
        "start_session",
        ({"vad_threshold": float("nan")},),
        "validation_error",
        "vad_threshold: Input should be a finite number",
        "vad_threshold",
    ),
    (
        "start_session",
        ({"vad_threshold": float("inf")},),
        "validation_error",
        "vad_threshold: Input should be a finite number",
        "vad_threshold",
    ),
    (
        "start_session",
        ({"interrupt_threshold": 0},),
        "validation_error",
        "interrupt_threshold: Input should be greater than or equal to 1",
        "interrupt_threshold",
    ),
    (
        "start_session",
        ({"interrupt_threshold": 51},),
        "validation_error",
        "interrupt_threshold: Input should be less than or equal to 50",
        "interrupt_threshold",
    ),
    (
        "start_session",
        ({"interrupt_threshold": 8.5},),
        "validation_error",
        "interrupt_threshold: Input should be a valid integer",
        "interrupt_threshold",
    ),
    (
        "start_session",
        ({"agent_id": ""},),
        "validation_error",
        "agent_id: String should match pattern",
        "agent_id",
    ),
    (
        "start_session",
        ({"agent_id": "../etc"},),
        "validation_error",
        "agent_id: String should match pattern",
        "agent_id",
    ),
    (
        "start_session",
        ({"agent_id": 7},),
        "validation_error",
        "agent_id: Input should be a valid string",
        "agent_id",
    ),
    (
        "start_session",
        ({"voice": ""},),
        "validation_error",
        "voice: String should have at least 1 character",
        "voice",
    ),
    (
        "start_session",
        ({"language": "English"},),
        "validation_error",
        "language: String should match pattern",
        "language",
    ),
    (
        "start_session",
        ({"instructions": ""},),
        "validation_error",
        "instructions: String should have at least 1 character",
        "instructions",
    ),
    (
        "start_session",
        ({"instructions": ["a"]},),
        "validation_error",
        "instructions: Input should be a valid string",
        "instructions",
    ),
]


@pytest.mark.parametrize(("event", "args", "code", "message", "param"), ERRORS)
def test_bad_events_get_precise_errors(
    codec: SocketIOCodec,
    event: Any,
    args: tuple[Any, ...],
    code: str,
    message: str,
    param: str | None,
) -> None:
    with pytest.raises(ParleyError) as caught:
        codec.decode(event, *args)
    assert caught.value.code == code
    assert message in caught.value.message, caught.value.message
    assert caught.value.param == param


def test_the_size_limit_counts_the_whole_payload(codec: SocketIOCodec) -> None:
    assert payload_size({"audio": "A" * 100}, 4096) == 2 + 7 + 102
    assert payload_size(["é" * 10], 4096) == 2 + 1 + 22
    assert payload_size({"audio": b"\0" * 10}, 4096) == 2 + 7 + 10
    assert payload_size({"audio": "A" * 4085}, 4096) == 4096
    assert isinstance(codec.decode("audio_chunk", {"audio": "A" * 4080}), AudioIn)
    with pytest.raises(ParleyError, match="exceeds the limit of 4096 bytes"):
        codec.decode("audio_chunk", {"audio": "A" * 4086})
    nested: Any = "x"
    for _ in range(10_000):
        nested = [nested]
    assert payload_size(nested, 4096) > 4096  # deep nesting is counted, not recursed


# ---------------------------------------------------------------- encode


def _settings(**changes: Any) -> EffectiveSettings:
    base: dict[str, Any] = {
        "session_id": "ses_1",
        "agent_id": "agt_demo",
        "ad_hoc": True,
        "voice": "en_US-joe-medium",
        "language": "en",
        "vad_threshold": 0.5,
        "interrupt_threshold": 8,
        "end_of_turn_silence_ms": 500.0,
    }
    return EffectiveSettings(**{**base, **changes})


def test_session_started_reports_the_effective_settings() -> None:
    config = AgentConfig(
        "agt_demo",
        "prompt",
        "en_US-joe-medium",
        language="en",
        turns=TurnConfig(
            vad_threshold=0.6, end_of_turn_silence_ms=700, interrupt_min_speech_ms=8 * 32.0
        ),
    )
    request = StartSession(notes=("unknown fields ignored: x",))
    settings = EffectiveSettings.of("ses_9", config, ad_hoc=False, request=request)
    ((name, payload),) = SessionEncoder(settings).encode(Connected("ses_9", "agt_demo"))
    assert name == "session_started"
    assert payload == {
        "status": "started",
        "session_id": "ses_9",
        "agent_id": "agt_demo",
        "ad_hoc": False,
        "voice": "en_US-joe-medium",
        "language": "en",
        "vad_threshold": 0.6,
        "interrupt_threshold": 8,
        "end_of_turn_silence_ms": 700,
        "audio_format": {"encoding": "pcm16", "sample_rate": 16000, "channels": 1},
        "notes": ["unknown fields ignored: x"],
        "resumed": False,
    }
    assert "prompt" not in json.dumps(payload), "a stored agent's prompt is never sent"
    resumed = Connected("ses_9", "agt_demo", resume_token="rt_x", resumed=True)
    ((_, again),) = SessionEncoder(settings).encode(resumed)
    assert (again["resume_token"], again["resumed"]) == ("rt_x", True)


def test_audio_end_counts_each_turns_chunks() -> None:
    encoder = SessionEncoder(_settings())
    out = []
    for seq in range(3):
        out += encoder.encode(AudioOut(PCM, "turn_1", seq))
    out += encoder.encode(AudioOut(PCM, "turn_2", 0))
    out += encoder.encode(AgentTurnEnd("turn_1", "completed"))
    out += encoder.encode(AgentTurnEnd("turn_2", "interrupted"))
    out += encoder.encode(AgentTurnEnd("turn_3", "cancelled"))
    assert [name for name, _ in out] == ["audio_chunk"] * 4 + ["audio_end"] * 3
    assert out[0][1] == {
        "audio": B64,
        "format": "pcm16",
        "sample_rate": 16000,
        "turn_id": "turn_1",
        "seq": 0,
    }
    assert [p for _, p in out[4:]] == [
        {"total_chunks": 3, "turn_id": "turn_1", "status": "completed"},
        {"total_chunks": 1, "turn_id": "turn_2", "status": "interrupted"},
        {"total_chunks": 0, "turn_id": "turn_3", "status": "cancelled"},
    ]


EVENTS: list[tuple[ServerEvent, str, dict[str, Any]]] = [
    (
        TranscriptOut("user", "hi", True, "turn_2"),
        "transcription",
        {"text": "hi", "is_final": True, "turn_id": "turn_2"},
    ),
    (
        TranscriptOut("agent", "Hel", False, "turn_2"),
        "response",
        {"text": "Hel", "is_final": False, "turn_id": "turn_2"},
    ),
    (
        TranscriptOut("agent", "Hello.", True, "turn_2"),
        "response",
        {"text": "Hello.", "is_final": True, "turn_id": "turn_2"},
    ),
    (Interruption("turn_2"), "interruption", {"turn_id": "turn_2"}),
    (AgentTurnStart("turn_2"), "agent_turn_start", {"turn_id": "turn_2"}),
    (SpeechStarted(120.0), "speech_started", {"audio_ms": 120.0}),
    (SpeechStopped(900.0, "turn_3"), "speech_stopped", {"audio_ms": 900.0, "turn_id": "turn_3"}),
    (UserTurnDropped("turn_3"), "user_turn_dropped", {"turn_id": "turn_3"}),
    (
        ToolCallOut("c1", "lookup", {"q": 1}, "turn_4"),
        "tool_call",
        {"call_id": "c1", "name": "lookup", "arguments": {"q": 1}, "turn_id": "turn_4"},
    ),
    (
        MetricsOut("turn_2", {"stt": 80.0, "voice_to_voice": None}),
        "metrics",
        {"turn_id": "turn_2", "latency_ms": {"stt": 80.0, "voice_to_voice": None}},
    ),
    (ControlAck("pause"), "control_ack", {"action": "pause", "status": "executed"}),
    (Pong(5), "pong", {"ts": 5}),
    (ErrorOut("internal_error", "boom"), "error", {"type": "internal_error", "message": "boom"}),
    (
        SessionEnded("agent_deleted"),
        "session_ended",
        {"session_id": "ses_1", "status": "ended", "reason": "agent_deleted"},
    ),
    (
        SessionEnded("server_shutdown", 30.0),
        "session_ended",
        {
            "session_id": "ses_1",
            "status": "ended",
            "reason": "server_shutdown",
            "resumable": True,
            "resume_within_s": 30.0,
        },
    ),
]


@pytest.mark.parametrize(("event", "name", "payload"), EVENTS)
def test_every_server_event_has_one_socketio_event(
    event: ServerEvent, name: str, payload: dict[str, Any]
) -> None:
    out = SessionEncoder(_settings()).encode(event)
    assert out == [(name, payload)]
    json.dumps(out)  # what python-socketio sends must be JSON


def test_connected_and_error_payloads() -> None:
    payload = connected_payload("abc", "en_US-joe-medium")
    assert payload["status"] == "connected" and payload["sid"] == "abc"
    assert payload["voice"] == "en_US-joe-medium" and "start_session" in payload["message"]
    from parley.errors import AudioError, AuthenticationError

    assert error_event(AuthenticationError("invalid or revoked API key")) == (
        "error",
        {"type": "authentication_error", "message": "invalid or revoked API key"},
    )
    assert error_event(AudioError("bad", param="audio"))[1] == {
        "type": "audio_error",
        "message": "bad",
        "param": "audio",
    }


# ---------------------------------------------------------------- fuzz

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=40)
    | st.binary(max_size=64),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
_fields = st.sampled_from(
    [
        "audio",
        "format",
        "sample_rate",
        "action",
        "text",
        "call_id",
        "output",
        "agent_id",
        "voice",
        "language",
        "instructions",
        "first_message",
        "vad_threshold",
        "interrupt_threshold",
    ]
)
_values = (
    _json
    | st.sampled_from([B64, "AAA=", "pcm16", "mp3", "pause", "auto", "en", 600, 8, 0.5, 48000])
    | st.binary(max_size=2048)
    | st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", max_size=5000
    )
    | st.integers(min_value=7000, max_value=50000)
    | st.floats(min_value=-2, max_value=2000)
)
_payloads = st.dictionaries(_fields, _values, max_size=5) | _json
_events = st.sampled_from(CLIENT_EVENTS) | st.text(max_size=20) | st.integers() | st.none()


@settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))
@given(event=_events, args=st.lists(_payloads, max_size=3))
def test_fuzz_decode_raises_only_parley_errors(event: Any, args: list[Any]) -> None:
    codec = SocketIOCodec(max_frame_bytes=4096, max_text_chars=100)
    try:
        decoded = codec.decode(event, *args)
    except ParleyError as exc:
        assert exc.code in ("validation_error", "audio_error") and exc.message
        return
    assert event in CLIENT_EVENTS
    if isinstance(decoded, AudioIn):
        assert len(decoded.pcm) % 2 == 0


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    chunks=st.lists(
        st.fixed_dictionaries(
            {"audio": st.binary(max_size=4000)},
            optional={
                "sample_rate": st.sampled_from([8000, 11025, 16000, 22050, 44100, 48000]),
                "format": st.sampled_from(["pcm16", "PCM16", "mp3"]),
            },
        ),
        min_size=1,
        max_size=8,
    )
)
def test_fuzz_audio_streams_decode_to_whole_pcm16_samples(chunks: list[dict[str, Any]]) -> None:
    codec = SocketIOCodec(max_frame_bytes=8192)
    for chunk in chunks:
        try:
            decoded = codec.decode("audio_chunk", chunk)
        except ParleyError as exc:
            assert exc.code == "audio_error"
            assert len(chunk["audio"]) % 2 or chunk.get("format") == "mp3"
            continue
        assert isinstance(decoded, AudioIn) and len(decoded.pcm) % 2 == 0
        if chunk.get("sample_rate", 16000) == 16000:
            assert decoded.pcm == chunk["audio"]


def test_an_ad_hoc_session_in_another_language_does_not_say_the_english_greeting() -> None:
    from parley.core.agent import AgentConfig
    from parley.server.socketio_agent import _ad_hoc

    default = AgentConfig("agt_demo", "Be brief.", "en_US-joe-medium", first_message="Hi!")
    assert _ad_hoc(default, StartSession(language="auto"), None).first_message == "Hi!"
    assert _ad_hoc(default, StartSession(language="en"), None).first_message == "Hi!"
    spanish = _ad_hoc(default, StartSession(language="es"), "espeak-es")
    assert spanish.language == "es" and spanish.first_message is None
    asked = _ad_hoc(default, StartSession(language="es", first_message="¡Hola!"), None)
    assert asked.first_message == "¡Hola!"
