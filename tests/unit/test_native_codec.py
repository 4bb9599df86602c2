"""Native protocol v1 codec: every client message type, every error, every server event."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

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
    PingIn,
    PlaybackIn,
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
from parley.errors import AudioError, ValidationError
from parley.protocols.native import MESSAGE_TYPES, PROTOCOL_VERSION, NativeCodec

PCM = bytes(range(256)) * 4  # 1024 bytes: every byte value, even length


def _frame(**fields: Any) -> str:
    return json.dumps(fields)


@pytest.fixture
def codec() -> NativeCodec:
    return NativeCodec()


# ---------------------------------------------------------------- decode: valid messages


def test_decode_audio_gives_exact_pcm(codec: NativeCodec) -> None:
    event = codec.decode(_frame(type="audio", audio=base64.b64encode(PCM).decode()))
    assert event == AudioIn(PCM)
    assert event.pcm == PCM


def test_decode_empty_audio_is_empty_chunk(codec: NativeCodec) -> None:
    assert codec.decode(_frame(type="audio", audio="")) == AudioIn(b"")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"type": "text", "text": "Hello, world"}, TextIn("Hello, world")),
        ({"type": "text", "text": "héllo ✓"}, TextIn("héllo ✓")),
        ({"type": "playback", "played_ms": 0}, PlaybackIn(0)),
        ({"type": "playback", "played_ms": 1234}, PlaybackIn(1234)),
        (
            {"type": "tool_result", "call_id": "c1", "output": {"ok": True, "n": [1, 2]}},
            ToolResultIn("c1", {"ok": True, "n": [1, 2]}),
        ),
        ({"type": "tool_result", "call_id": "c2"}, ToolResultIn("c2", None)),
        ({"type": "ping", "ts": 1700000000123}, PingIn(1700000000123)),
        ({"type": "ping", "ts": "abc"}, PingIn("abc")),
        ({"type": "ping"}, PingIn(None)),
        ({"type": "end"}, EndIn()),
        ({"type": "end", "extra": "ignored"}, EndIn()),
    ],
)
def test_decode_messages(codec: NativeCodec, fields: dict[str, Any], expected: object) -> None:
    assert codec.decode(json.dumps(fields)) == expected


@pytest.mark.parametrize("action", CONTROL_ACTIONS)
def test_decode_control_actions(codec: NativeCodec, action: str) -> None:
    assert codec.decode(_frame(type="control", action=action)) == ControlIn(action)  # type: ignore[arg-type]


def test_message_types_cover_every_client_message() -> None:
    assert set(MESSAGE_TYPES) == {
        "audio",
        "text",
        "control",
        "playback",
        "tool_result",
        "ping",
        "end",
    }


def test_text_at_the_limit_is_accepted() -> None:
    codec = NativeCodec(max_text_chars=10)
    assert codec.decode(_frame(type="text", text="x" * 10)) == TextIn("x" * 10)


# ---------------------------------------------------------------- decode: errors


def _decode_error(codec: NativeCodec, frame: str | bytes) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        codec.decode(frame)
    assert info.value.code == "validation_error"
    assert str(info.value) == info.value.message
    return info.value


@pytest.mark.parametrize(
    "frame", ["{", '{"type": "text", "text": "hi"', "not json", "", "[" * 50_000]
)
def test_malformed_json(codec: NativeCodec, frame: str) -> None:
    assert "malformed JSON" in _decode_error(codec, frame).message


@pytest.mark.parametrize("frame", ["[]", '["audio"]', '"audio"', "42", "null", "true"])
def test_json_that_is_not_an_object(codec: NativeCodec, frame: str) -> None:
    assert _decode_error(codec, frame).message == "a message must be a JSON object"


@pytest.mark.parametrize(
    "frame",
    ['{"type": "dance"}', '{"type": "AUDIO", "audio": ""}', '{"audio": ""}', '{"type": ["end"]}'],
)
def test_unknown_type_lists_valid_types(codec: NativeCodec, frame: str) -> None:
    err = _decode_error(codec, frame)
    assert err.param == "type"
    assert "unknown message type" in err.message
    for kind in MESSAGE_TYPES:
        assert kind in err.message


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"type": "audio"}, "audio"),
        ({"type": "text"}, "text"),
        ({"type": "control"}, "action"),
        ({"type": "playback"}, "played_ms"),
        ({"type": "tool_result", "output": 1}, "call_id"),
    ],
)
def test_missing_required_field(codec: NativeCodec, fields: dict[str, Any], param: str) -> None:
    err = _decode_error(codec, json.dumps(fields))
    assert err.param == param
    assert err.message.startswith(f"{fields['type']}: {param}:")
    assert "required" in err.message.lower()


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"type": "audio", "audio": 123}, "audio"),
        ({"type": "audio", "audio": None}, "audio"),
        ({"type": "text", "text": 5}, "text"),
        ({"type": "text", "text": ["hi"]}, "text"),
        ({"type": "playback", "played_ms": "soon"}, "played_ms"),
        ({"type": "playback", "played_ms": 1.5}, "played_ms"),
        ({"type": "tool_result", "call_id": 7}, "call_id"),
        ({"type": "tool_result", "call_id": ""}, "call_id"),
        ({"type": "control", "action": 1}, "action"),
    ],
)
def test_wrong_field_types(codec: NativeCodec, fields: dict[str, Any], param: str) -> None:
    err = _decode_error(codec, json.dumps(fields))
    assert err.param == param
    assert err.message.startswith(f"{fields['type']}: {param}:")


@pytest.mark.parametrize("action", ["jump", "", "INTERRUPT", "stop"])
def test_invalid_control_action(codec: NativeCodec, action: str) -> None:
    err = _decode_error(codec, _frame(type="control", action=action))
    assert err.param == "action"
    assert "interrupt" in err.message


@pytest.mark.parametrize("played", [-1, -1000])
def test_negative_played_ms(codec: NativeCodec, played: int) -> None:
    err = _decode_error(codec, _frame(type="playback", played_ms=played))
    assert err.param == "played_ms"
    assert "greater than or equal to 0" in err.message


def test_empty_text(codec: NativeCodec) -> None:
    assert _decode_error(codec, _frame(type="text", text="")).param == "text"


def test_text_over_the_limit() -> None:
    codec = NativeCodec(max_text_chars=10)
    err = _decode_error(codec, _frame(type="text", text="x" * 11))
    assert err.param == "text"
    assert "11" in err.message
    assert "10" in err.message


@pytest.mark.parametrize("b64", ["!!!!", "abc", "AAE", "AA E=", "AAE=\n", "ÀÀÀÀ"])
def test_audio_not_base64(codec: NativeCodec, b64: str) -> None:
    with pytest.raises(AudioError) as info:
        codec.decode(_frame(type="audio", audio=b64))
    assert info.value.code == "audio_error"
    assert info.value.param == "audio"
    assert "base64" in info.value.message


@pytest.mark.parametrize("size", [1, 3, 1023])
def test_audio_odd_length_pcm(codec: NativeCodec, size: int) -> None:
    with pytest.raises(AudioError) as info:
        codec.decode(_frame(type="audio", audio=base64.b64encode(bytes(size)).decode()))
    assert info.value.code == "audio_error"
    assert str(size) in info.value.message


def test_frame_larger_than_limit() -> None:
    codec = NativeCodec(max_frame_bytes=1024)
    ok = _frame(type="text", text="x" * 100)
    big = _frame(type="text", text="x" * 1024)
    assert codec.decode(ok) == TextIn("x" * 100)
    err = _decode_error(codec, big)
    assert str(len(big)) in err.message
    assert "1024" in err.message


def test_frame_size_limit_applies_before_parsing() -> None:
    codec = NativeCodec(max_frame_bytes=1024)
    assert "exceeds the limit" in _decode_error(codec, "{" * 2000).message


def test_frame_limit_counts_utf8_bytes() -> None:
    codec = NativeCodec(max_frame_bytes=1024, max_text_chars=4000)
    frame = json.dumps({"type": "text", "text": "é" * 600}, ensure_ascii=False)
    assert len(frame) < 1024 < len(frame.encode("utf-8"))
    _decode_error(codec, frame)


@pytest.mark.parametrize("frame", [b'{"type": "end"}', b"", b"\x00\x01"])
def test_binary_frames_are_rejected(codec: NativeCodec, frame: bytes) -> None:
    assert "binary" in _decode_error(codec, frame).message


# ---------------------------------------------------------------- encode


def _wire(codec: NativeCodec, event: ServerEvent) -> dict[str, Any]:
    frame = codec.encode(event)
    assert isinstance(frame, str)
    decoded = json.loads(frame)
    assert decoded == codec.to_wire(event)
    return decoded  # type: ignore[no-any-return]


def test_encode_connected(codec: NativeCodec) -> None:
    assert _wire(codec, Connected("conv_1", "agent_1")) == {
        "type": "connected",
        "protocol_version": PROTOCOL_VERSION,
        "conversation_id": "conv_1",
        "agent_id": "agent_1",
        "audio_format": {"encoding": "pcm16", "sample_rate": 16000, "channels": 1},
        "resumed": False,
    }
    assert PROTOCOL_VERSION == "1"
    resumed = _wire(codec, Connected("conv_1", "agent_1", resume_token="rt_x", resumed=True))
    assert (resumed["resume_token"], resumed["resumed"]) == ("rt_x", True)


def test_encode_audio_is_base64_of_pcm(codec: NativeCodec) -> None:
    wire = _wire(codec, AudioOut(PCM, "turn_1", 3))
    assert wire == {
        "type": "audio",
        "audio": base64.b64encode(PCM).decode("ascii"),
        "turn_id": "turn_1",
        "seq": 3,
    }
    assert base64.b64decode(wire["audio"]) == PCM


def test_encoded_audio_decodes_back_to_the_same_pcm(codec: NativeCodec) -> None:
    wire = _wire(codec, AudioOut(PCM, "t", 0))
    assert codec.decode(_frame(type="audio", audio=wire["audio"])) == AudioIn(PCM)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            TranscriptOut("user", "hello there", True, "turn_1"),
            {
                "type": "transcript",
                "role": "user",
                "text": "hello there",
                "final": True,
                "turn_id": "turn_1",
            },
        ),
        (
            TranscriptOut("agent", "Hi.", False, "turn_2"),
            {
                "type": "transcript",
                "role": "agent",
                "text": "Hi.",
                "final": False,
                "turn_id": "turn_2",
            },
        ),
        (SpeechStarted(), {"type": "speech_started"}),
        (SpeechStopped(1200.0, "turn_3"), {"type": "speech_stopped", "turn_id": "turn_3"}),
        (UserTurnDropped("turn_3"), {"type": "user_turn_dropped", "turn_id": "turn_3"}),
        (AgentTurnStart("turn_3"), {"type": "agent_turn_start", "turn_id": "turn_3"}),
        (Interruption("turn_3"), {"type": "interruption", "turn_id": "turn_3"}),
        (
            AgentTurnEnd("turn_3", "interrupted"),
            {"type": "agent_turn_end", "turn_id": "turn_3", "status": "interrupted"},
        ),
        (
            AgentTurnEnd("turn_4"),
            {"type": "agent_turn_end", "turn_id": "turn_4", "status": "completed"},
        ),
        (
            ToolCallOut("call_1", "get_weather", {"city": "Paris", "days": 2}, "turn_4"),
            {
                "type": "tool_call",
                "call_id": "call_1",
                "name": "get_weather",
                "arguments": {"city": "Paris", "days": 2},
                "turn_id": "turn_4",
            },
        ),
        (
            MetricsOut("turn_5", {"stt": 12.5, "llm": 80.0, "tts": None}),
            {
                "type": "metrics",
                "turn_id": "turn_5",
                "latency_ms": {"stt": 12.5, "llm": 80.0, "tts": None},
            },
        ),
        (ControlAck("pause"), {"type": "control_ack", "action": "pause", "status": "executed"}),
        (
            ControlAck("interrupt", "ignored"),
            {"type": "control_ack", "action": "interrupt", "status": "ignored"},
        ),
        (Pong(42), {"type": "pong", "ts": 42}),
        (Pong(), {"type": "pong", "ts": None}),
        (
            ErrorOut("validation_error", "bad message"),
            {"type": "error", "code": "validation_error", "message": "bad message"},
        ),
        (SessionEnded("max_turns"), {"type": "session_ended", "reason": "max_turns"}),
        (
            SessionEnded("server_shutdown", 30.0),
            {
                "type": "session_ended",
                "reason": "server_shutdown",
                "resumable": True,
                "resume_within_s": 30.0,
            },
        ),
    ],
)
def test_encode_events(codec: NativeCodec, event: ServerEvent, expected: dict[str, Any]) -> None:
    assert _wire(codec, event) == expected


def test_ping_ts_round_trips_to_pong(codec: NativeCodec) -> None:
    ping = codec.decode(_frame(type="ping", ts={"client": 1.25}))
    assert isinstance(ping, PingIn)
    assert _wire(codec, Pong(ping.ts)) == {"type": "pong", "ts": {"client": 1.25}}
