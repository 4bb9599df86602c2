"""OpenAI Realtime protocol (sans-I/O): every client event, the engine events a response is
made of, GA and beta naming, audio formats, errors; every server event it writes is
checked against the openai package's own event types (required fields, no unknown ones)."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any, get_args

import numpy as np
import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types.beta.realtime import RealtimeServerEvent as BetaServerEvent
from openai.types.realtime import RealtimeServerEvent

from parley.core.agent import AgentConfig
from parley.core.events import (
    AgentTurnEnd,
    AgentTurnStart,
    AudioIn,
    AudioOut,
    ClearIn,
    ClientEvent,
    CommitIn,
    Connected,
    ControlIn,
    ErrorOut,
    ForgetIn,
    Interruption,
    ReconfigureIn,
    RespondIn,
    ServerEvent,
    SessionEnded,
    SpeechStarted,
    SpeechStopped,
    TextIn,
    ToolCallOut,
    ToolResultIn,
    TranscriptOut,
    TruncateIn,
    UserTurnDropped,
)
from parley.protocols.openai_realtime import RealtimeProtocol
from parley.protocols.openai_realtime.client_events import BETA_EVENTS, GA_EVENTS
from parley.providers.llm.base import ToolSpec

VOICE = "en_US-joe-medium"
AGENT = AgentConfig(agent_id="agt_demo", system_prompt="Be brief.", voice_id=VOICE)
PCM16K = (np.sin(np.arange(8000) / 5.0) * 8000).astype("<i2").tobytes()  # 0.5 s at 16 kHz


# ---------------------------------------------------------------- schema checks


@cache
def _event_classes(beta: bool) -> dict[str, type[pydantic.BaseModel]]:
    union = get_args(BetaServerEvent if beta else RealtimeServerEvent)[0]
    classes = {}
    for cls in get_args(union):
        (kind,) = get_args(cls.model_fields["type"].annotation)
        classes[kind] = cls
    return classes


def _no_unknown_fields(value: Any, path: str) -> None:
    if isinstance(value, pydantic.BaseModel):
        extra = value.model_extra or {}
        assert not extra, f"unknown fields at {path or 'top'}: {sorted(extra)}"
        for name in type(value).model_fields:
            _no_unknown_fields(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _no_unknown_fields(v, f"{path}[{i}]")


def assert_valid_server_event(event: dict[str, Any], *, beta: bool = False) -> pydantic.BaseModel:
    """Validate one server event strictly against the openai package's type for its
    ``type``: an unknown type, a missing required field, a wrong type or a field the
    type does not have all fail."""
    classes = _event_classes(beta)
    kind = event.get("type")
    assert kind in classes, f"{kind!r} is not a {'beta' if beta else 'GA'} server event"
    model = classes[kind].model_validate(json.loads(json.dumps(event)), strict=True)
    _no_unknown_fields(model, "")
    return model


# ---------------------------------------------------------------- harness


class Harness:
    """Drives a protocol like the endpoint does; ``engine`` answers each fed event with the
    engine events the real session would emit while handling it."""

    def __init__(
        self,
        *,
        beta: bool = False,
        agent: AgentConfig = AGENT,
        engine: Callable[[ClientEvent], Iterable[ServerEvent]] | None = None,
    ) -> None:
        self.beta = beta
        self.protocol = RealtimeProtocol(
            agent=agent,
            conversation_id="ses_test",
            model="gpt-realtime",
            beta=beta,
            voices=[VOICE],
            max_frame_bytes=64 * 1024,
            max_text_chars=200,
        )
        self.engine = engine or (lambda event: ())
        self.fed: list[ClientEvent] = []
        self.sent: list[dict[str, Any]] = []
        self.engine_event(Connected("ses_test", "agt_demo"))

    def send(self, **event: Any) -> list[dict[str, Any]]:
        return self.frame(json.dumps(event))

    def frame(self, frame: str | bytes) -> list[dict[str, Any]]:
        start = len(self.sent)
        for action in self.protocol.receive(frame):
            if isinstance(action, dict):
                self._out(action)
            else:
                self.fed.append(action)
                for reaction in self.engine(action):
                    self.engine_event(reaction)
        return self.sent[start:]

    def engine_event(self, event: ServerEvent) -> list[Any]:
        actions = self.protocol.on_engine(event)
        for action in actions:
            if isinstance(action, dict):
                self._out(action)
        return [a for a in actions if not isinstance(a, dict)]

    def _out(self, event: dict[str, Any]) -> None:
        assert_valid_server_event(event, beta=self.beta)
        self.sent.append(event)

    def types(self, events: list[dict[str, Any]] | None = None) -> list[str]:
        return [e["type"] for e in (self.sent if events is None else events)]

    def last(self, kind: str) -> dict[str, Any]:
        return next(e for e in reversed(self.sent) if e["type"] == kind)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _error(events: list[dict[str, Any]]) -> dict[str, Any]:
    (event,) = [e for e in events if e["type"] == "error"]
    error: dict[str, Any] = event["error"]
    return error


def _speak(h: Harness, turn_id: str, text: str, *, final: bool = True) -> None:
    h.engine_event(TranscriptOut("agent", text, False, turn_id))
    h.engine_event(AudioOut(PCM16K, turn_id, 0))
    if final:
        h.engine_event(TranscriptOut("agent", text, True, turn_id))


# ---------------------------------------------------------------- session


def test_session_created_reports_the_agent_settings_without_its_prompt() -> None:
    h = Harness()
    assert h.types() == ["session.created", "conversation.created"]
    session = h.sent[0]["session"]
    assert session["type"] == "realtime" and session["model"] == "gpt-realtime"
    assert "instructions" not in session  # the stored prompt stays private
    assert session["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert session["audio"]["input"]["turn_detection"]["type"] == "server_vad"
    assert session["audio"]["output"]["voice"] == VOICE
    assert h.sent[1]["conversation"]["id"] == "ses_test"


def test_session_update_reconfigures_the_engine() -> None:
    h = Harness()
    tool = {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}
    out = h.send(
        type="session.update",
        event_id="evt_1",
        session={
            "type": "realtime",
            "instructions": "Talk like a pirate.",
            "audio": {
                "input": {"format": {"type": "audio/pcmu"}, "turn_detection": None},
                "output": {"format": {"type": "audio/pcma"}, "voice": "alloy"},
            },
            "tools": [tool],
            "tool_choice": {"type": "function", "name": "get_weather"},
        },
    )
    (reconfigure,) = h.fed
    assert isinstance(reconfigure, ReconfigureIn)
    agent = reconfigure.agent
    assert agent.system_prompt == "Talk like a pirate."
    assert agent.voice_id == VOICE  # OpenAI voice names speak with the agent's voice
    assert agent.turn_detection is False and agent.auto_respond is False
    assert agent.tools == (ToolSpec("get_weather", "", {"type": "object"}),)
    assert agent.tool_choice == "get_weather"
    assert h.types(out) == ["session.updated"]
    session = out[0]["session"]
    assert session["instructions"] == "Talk like a pirate."
    assert session["audio"]["input"]["turn_detection"] is None
    assert session["audio"]["output"] == {"format": {"type": "audio/pcma"}, "voice": "alloy"}
    assert session["tool_choice"] == {"type": "function", "name": "get_weather"}


def test_server_vad_settings_become_turn_settings() -> None:
    h = Harness()
    h.send(
        type="session.update",
        session={
            "audio": {
                "input": {
                    "turn_detection": {
                        "type": "server_vad",
                        "threshold": 0.7,
                        "silence_duration_ms": 800,
                        "create_response": False,
                        "idle_timeout_ms": 6000,
                    }
                }
            }
        },
    )
    (reconfigure,) = h.fed
    assert isinstance(reconfigure, ReconfigureIn)
    agent = reconfigure.agent
    assert agent.turn_detection and not agent.auto_respond
    assert agent.turns.vad_threshold == 0.7 and agent.turns.end_of_turn_silence_ms == 800
    assert agent.idle_timeout_ms == 6000
    detection = h.last("session.updated")["session"]["audio"]["input"]["turn_detection"]
    assert detection["threshold"] == 0.7 and detection["create_response"] is False


@pytest.mark.parametrize(
    ("session", "code", "param"),
    [
        ({"foo": 1}, "unknown_parameter", "session.foo"),
        ({"input_audio_format": "pcm16"}, "unknown_parameter", "session.input_audio_format"),
        ({"instructions": 5}, "invalid_type", "session.instructions"),
        ({"type": "transcription"}, "invalid_value", "session.type"),
        ({"audio": {"output": {"voice": "nobody"}}}, "invalid_value", "session.audio.output.voice"),
        (
            {"audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}},
            "invalid_value",
            "session.audio.input.format.rate",
        ),
        (
            {"tool_choice": {"type": "function", "name": "x"}},
            "invalid_value",
            "session.tool_choice",
        ),
        ({"audio": {"input": {"turn_detection": {}}}}, "missing_required_parameter", None),
    ],
)
def test_bad_session_update_is_an_error_and_changes_nothing(
    session: dict[str, Any], code: str, param: str | None
) -> None:
    h = Harness()
    before = h.protocol.settings
    error = _error(h.send(type="session.update", event_id="evt_bad", session=session))
    assert error["type"] == "invalid_request_error" and error["code"] == code
    assert error["event_id"] == "evt_bad"
    if param:
        assert error["param"] == param
    assert h.fed == [] and h.protocol.settings == before


def test_beta_session_update_uses_the_beta_shape() -> None:
    h = Harness(beta=True)
    assert h.sent[0]["session"]["input_audio_format"] == "pcm16"
    out = h.send(
        type="session.update",
        session={
            "modalities": ["text"],
            "input_audio_format": "g711_ulaw",
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 700},
            "voice": "verse",
        },
    )
    session = out[0]["session"]
    assert session["modalities"] == ["text"] and session["input_audio_format"] == "g711_ulaw"
    assert session["turn_detection"]["silence_duration_ms"] == 700
    assert session["id"] == "ses_test" and session["voice"] == "verse"
    error = _error(h.send(type="session.update", session={"type": "realtime"}))
    assert error["code"] == "unknown_parameter" and error["param"] == "session.type"


# ---------------------------------------------------------------- input audio


def test_append_resamples_24k_pcm_to_16k() -> None:
    h = Harness()
    pcm24 = (np.sin(np.arange(24000) / 7.0) * 8000).astype("<i2").tobytes()  # 1 s
    assert h.send(type="input_audio_buffer.append", audio=_b64(pcm24)) == []
    h.send(type="input_audio_buffer.commit")
    got = sum(len(e.pcm) for e in h.fed if isinstance(e, AudioIn))
    assert got == 32000  # 1 s at 16 kHz once the resampler's tail is flushed at commit


def test_append_decodes_g711() -> None:
    h = Harness()
    h.send(type="session.update", session={"audio": {"input": {"format": {"type": "audio/pcmu"}}}})
    h.send(type="input_audio_buffer.append", audio=_b64(bytes([0x00, 0x80, 0xFF]) * 800))
    h.send(type="input_audio_buffer.commit")
    got = sum(len(e.pcm) for e in h.fed if isinstance(e, AudioIn))
    assert got == 2400 * 2 * 2  # 0.3 s of 8 kHz μ-law → 0.3 s of 16 kHz PCM16


@pytest.mark.parametrize(
    ("audio", "message"), [("not base64!!", "base64"), (_b64(b"\x01\x02\x03"), "even")]
)
def test_bad_audio_is_an_error(audio: str, message: str) -> None:
    h = Harness()
    error = _error(h.send(type="input_audio_buffer.append", audio=audio))
    assert error["code"] == "invalid_value" and error["param"] == "audio"
    assert message in error["message"]
    assert h.fed == []


def test_clear() -> None:
    h = Harness()
    out = h.send(type="input_audio_buffer.clear")
    assert h.types(out) == ["input_audio_buffer.cleared"] and h.fed == [ClearIn()]


# ---------------------------------------------------------------- turns and responses


def test_server_vad_turn_and_its_spoken_response() -> None:
    h = Harness()
    h.engine_event(SpeechStarted(1200.0))
    started = h.last("input_audio_buffer.speech_started")
    item_id = started["item_id"]
    assert started["audio_start_ms"] == 1200
    h.engine_event(SpeechStopped(2500.0, "turn_1"))
    assert h.types()[-3:] == [
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
    ]
    assert h.last("input_audio_buffer.committed")["item_id"] == item_id
    h.engine_event(TranscriptOut("user", "What is the weather?", True, "turn_1"))
    done = h.last("conversation.item.input_audio_transcription.completed")
    assert done["item_id"] == item_id and done["transcript"] == "What is the weather?"
    assert done["usage"] == {"type": "duration", "seconds": 1.3}

    mark = len(h.sent)
    h.engine_event(AgentTurnStart("turn_1"))
    h.engine_event(TranscriptOut("agent", "It is sunny.", False, "turn_1"))
    h.engine_event(AudioOut(PCM16K, "turn_1", 0))
    h.engine_event(TranscriptOut("agent", "It is sunny. Enjoy!", False, "turn_1"))
    h.engine_event(AudioOut(PCM16K, "turn_1", 1))
    h.engine_event(TranscriptOut("agent", "It is sunny. Enjoy!", True, "turn_1"))
    h.engine_event(AgentTurnEnd("turn_1", "completed"))
    response = h.sent[mark:]
    types = h.types(response)
    assert types[:6] == [
        "response.created",
        "rate_limits.updated",
        "response.output_item.added",
        "conversation.item.added",
        "response.content_part.added",
        "response.output_audio_transcript.delta",
    ]
    assert types[-6:] == [
        "response.output_audio.done",
        "response.output_audio_transcript.done",
        "response.content_part.done",
        "response.output_item.done",
        "conversation.item.done",
        "response.done",
    ]
    deltas = [e["delta"] for e in response if e["type"] == "response.output_audio_transcript.delta"]
    assert "".join(deltas) == "It is sunny. Enjoy!"
    audio = b"".join(
        base64.b64decode(e["delta"]) for e in response if e["type"] == "response.output_audio.delta"
    )
    assert len(audio) == 2 * len(PCM16K) * 3 // 2  # 1 s at 24 kHz
    final = h.last("response.done")["response"]
    assert final["status"] == "completed" and final["status_details"] == {"type": "completed"}
    (message,) = final["output"]
    assert message["role"] == "assistant" and message["status"] == "completed"
    assert message["content"] == [{"type": "output_audio", "transcript": "It is sunny. Enjoy!"}]


def test_barge_in_cancels_the_response_with_turn_detected() -> None:
    h = Harness()
    h.engine_event(AgentTurnStart("turn_2"))
    _speak(h, "turn_2", "Let me tell you a long story.", final=False)
    h.engine_event(Interruption("turn_2"))
    h.engine_event(AgentTurnEnd("turn_2", "interrupted"))
    h.engine_event(SpeechStarted(900.0))
    done = h.last("response.done")["response"]
    assert done["status"] == "cancelled"
    assert done["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
    assert done["output"][0]["status"] == "incomplete"
    assert h.types()[-1] == "input_audio_buffer.speech_started"


def test_manual_commit_then_response_create() -> None:
    def engine(event: ClientEvent) -> list[ServerEvent]:
        return [SpeechStopped(1500.0, "turn_3")] if isinstance(event, CommitIn) else []

    h = Harness(engine=engine)
    h.send(type="session.update", session={"audio": {"input": {"turn_detection": None}}})
    h.send(type="input_audio_buffer.append", audio=_b64(bytes(4800)))
    out = h.send(type="input_audio_buffer.commit")
    assert h.types(out) == ["input_audio_buffer.committed", "conversation.item.added"]
    out = h.send(type="response.create", response={"instructions": "Answer in French."})
    assert h.types(out) == ["response.created", "rate_limits.updated"]
    assert h.fed[-1] == RespondIn("Answer in French.", None)
    h.engine_event(TranscriptOut("user", "Hello there.", True, "turn_3"))
    h.engine_event(AgentTurnStart("turn_4"))  # a requested response gets a new turn
    _speak(h, "turn_4", "Bonjour.")
    h.engine_event(AgentTurnEnd("turn_4", "completed"))
    assert h.last("response.done")["response"]["id"] == out[0]["response"]["id"]


@pytest.mark.parametrize(
    ("engine_error", "turn_detection"),
    [
        (ErrorOut("audio_error", "nothing to commit: 20 ms of audio"), None),
        (ErrorOut("validation_error", "nothing to commit: the user is not speaking"), {}),
    ],
)
def test_empty_commit_is_an_error(engine_error: ErrorOut, turn_detection: Any) -> None:
    h = Harness(engine=lambda e: [engine_error] if isinstance(e, CommitIn) else [])
    if turn_detection is None:
        h.send(type="session.update", session={"audio": {"input": {"turn_detection": None}}})
    error = _error(h.send(type="input_audio_buffer.commit", event_id="evt_c"))
    assert error["code"] == "input_audio_buffer_commit_empty" and error["event_id"] == "evt_c"
    assert "nothing to commit" in error["message"]


def test_response_cancel() -> None:
    h = Harness(
        engine=lambda e: [AgentTurnEnd("turn_5", "cancelled")] if isinstance(e, ControlIn) else []
    )
    error = _error(h.send(type="response.cancel"))
    assert error["code"] == "response_cancel_not_active"
    h.engine_event(AgentTurnStart("turn_5"))
    _speak(h, "turn_5", "Well,", final=False)
    error = _error(h.send(type="response.create"))
    assert error["code"] == "conversation_already_has_active_response"
    out = h.send(type="response.cancel")
    assert h.fed[-1] == ControlIn("interrupt")
    done = out[-1]["response"]
    assert done["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}


def test_cancel_before_the_engine_starts_the_response() -> None:
    h = Harness()
    created = h.send(type="response.create")[0]["response"]
    out = h.send(type="response.cancel", response_id=created["id"])
    assert out[-1]["response"]["status"] == "cancelled"
    assert h.engine_event(AgentTurnStart("turn_6")) == [ControlIn("interrupt")]
    mark = len(h.sent)
    _speak(h, "turn_6", "Too late.")
    h.engine_event(AgentTurnEnd("turn_6", "cancelled"))
    assert h.sent[mark:] == []  # nothing more of the cancelled response


def test_requested_response_still_comes_for_a_turn_without_words() -> None:
    """The engine answers a requested response even when the committed audio had no
    words; the protocol only reports the empty transcript."""
    h = Harness(
        engine=lambda e: [SpeechStopped(900.0, "turn_7")] if isinstance(e, CommitIn) else []
    )
    h.send(type="session.update", session={"audio": {"input": {"turn_detection": None}}})
    h.send(type="input_audio_buffer.commit")
    h.send(type="response.create")
    h.engine_event(UserTurnDropped("turn_7"))
    assert h.last("conversation.item.input_audio_transcription.completed")["transcript"] == ""
    assert not [e for e in h.sent if e["type"] == "response.done"]
    h.engine_event(AgentTurnStart("turn_7"))
    h.engine_event(AgentTurnEnd("turn_7", "completed"))
    assert h.last("response.done")["response"]["status"] == "completed"


def test_speech_during_transcription_replaces_the_committed_item() -> None:
    h = Harness()
    h.engine_event(SpeechStarted(0.0))
    h.engine_event(SpeechStopped(800.0, "turn_8"))
    item_id = h.last("input_audio_buffer.committed")["item_id"]
    h.engine_event(SpeechStarted(1000.0))  # the user goes on: the engine merges the audio
    assert h.last("conversation.item.deleted")["item_id"] == item_id
    assert item_id not in h.protocol.items


def test_response_create_while_the_user_speaks_waits_for_the_commit() -> None:
    h = Harness()
    h.send(
        type="session.update",
        session={
            "audio": {"input": {"turn_detection": {"type": "server_vad", "create_response": False}}}
        },
    )
    h.engine_event(SpeechStarted(100.0))
    created = h.send(type="response.create", response={"instructions": "Be short."})
    assert h.types(created) == ["response.created", "rate_limits.updated"]
    assert not any(isinstance(e, RespondIn) for e in h.fed), "not while the user speaks"
    assert h.engine_event(SpeechStopped(900.0, "turn_20")) == [RespondIn("Be short.", None)]
    h.engine_event(TranscriptOut("user", "Tell me a joke.", True, "turn_20"))
    h.engine_event(AgentTurnStart("turn_20"))
    _speak(h, "turn_20", "No.")
    h.engine_event(AgentTurnEnd("turn_20", "completed"))
    assert h.last("response.done")["response"]["id"] == created[0]["response"]["id"]


def test_response_create_while_the_user_speaks_joins_the_automatic_response() -> None:
    h = Harness()
    h.engine_event(SpeechStarted(100.0))
    created = h.send(type="response.create")[0]["response"]
    assert h.engine_event(SpeechStopped(900.0, "turn_21")) == []  # the engine answers anyway
    h.engine_event(TranscriptOut("user", "Hi.", True, "turn_21"))
    h.engine_event(AgentTurnStart("turn_21"))
    assert h.types().count("response.created") == 1
    _speak(h, "turn_21", "Hello.")
    h.engine_event(AgentTurnEnd("turn_21", "completed"))
    assert h.last("response.done")["response"]["id"] == created["id"]


def test_text_only_output_modality() -> None:
    h = Harness()
    h.send(type="response.create", response={"output_modalities": ["text"]})
    h.engine_event(AgentTurnStart("turn_9"))
    mark = len(h.sent)
    _speak(h, "turn_9", "Just text.")
    h.engine_event(AgentTurnEnd("turn_9", "completed"))
    types = h.types(h.sent[mark:])
    assert "response.output_audio.delta" not in types
    assert "response.output_text.delta" in types and "response.output_text.done" in types
    content = h.last("response.done")["response"]["output"][0]["content"]
    assert content == [{"type": "output_text", "text": "Just text."}]


def test_g711_output() -> None:
    h = Harness()
    h.send(type="session.update", session={"audio": {"output": {"format": {"type": "audio/pcmu"}}}})
    h.engine_event(AgentTurnStart("turn_10"))
    _speak(h, "turn_10", "Hi.")
    audio = b"".join(
        base64.b64decode(e["delta"]) for e in h.sent if e["type"] == "response.output_audio.delta"
    )
    assert len(audio) == len(PCM16K) // 2 // 2  # one byte per sample at 8 kHz


# ---------------------------------------------------------------- tools


def test_function_call_round_trip() -> None:
    tool = ToolSpec("get_time", "The time", {"type": "object", "properties": {}})
    h = Harness(agent=dataclasses.replace(AGENT, tools=(tool,)))
    h.send(type="response.create", response={"tool_choice": "required"})
    assert h.fed[-1] == RespondIn(None, "required")
    h.engine_event(AgentTurnStart("turn_11"))
    h.engine_event(ToolCallOut("call_1", "get_time", {"zone": "UTC"}, "turn_11"))
    h.engine_event(AgentTurnEnd("turn_11", "tool_call"))
    done = h.last("response.function_call_arguments.done")
    assert done["call_id"] == "call_1" and json.loads(done["arguments"]) == {"zone": "UTC"}
    response = h.last("response.done")["response"]
    assert response["status"] == "completed"
    assert response["output"][0]["type"] == "function_call"

    error = _error(
        h.send(
            type="conversation.item.create",
            item={"type": "function_call_output", "call_id": "call_9", "output": "{}"},
        )
    )
    assert error["code"] == "invalid_value" and error["param"] == "item.call_id"
    out = h.send(
        type="conversation.item.create",
        item={"type": "function_call_output", "call_id": "call_1", "output": '{"time": "noon"}'},
    )
    assert h.fed[-1] == ToolResultIn("call_1", '{"time": "noon"}', respond=False)
    assert h.types(out) == ["conversation.item.added", "conversation.item.done"]


def test_tool_choice_must_name_a_session_tool() -> None:
    h = Harness()
    error = _error(
        h.send(type="response.create", response={"tool_choice": {"type": "function", "name": "x"}})
    )
    assert error["param"] == "response.tool_choice"


# ---------------------------------------------------------------- items


def test_text_item_create_retrieve_delete() -> None:
    h = Harness(
        engine=lambda e: (
            [TranscriptOut("user", e.text, True, "turn_12")] if isinstance(e, TextIn) else []
        )
    )
    out = h.send(
        type="conversation.item.create",
        item={
            "type": "message",
            "role": "user",
            "id": "item_mine",
            "content": [{"type": "input_text", "text": "Hello!"}],
        },
    )
    assert h.fed[-1] == TextIn("Hello!", respond=False)
    assert h.types(out) == ["conversation.item.added", "conversation.item.done"]
    got = h.send(type="conversation.item.retrieve", item_id="item_mine")[0]["item"]
    assert got["content"] == [{"type": "input_text", "text": "Hello!"}]
    out = h.send(type="conversation.item.delete", item_id="item_mine")
    assert h.fed[-1] == ForgetIn("turn_12")
    assert out == [
        {
            "type": "conversation.item.deleted",
            "event_id": out[0]["event_id"],
            "item_id": "item_mine",
        }
    ]
    for kind, code in [
        ("conversation.item.retrieve", "item_retrieve_invalid_item_id"),
        ("conversation.item.delete", "item_delete_invalid_item_id"),
    ]:
        error = _error(h.send(type=kind, item_id="item_mine"))
        assert error["code"] == code and error["param"] == "item_id"


@pytest.mark.parametrize(
    ("item", "previous", "param"),
    [
        ({"type": "message", "role": "system", "content": []}, None, "item.role"),
        (
            {"type": "message", "role": "user", "content": [{"type": "input_audio", "audio": ""}]},
            None,
            "item.content[0].type",
        ),
        (
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "x" * 300}],
            },
            None,
            "item.content",
        ),
        ({"type": "function_call", "name": "f", "arguments": "{}"}, None, "item.type"),
        (
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            "item_nope",
            "previous_item_id",
        ),
    ],
)
def test_unsupported_items_are_errors(
    item: dict[str, Any], previous: str | None, param: str
) -> None:
    h = Harness()
    error = _error(h.send(type="conversation.item.create", item=item, previous_item_id=previous))
    assert error["param"] == param and h.fed == [] and len(h.protocol.items) == 0


def test_truncate() -> None:
    h = Harness()
    error = _error(
        h.send(
            type="conversation.item.truncate", item_id="item_x", content_index=0, audio_end_ms=10
        )
    )
    assert error["code"] == "item_truncate_invalid_item_id" and error["param"] == "item_id"
    h.engine_event(AgentTurnStart("turn_13"))
    _speak(h, "turn_13", "A sentence.")
    h.engine_event(AgentTurnEnd("turn_13", "completed"))
    item_id = h.last("response.done")["response"]["output"][0]["id"]
    error = _error(
        h.send(
            type="conversation.item.truncate", item_id=item_id, content_index=0, audio_end_ms=9000
        )
    )
    assert error["param"] == "audio_end_ms"
    out = h.send(
        type="conversation.item.truncate", item_id=item_id, content_index=0, audio_end_ms=200
    )
    assert h.fed[-1] == TruncateIn("turn_13", 200)
    assert out[-1]["type"] == "conversation.item.truncated" and out[-1]["audio_end_ms"] == 200


# ---------------------------------------------------------------- beta names, errors


def test_beta_response_event_names() -> None:
    h = Harness(beta=True)
    h.engine_event(AgentTurnStart("turn_14"))
    _speak(h, "turn_14", "Hello.")
    h.engine_event(AgentTurnEnd("turn_14", "completed"))
    types = set(h.types())
    assert {
        "response.audio.delta",
        "response.audio_transcript.delta",
        "response.audio.done",
    } <= types
    assert "conversation.item.created" in types
    assert not types & {"conversation.item.added", "conversation.item.done"}
    content = h.last("response.done")["response"]["output"][0]["content"]
    assert content == [{"type": "audio", "transcript": "Hello."}]


@pytest.mark.parametrize(
    ("frame", "code", "param"),
    [
        ("{not json", "invalid_json", None),
        ("[1, 2]", "invalid_json", None),
        (b"\x00\x01", "invalid_json", None),
        ('{"event_id": "e"}', "missing_required_parameter", "type"),
        ('{"type": "response.dance"}', "invalid_value", "type"),
        ('{"type": "output_audio_buffer.clear"}', "unsupported_event", "type"),
        ('{"type": "input_audio_buffer.append"}', "missing_required_parameter", "audio"),
        ('{"type": "input_audio_buffer.append", "audio": 5}', "invalid_type", "audio"),
        ('{"type": "response.cancel", "extra": 1}', "unknown_parameter", "extra"),
        (
            json.dumps({"type": "input_audio_buffer.append", "audio": "A" * 70000}),
            "event_too_large",
            None,
        ),
    ],
)
def test_malformed_events_are_errors_and_the_session_goes_on(
    frame: str | bytes, code: str, param: str | None
) -> None:
    h = Harness()
    error = _error(h.frame(frame))
    assert error["type"] == "invalid_request_error" and error["code"] == code
    assert error["param"] == param
    assert h.fed == []
    assert h.types(h.send(type="input_audio_buffer.clear")) == ["input_audio_buffer.cleared"]


def test_engine_errors_and_session_end() -> None:
    h = Harness()
    h.engine_event(ErrorOut("internal_error", "the agent could not answer: RuntimeError"))
    assert h.last("error")["error"]["type"] == "server_error"
    h.engine_event(SessionEnded("max_turns"))
    assert h.last("error")["error"]["code"] == "session_ended"
    h.engine_event(SessionEnded("expired"))
    assert h.last("error")["error"]["code"] == "session_expired"


# ---------------------------------------------------------------- fuzz

EXAMPLES = {"count": 0, "state": 0}
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
_field_names = st.sampled_from(
    [
        "type",
        "event_id",
        "audio",
        "item_id",
        "item",
        "response",
        "session",
        "response_id",
        "content_index",
        "audio_end_ms",
        "previous_item_id",
        "instructions",
        "tool_choice",
        "turn_detection",
        "voice",
        "input_audio_format",
        "output_modalities",
        "modalities",
    ]
)
_events = st.builds(
    lambda kind, fields: {"type": kind, **fields},
    st.sampled_from(sorted({*GA_EVENTS, *BETA_EVENTS, "output_audio_buffer.clear", "x.y"})),
    st.dictionaries(_field_names, _json, max_size=5),
)
_frames = (
    _events.map(json.dumps)
    | st.text(max_size=200)
    | st.binary(max_size=64)
    | _json.map(lambda v: json.dumps(v, allow_nan=True))
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames=st.lists(_frames, min_size=1, max_size=4), beta=st.booleans())
def test_fuzz_random_events_give_only_valid_events(frames: list[str | bytes], beta: bool) -> None:
    """Whatever arrives, the protocol answers with valid server events (an ``error`` for a
    bad event) and never raises."""
    EXAMPLES["count"] += 1
    h = Harness(beta=beta)
    for frame in frames:
        out = h.frame(frame)
        for event in out:
            if event["type"] == "error":
                assert event["error"]["type"] in ("invalid_request_error", "server_error")
                assert event["error"]["code"]


_turns = st.sampled_from(["turn_1", "turn_2", "turn_3"])
_engine_events = st.one_of(
    st.builds(SpeechStarted, st.floats(0, 1e6)),
    st.builds(SpeechStopped, st.floats(0, 1e6), _turns),
    st.builds(UserTurnDropped, _turns),
    st.builds(
        TranscriptOut,
        st.sampled_from(["user", "agent"]),
        st.text(max_size=30),
        st.booleans(),
        _turns,
    ),
    st.builds(AgentTurnStart, _turns),
    st.builds(
        AudioOut, st.binary(max_size=400).map(lambda b: b[: len(b) // 2 * 2]), _turns, st.just(0)
    ),
    st.builds(
        ToolCallOut, st.sampled_from(["call_a", "call_b"]), st.just("get_time"), st.just({}), _turns
    ),
    st.builds(
        AgentTurnEnd,
        _turns,
        st.sampled_from(["completed", "interrupted", "cancelled", "tool_call", "failed"]),
    ),
    st.builds(Interruption, _turns),
    st.builds(
        ErrorOut, st.sampled_from(["internal_error", "validation_error"]), st.text(max_size=10)
    ),
)
_client_events = st.one_of(
    st.just({"type": "input_audio_buffer.commit"}),
    st.just({"type": "input_audio_buffer.clear"}),
    st.just({"type": "response.create"}),
    st.just({"type": "response.cancel"}),
    st.just({"type": "input_audio_buffer.append", "audio": _b64(bytes(480))}),
    st.just({"type": "session.update", "session": {"audio": {"input": {"turn_detection": None}}}}),
    st.just(
        {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "hi"}],
            },
        }
    ),
    st.builds(
        lambda call: {
            "type": "conversation.item.create",
            "item": {"type": "function_call_output", "call_id": call, "output": "{}"},
        },
        st.sampled_from(["call_a", "call_b"]),
    ),
    st.builds(
        lambda kind, n, ms: (
            {"type": kind, "item_id": n, "content_index": 0, "audio_end_ms": ms}
            if kind == "conversation.item.truncate"
            else {"type": kind, "item_id": n}
        ),
        st.sampled_from(
            ["conversation.item.truncate", "conversation.item.delete", "conversation.item.retrieve"]
        ),
        st.sampled_from(["item_1", "item_2", "item_3", "item_4", "item_5", "item_6"]),
        st.integers(0, 600),
    ),
)


def _counter_ids() -> Callable[[str], str]:
    counts: dict[str, int] = {}

    def new_id(prefix: str) -> str:
        counts[prefix] = counts.get(prefix, 0) + 1
        return f"{prefix}_{counts[prefix]}"

    return new_id


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(st.one_of(_engine_events, _client_events), min_size=1, max_size=25),
    beta=st.booleans(),
)
def test_fuzz_engine_and_client_interleavings(steps: list[Any], beta: bool) -> None:
    """Engine events and client events in any order (predictable item ids, so client
    events hit real items): every server event stays valid and nothing raises."""
    EXAMPLES["state"] += 1
    h = Harness(beta=beta)
    h.protocol = RealtimeProtocol(
        agent=AGENT,
        conversation_id="ses_test",
        model="m",
        beta=beta,
        voices=[VOICE],
        new_id=_counter_ids(),
    )
    h.engine_event(Connected("ses_test", "agt_demo"))
    for step in steps:
        if isinstance(step, dict):
            h.send(**step)
        else:
            h.engine_event(step)


def test_fuzz_ran() -> None:
    """How many fuzz examples ran (printed with ``-s``)."""
    print(f"fuzz examples run: {EXAMPLES['count']} frames, {EXAMPLES['state']} interleavings")
    assert EXAMPLES["count"] in (0, 400) and EXAMPLES["state"] in (0, 300)
