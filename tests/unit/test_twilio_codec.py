"""The Twilio Media Streams codec: messages both ways, μ-law audio, marks and playback,
DTMF, the webhook signature and the TwiML; fuzzed with hypothesis."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pytest
import soxr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from parley.audio.g711 import mulaw_to_pcm16, pcm16_to_mulaw
from parley.audio.resample import StreamResampler as LookaheadResampler
from parley.config import Settings
from parley.core.events import (
    AgentTurnEnd,
    AgentTurnStart,
    AudioIn,
    AudioOut,
    EndIn,
    Interruption,
    MetricsOut,
    PlaybackIn,
    ServerEvent,
    SessionEnded,
    SpeechStarted,
    TextIn,
    TranscriptOut,
)
from parley.errors import AudioError, AuthenticationError, ParleyError, ValidationError
from parley.protocols.twilio import (
    FRAME_BYTES,
    TwilioCodec,
    connect_stream_twiml,
    request_signature,
    signature_valid,
)
from parley.server.sessions import websocket_base
from parley.server.state import ServerState
from parley.server.twilio import basic_password, webhook_url

STREAM_SID = "MZ18ad3ab5a668481ce02b83e7395059f0"
FUZZ = Counter[str]()


@pytest.fixture(scope="module", autouse=True)
def _report_fuzz_counts() -> Iterator[None]:
    """Prints (``pytest -s``) how many fuzz examples ran."""
    yield
    print(f"\ntwilio codec fuzz examples: {dict(FUZZ)}")


def start_message(**media_format: Any) -> str:
    fmt = {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1, **media_format}
    return json.dumps(
        {
            "event": "start",
            "sequenceNumber": "1",
            "start": {
                "accountSid": "AC123",
                "streamSid": STREAM_SID,
                "callSid": "CA456",
                "tracks": ["inbound"],
                "customParameters": {"agent_id": "agt_demo", "token": "wst_abc"},
                "mediaFormat": fmt,
            },
            "streamSid": STREAM_SID,
        }
    )


def media_message(mulaw: bytes, track: str = "inbound") -> str:
    payload = base64.b64encode(mulaw).decode()
    return json.dumps(
        {
            "event": "media",
            "sequenceNumber": "3",
            "media": {"track": track, "chunk": "1", "timestamp": "5", "payload": payload},
            "streamSid": STREAM_SID,
        }
    )


def dtmf_message(digit: str) -> str:
    return json.dumps(
        {
            "event": "dtmf",
            "streamSid": STREAM_SID,
            "dtmf": {"track": "inbound_track", "digit": digit},
        }
    )


def mark_message(name: str) -> str:
    return json.dumps({"event": "mark", "streamSid": STREAM_SID, "mark": {"name": name}})


def started(**kwargs: Any) -> TwilioCodec:
    codec = TwilioCodec(**kwargs)
    assert codec.decode('{"event":"connected","protocol":"Call","version":"1.0.0"}') == []
    assert codec.decode(start_message()) == []
    return codec


def tone(hz: float, ms: int, rate: int, amplitude: float = 8000.0) -> bytes:
    t = np.arange(rate * ms // 1000) / rate
    return (np.sin(2 * np.pi * hz * t) * amplitude).astype("<i2").tobytes()


def peak_hz(pcm: bytes, rate: int) -> float:
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * rate / len(x))


def parsed(messages: list[str]) -> list[dict[str, Any]]:
    return [json.loads(m) for m in messages]


# ---------------------------------------------------------------- inbound


def test_start_gives_the_stream_and_its_custom_parameters() -> None:
    codec = started()
    assert codec.stream is not None
    assert codec.stream.stream_sid == STREAM_SID
    assert codec.stream.call_sid == "CA456"
    assert codec.stream.parameters == {"agent_id": "agt_demo", "token": "wst_abc"}


def test_caller_audio_becomes_16khz_pcm() -> None:
    codec = started()
    mulaw = pcm16_to_mulaw(tone(440, 1000, 8000))
    pcm = b""
    for i in range(0, len(mulaw), FRAME_BYTES):
        events = codec.decode(media_message(mulaw[i : i + FRAME_BYTES]))
        assert all(isinstance(e, AudioIn) for e in events)
        pcm += b"".join(e.pcm for e in events if isinstance(e, AudioIn))
    # every frame but the 10 ms lookahead came out, at twice the sample rate
    assert len(pcm) == (8000 - 80) * 2 * 2
    assert abs(peak_hz(pcm, 16000) - 440) < 3


def test_outbound_track_and_empty_payloads_make_no_audio() -> None:
    codec = started()
    assert codec.decode(media_message(b"\xff" * 160, track="outbound")) == []
    assert codec.decode(media_message(b"")) == []


def test_stop_ends_the_session() -> None:
    codec = started()
    stop = {"event": "stop", "sequenceNumber": "9", "stop": {"callSid": "CA456"}}
    assert codec.decode(json.dumps(stop)) == [EndIn()]


@pytest.mark.parametrize(
    ("frame", "error", "message", "param"),
    [
        (b"\x00\x01", ValidationError, "binary frames", None),
        ("{nope", ValidationError, "malformed JSON", None),
        ('{"a":' * 50_000, ValidationError, "malformed JSON", None),
        ("[1, 2]", ValidationError, "must be a JSON object", None),
        ("{}", ValidationError, "missing event", "event"),
        ('{"event": "hangup"}', ValidationError, "unknown event 'hangup'", "event"),
        ('{"event": ["media"]}', ValidationError, "unknown event 'list'", "event"),
        ('{"event": "media"}', ValidationError, "media: media: Field required", "media"),
        ('{"event": "media", "media": {}}', ValidationError, "media.payload", "media.payload"),
        (
            '{"event": "media", "media": {"payload": "not base64!"}}',
            AudioError,
            "not valid base64",
            "media.payload",
        ),
        ('{"event": "dtmf", "dtmf": {"digit": "12"}}', ValidationError, "pattern", "dtmf.digit"),
        ('{"event": "mark", "mark": {"name": ""}}', ValidationError, "at least 1", "mark.name"),
        (start_message(), ValidationError, "already started", "event"),
    ],
)
def test_malformed_messages_get_precise_errors(
    frame: str | bytes, error: type[ParleyError], message: str, param: str | None
) -> None:
    codec = started()
    with pytest.raises(error) as caught:
        codec.decode(frame)
    assert message in caught.value.message
    assert caught.value.param == param
    assert caught.value.code == error.code
    # and the stream goes on
    assert codec.decode(mark_message("unknown")) == []


def test_oversized_messages_are_refused() -> None:
    codec = started(max_frame_bytes=1024)
    with pytest.raises(ValidationError, match="exceeds the limit of 1024"):
        codec.decode(media_message(b"\xff" * 1000))


def test_messages_before_start_and_wrong_audio_formats_are_refused() -> None:
    codec = TwilioCodec()
    with pytest.raises(ValidationError, match="media before start"):
        codec.decode(media_message(b"\xff" * 160))
    with pytest.raises(AudioError, match="expected audio/x-mulaw 8000 Hz mono") as caught:
        codec.decode(start_message(sampleRate=16000))
    assert caught.value.param == "start.mediaFormat"
    with pytest.raises(ValidationError, match=r"start\.mediaFormat") as missing:
        codec.decode(json.dumps({"event": "start", "start": {"streamSid": "MZ1"}}))
    assert missing.value.param == "start.mediaFormat"
    assert codec.stream is None
    assert codec.encode(AgentTurnStart("turn_1")) == []  # nothing to address yet


# ---------------------------------------------------------------- DTMF


def test_digits_up_to_hash_become_one_user_turn() -> None:
    codec = started()
    assert codec.decode(dtmf_message("1")) == []
    assert codec.decode(dtmf_message("2")) == []
    assert codec.decode(dtmf_message("*")) == []
    assert codec.decode(dtmf_message("#")) == [TextIn("The caller pressed 1 2 *")]
    assert codec.decode(dtmf_message("#")) == [TextIn("The caller pressed #")]


def test_digits_are_sent_after_a_pause_in_key_presses() -> None:
    codec = started(dtmf_pause_ms=200)
    silence = media_message(b"\xff" * FRAME_BYTES)
    codec.decode(dtmf_message("4"))
    for _ in range(5):  # 100 ms
        assert not any(isinstance(e, TextIn) for e in codec.decode(silence))
    codec.decode(dtmf_message("2"))  # a new key press restarts the pause
    texts = []
    for _ in range(10):
        texts += [e for e in codec.decode(silence) if isinstance(e, TextIn)]
    assert texts == [TextIn("The caller pressed 4 2")]


def test_a_long_digit_sequence_is_sent_when_it_reaches_the_limit() -> None:
    codec = started(max_digits=3)
    assert codec.decode(dtmf_message("7")) == []
    assert codec.decode(dtmf_message("8")) == []
    assert codec.decode(dtmf_message("9")) == [TextIn("The caller pressed 7 8 9")]


# ---------------------------------------------------------------- outbound


def speak(codec: TwilioCodec, turn_id: str, clauses: list[bytes]) -> list[str]:
    """Events as the engine sends them for one agent turn: each clause's partial
    transcript as its audio starts, then its audio in 250 ms chunks."""
    out = codec.encode(AgentTurnStart(turn_id))
    seq, text = 0, ""
    for n, pcm in enumerate(clauses):
        text += f" clause {n}."
        out += codec.encode(TranscriptOut("agent", text.strip(), False, turn_id))
        for i in range(0, len(pcm), 8000):
            out += codec.encode(AudioOut(pcm[i : i + 8000], turn_id, seq))
            seq += 1
    return out


def test_agent_audio_goes_out_as_20ms_mulaw_frames_with_marks() -> None:
    codec = started()
    clauses = [tone(300, 1000, 16000), tone(500, 730, 16000)]
    out = speak(codec, "turn_1", clauses)
    out += codec.encode(TranscriptOut("agent", "clause 0. clause 1.", True, "turn_1"))
    out += codec.encode(MetricsOut("turn_1", {}))
    out += codec.encode(AgentTurnEnd("turn_1", "completed"))
    messages = parsed(out)
    assert {m["streamSid"] for m in messages} == {STREAM_SID}
    media = [base64.b64decode(m["media"]["payload"]) for m in messages if m["event"] == "media"]
    assert {len(frame) for frame in media} == {FRAME_BYTES}
    assert len(media) == -(-1730 // 20)  # the last frame padded with silence
    played = np.frombuffer(mulaw_to_pcm16(b"".join(media)), dtype="<i2")
    assert abs(peak_hz(played[:8000].tobytes(), 8000) - 300) < 3
    assert abs(peak_hz(played[8000:13840].tobytes(), 8000) - 500) < 3

    marks = [m["mark"]["name"] for m in messages if m["event"] == "mark"]
    assert len(set(marks)) == len(marks)
    kinds = [name.split(":")[1] for name in marks]
    assert kinds.count("clause1") == 1 and kinds[-1] == "end"
    assert kinds.count("audio") >= 1730 // 100 - 2  # one every 100 ms
    # the clause mark sits where the first clause's audio ends (within the lookahead)
    position = messages.index(next(m for m in messages if "clause1" in str(m.get("mark"))))
    frames_before = sum(1 for m in messages[:position] if m["event"] == "media")
    assert 49 <= frames_before <= 50


def test_marks_echoed_back_report_how_much_was_played() -> None:
    codec = started()
    out = parsed(speak(codec, "turn_1", [tone(300, 1000, 16000)]))
    out += parsed(codec.encode(AgentTurnEnd("turn_1", "completed")))
    names = [m["mark"]["name"] for m in out if m["event"] == "mark"]
    reports = []
    for name in names:
        reports += codec.decode(mark_message(name))
    played = [e.played_ms for e in reports if isinstance(e, PlaybackIn)]
    assert played == sorted(played) and len(played) == len(names)
    assert played[0] == 100 and played[-1] >= 1000  # the end mark: all of the turn
    assert codec.decode(mark_message(names[0])) == []  # each mark reports once
    assert codec.decode(mark_message("someone-else's-mark")) == []


def test_a_late_mark_echo_does_not_report_for_the_next_turn() -> None:
    codec = started()
    first = parsed(speak(codec, "turn_1", [tone(300, 500, 16000)]))
    codec.encode(AgentTurnEnd("turn_1", "completed"))
    speak(codec, "turn_2", [tone(300, 500, 16000)])
    late = next(m["mark"]["name"] for m in first if m["event"] == "mark")
    assert codec.decode(mark_message(late)) == []


def test_an_interruption_clears_twilios_buffer_and_drops_the_turn() -> None:
    codec = started()
    out = parsed(speak(codec, "turn_1", [tone(300, 1000, 16000)]))
    names = [m["mark"]["name"] for m in out if m["event"] == "mark"]
    assert codec.decode(mark_message(names[0])) == [PlaybackIn(100)]
    assert parsed(codec.encode(Interruption("turn_1"))) == [
        {"event": "clear", "streamSid": STREAM_SID}
    ]
    # Twilio hands back the cleared marks: they were never played
    for name in names[1:]:
        assert codec.decode(mark_message(name)) == []
    assert codec.encode(AudioOut(tone(300, 250, 16000), "turn_1", 9)) == []
    assert codec.encode(AgentTurnEnd("turn_1", "interrupted")) == []
    # the next turn is spoken normally
    again = parsed(speak(codec, "turn_2", [tone(300, 250, 16000)]))
    assert any(m["event"] == "media" for m in again)


def test_events_without_a_phone_form_send_nothing() -> None:
    codec = started()
    for event in (
        SpeechStarted(),
        TranscriptOut("user", "hello", True, "turn_1"),
        SessionEnded("client"),
        AgentTurnEnd("turn_9", "completed"),
        TranscriptOut("agent", "first clause", False, "turn_9"),
    ):
        assert codec.encode(event) == []


# ---------------------------------------------------------------- audio


@pytest.mark.parametrize(("from_rate", "to_rate"), [(8000, 16000), (16000, 8000)])
def test_lookahead_resampler_matches_resampling_the_whole_stream(
    from_rate: int, to_rate: int
) -> None:
    rng = np.random.default_rng(7)
    signal = (rng.standard_normal(from_rate) * 3000).astype("<i2")
    whole = soxr.resample(signal, from_rate, to_rate, quality="HQ").astype(np.float64)
    resampler = LookaheadResampler(from_rate, to_rate)
    sizes = rng.integers(1, 700, size=400)
    pieces, at = [], 0
    for size in sizes:
        pieces.append(resampler.push(signal[at : at + size].tobytes()))
        at += int(size)
        if at >= len(signal):
            break
    pieces.append(resampler.push(signal[at:].tobytes(), last=True))
    streamed = np.frombuffer(b"".join(pieces), dtype="<i2").astype(np.float64)
    assert len(streamed) == len(whole)
    assert np.max(np.abs(streamed - whole)) <= 2


# ---------------------------------------------------------------- webhook


def test_signature_matches_twilios_published_example() -> None:
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675309"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
    ]
    assert request_signature("12345", url, params) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert signature_valid("12345", url, params, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")


def test_signature_against_an_independent_hmac() -> None:
    token, url = "s3cret-token", "https://voice.example.org/v1/twilio/voice?agent_id=agt_x"
    params = [("To", "+15550001"), ("CallSid", "CA9"), ("AccountSid", "AC1"), ("Body", "")]
    data = url + "AccountSidAC1" + "Body" + "CallSidCA9" + "To+15550001"
    expected = base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest())
    assert request_signature(token, url, params) == expected.decode()
    assert signature_valid(token, url, params, expected.decode())
    assert not signature_valid(token, url, [*params[:-1], ("Body", "x")], expected.decode())
    assert not signature_valid(token, url + "&x=1", params, expected.decode())
    assert not signature_valid("other-token", url, params, expected.decode())
    assert not signature_valid(token, url, params, "")
    # Twilio and a proxy may disagree about an explicit default port
    with_port = "https://voice.example.org:443/v1/twilio/voice?agent_id=agt_x"
    assert signature_valid(token, with_port, params, expected.decode())
    other_port = "https://voice.example.org:8443/v1/twilio/voice?agent_id=agt_x"
    assert not signature_valid(token, other_port, params, expected.decode())


def test_twiml_connects_a_stream_with_escaped_parameters() -> None:
    twiml = connect_stream_twiml(
        "wss://example.org/v1/twilio/media", {"agent_id": 'agt_<&">', "token": "wst_1"}
    )
    root = ET.fromstring(twiml)
    assert root.tag == "Response"
    stream = root.find("./Connect/Stream")
    assert stream is not None and stream.get("url") == "wss://example.org/v1/twilio/media"
    params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    assert params == {"agent_id": 'agt_<&">', "token": "wst_1"}


def _request(query: bytes = b"agent_id=agt_x") -> Request:
    return Request(
        {
            "type": "http",
            "method": "POST",
            "scheme": "http",
            "server": ("127.0.0.1", 8000),
            "path": "/v1/twilio/voice",
            "query_string": query,
            "headers": [(b"host", b"127.0.0.1:8000")],
        }
    )


def _state(public_url: str | None) -> ServerState:
    return cast(ServerState, SimpleNamespace(settings=Settings(public_url=public_url)))


def test_webhook_and_stream_urls_follow_the_public_url() -> None:
    local = _state(None)
    assert webhook_url(local, _request()) == "http://127.0.0.1:8000/v1/twilio/voice?agent_id=agt_x"
    assert websocket_base(local, _request()) == "ws://127.0.0.1:8000"
    tunnel = _state("https://parley.example.org/")
    assert (
        webhook_url(tunnel, _request())
        == "https://parley.example.org/v1/twilio/voice?agent_id=agt_x"
    )
    assert webhook_url(tunnel, _request(b"")) == "https://parley.example.org/v1/twilio/voice"
    assert websocket_base(tunnel, _request()) == "wss://parley.example.org"


def test_basic_auth_carries_the_api_key_as_password() -> None:
    header = "Basic " + base64.b64encode(b"twilio:sk_live_abc").decode()
    assert basic_password(header) == "sk_live_abc"
    assert basic_password("Basic " + base64.b64encode(b"twilio:").decode()) is None
    assert basic_password("Bearer sk_live_abc") is None
    assert basic_password(None) is None
    with pytest.raises(AuthenticationError, match="malformed Basic"):
        basic_password("Basic %%%")


# ---------------------------------------------------------------- fuzzing

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
_fields = st.sampled_from(
    [
        *("media", "payload", "track", "start", "streamSid", "mediaFormat", "encoding"),
        *("sampleRate", "customParameters", "dtmf", "digit", "mark", "name", "stop"),
    ]
)
_plausible = st.fixed_dictionaries(
    {"event": st.sampled_from(["connected", "start", "media", "dtmf", "mark", "stop", "x"])},
    optional={
        "media": st.dictionaries(_fields, _json | st.just("/w=="), max_size=3),
        "start": st.dictionaries(_fields, _json, max_size=5),
        "dtmf": st.dictionaries(_fields, _json | st.sampled_from(list("0123#*")), max_size=2),
        "mark": st.dictionaries(_fields, _json, max_size=2),
    },
)
_wellformed = st.one_of(
    st.binary(max_size=400).map(media_message),
    st.text(max_size=2).map(dtmf_message),
    st.text(max_size=30).map(mark_message),
    st.just('{"event": "stop"}'),
    st.just('{"event": "connected"}'),
)
_frames = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=50),
    _json.map(json.dumps),
    _plausible.map(json.dumps),
    _wellformed,
)


@settings(max_examples=800, deadline=None, suppress_health_check=list(HealthCheck))
@given(frames=st.lists(_frames, min_size=1, max_size=6), begin=st.booleans())
def test_fuzz_inbound_never_raises_anything_but_parley_errors(
    frames: list[str | bytes], begin: bool
) -> None:
    FUZZ["inbound"] += 1
    codec = TwilioCodec(max_frame_bytes=4096)
    if begin:
        codec.decode(start_message())
    for frame in frames:
        try:
            events = codec.decode(frame)
        except ParleyError as exc:
            assert exc.code in ("validation_error", "audio_error")
            FUZZ["inbound errors"] += 1
            continue
        assert isinstance(events, list)
        FUZZ["inbound accepted"] += 1


_turn_ids = st.sampled_from(["turn_1", "turn_2", "turn_3"])
_server_events: st.SearchStrategy[ServerEvent] = st.one_of(
    st.builds(AgentTurnStart, _turn_ids),
    st.builds(
        AudioOut,
        st.integers(0, 5000).map(lambda n: tone(350, 1, 16000) * n),
        _turn_ids,
        st.integers(0, 50),
    ),
    st.builds(TranscriptOut, st.just("agent"), st.text(max_size=10), st.booleans(), _turn_ids),
    st.builds(Interruption, _turn_ids),
    st.builds(AgentTurnEnd, _turn_ids, st.sampled_from(["completed", "interrupted", "cancelled"])),
)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(events=st.lists(_server_events, max_size=25), echo=st.lists(st.integers(0, 60)))
def test_fuzz_outbound_sends_only_whole_frames_and_marks_that_echo_cleanly(
    events: list[ServerEvent], echo: list[int]
) -> None:
    FUZZ["outbound"] += 1
    codec = started()
    names: list[str] = []
    for event in events:
        for message in parsed(codec.encode(event)):
            assert message["streamSid"] == STREAM_SID
            if message["event"] == "media":
                assert len(base64.b64decode(message["media"]["payload"])) == FRAME_BYTES
            elif message["event"] == "mark":
                names.append(message["mark"]["name"])
            else:
                assert message == {"event": "clear", "streamSid": STREAM_SID}
    assert len(set(names)) == len(names)
    reported = -1
    for i in echo:  # echoes in any order, repeated or unknown, never break anything
        for out in codec.decode(mark_message(names[i] if i < len(names) else f"x{i}")):
            assert isinstance(out, PlaybackIn) and out.played_ms > reported
            reported = out.played_ms
