"""PII detection and redaction with the real Presidio and spaCy model, on text as
speech-to-text writes it (spoken numbers included)."""

from __future__ import annotations

import re
import socket
import wave
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from parley.audio.pcm import SAMPLE_RATE
from parley.audio.resample import resample_pcm16
from parley.observability.recording import SessionRecorder
from parley.providers.tts.piper_local import PiperTTS
from parley.safety.pii import PiiDetector, PiiSpan
from parley.safety.policy import PII_ENTITIES
from parley.safety.recording_redaction import AGENT, USER, pii_times, silence_spans
from parley.safety.spoken_numbers import to_digits

ALL = ["PHONE_NUMBER", "CREDIT_CARD", "EMAIL_ADDRESS", "US_SSN", "PERSON", "LOCATION"]


@pytest.fixture(scope="module")
def detector() -> Iterator[PiiDetector]:
    d = PiiDetector()
    d.load()
    yield d


def found(detector: PiiDetector, text: str, entities: list[str] = ALL) -> list[tuple[str, str]]:
    return [(s.entity, text[s.start : s.end]) for s in detector.find(text, entities)]


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("four one one one one one one one one one one one one one one one", "4111111111111111"),
        ("my number is five five five, zero one three two.", "my number is 555-0132."),
        ("call oh two double five, triple nine", "call 0255-999"),
        ("one two three, four five, six seven eight nine", "123-45-6789"),
        ("Seven-one-eight, five-five-five, one-two-three-four", "718-555-1234"),
        ("one eight hundred five five five one two one two", "18005551212"),
        ("four hundred and twenty-two dollars", "422 dollars"),
        ("twelve thirty four", "1234"),
        ("order twelve thousand three hundred", "order 12300"),
        ("4, 1, 1, 1, 1, 1", "411111"),
        ("card 4-1-1-1-1-1-1", "card 4111111"),
        ("call 415-555-0132", "call 415-555-0132"),
        ("my social is five three six, two two, eight four one oh", "my social is 536-22-8410"),
        ("email is john dot smith at gmail dot com", "email is john.smith@gmail.com"),
        # left alone: short numbers, written digits, "oh" and "o'clock" that are not zeros
        ("I have two kids and one dog", "I have two kids and one dog"),
        ("at five o'clock", "at five o'clock"),
        ("Oh, I see", "Oh, I see"),
        ("card 4111 1111 1111 1111", "card 4111 1111 1111 1111"),
        ("look at example.com", "look at example.com"),
    ],
)
def test_spoken_forms_become_written(text: str, digits: str) -> None:
    assert to_digits(text).text == digits


def test_spans_map_back_to_the_spoken_words() -> None:
    text = "so it's five five five, zero one three two, thanks"
    written = to_digits(text)
    start = written.text.index("555")
    span = written.original_span(start, start + len("555-0132"))
    assert text[slice(*span)] == "five five five, zero one three two"
    # a span inside the run maps to exactly its words
    assert text[slice(*written.original_span(start + 4, start + 6))] == "zero one"


@pytest.mark.parametrize(
    ("text", "entity", "value"),
    [
        ("My number is 415-555-0132.", "PHONE_NUMBER", "415-555-0132"),
        ("Call me at (212) 555-0147 tomorrow.", "PHONE_NUMBER", "(212) 555-0147"),
        (
            "It's four one five, five five five, zero one three two.",
            "PHONE_NUMBER",
            "four one five, five five five, zero one three two",
        ),
        ("My phone is five five five, zero one four seven.", "PHONE_NUMBER", None),
        ("My card is 4111 1111 1111 1111.", "CREDIT_CARD", "4111 1111 1111 1111"),
        (
            "The card number is four one one one one one one one one one one one one one one one",
            "CREDIT_CARD",
            None,
        ),
        # a digit misheard breaks the checksum; next to "card" it is still a card
        ("Card number 4111 1111 1111 1112 please", "CREDIT_CARD", "4111 1111 1111 1112"),
        ("My social security number is 536-22-8410.", "US_SSN", "536-22-8410"),
        ("my social is five three six, two two, eight four one oh", "US_SSN", None),
        ("Email me at jane.doe@example.com please", "EMAIL_ADDRESS", "jane.doe@example.com"),
        (
            "my email is jane dot doe at example dot com",
            "EMAIL_ADDRESS",
            "jane dot doe at example dot com",
        ),
        ("Hi, my name is Maria Garcia.", "PERSON", "Maria Garcia"),
        ("I live at 221 Baker Street.", "LOCATION", "221 Baker Street"),
    ],
)
def test_personal_data_is_found(
    detector: PiiDetector, text: str, entity: str, value: str | None
) -> None:
    spans = [(e, v) for e, v in found(detector, text) if e == entity]
    assert spans, f"no {entity} in {text!r}: {found(detector, text)}"
    if value is not None:
        assert spans == [(entity, value)]


@pytest.mark.parametrize(
    "text",
    [
        "My order 12345 arrived at 3 pm.",
        "I'm in room 402.",
        "It costs $19.99, or 1,299 dollars for the big one.",
        "order number four one five five five five zero one three two",
        "The tracking number is 1Z999AA10123456784.",
        "I need 3 tickets for the 7:45 show on May 5th.",
        "My confirmation code is 8675309.",
        "Flight 1234 leaves at 10:30.",
        "My zip code is 94107.",
        "twenty five dollars and thirty cents",
        "Will you bill me for the new phone?",
        "I'd like two large pizzas and three cokes.",
        "The year was nineteen ninety nine.",
    ],
)
def test_benign_look_alikes_are_not_flagged(detector: PiiDetector, text: str) -> None:
    assert found(detector, text) == []


def test_dates_only_when_requested(detector: PiiDetector) -> None:
    text = "Can we meet on March 3rd at 3 pm?"
    assert found(detector, text) == []
    assert {e for e, _ in found(detector, text, [*ALL, "DATE_TIME"])} == {"DATE_TIME"}


def test_tag_redaction(detector: PiiDetector) -> None:
    text = "I'm John Smith, call me at 415-555-0132 or mail john@example.com."
    redaction = detector.redact(text, ALL, "tag")
    assert redaction.text == "I'm <PERSON>, call me at <PHONE_NUMBER> or mail <EMAIL_ADDRESS>."
    assert redaction.entities == ("PERSON", "PHONE_NUMBER", "EMAIL_ADDRESS")
    assert [text[s.start : s.end] for s in redaction.spans] == [
        "John Smith",
        "415-555-0132",
        "john@example.com",
    ]


def test_spoken_redaction(detector: PiiDetector) -> None:
    said = detector.redact(
        "I've noted 415-555-0132 and jane.doe@example.com, and your social, 536-22-8410.",
        ALL,
        "spoken",
    )
    assert said.text == (
        "I've noted the phone number you gave and the email address, "
        "and your social, the social security number."
    )
    assert detector.redact("Thanks, Maria.", ALL, "spoken").text == "Thanks."
    card = "I charged 4111 1111 1111 1111 today."
    assert detector.redact(card, ALL, "spoken").text == (
        "I charged the card ending in 1 1 1 1 today."
    )
    card = "The card number is 4111 1111 1111 1111."
    assert detector.redact(card, ALL, "spoken").text == (
        "The card number is the one ending in 1 1 1 1."
    )


@pytest.mark.parametrize(
    "text",
    [
        "Your card 4111 1111 1111 1111 is on file.",
        "Your card four one one one one one one one one one one one one one one one is on file.",
        "Your card 4111-1111-1111-1111 is on file.",
    ],
)
def test_a_card_is_never_read_back_in_full(detector: PiiDetector, text: str) -> None:
    said = detector.redact(text, ["CREDIT_CARD"], "spoken")
    assert said.text == "Your card ending in 1 1 1 1 is on file."
    assert len(re.findall(r"\d", said.text)) == 4
    assert "one one one one one" not in said.text


def test_unknown_entities_are_refused(detector: PiiDetector) -> None:
    with pytest.raises(ValueError, match="NOT_A_THING"):
        detector.find("hello", ["NOT_A_THING"])
    assert detector.find("415-555-0132", []) == []


def test_cache_is_bounded_and_returns_the_same_answer() -> None:
    detector = PiiDetector(cache_size=4)
    first = detector.find("call 415-555-0132", ["PHONE_NUMBER"])
    assert detector.find("call 415-555-0132", ["PHONE_NUMBER"]) == first
    for n in range(10):
        detector.find(f"order {n}", ["PHONE_NUMBER", "PERSON"])
    assert detector.cache_len() == 4
    assert first == [PiiSpan(5, 17, "PHONE_NUMBER", first[0].score)]


def test_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    tried: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        tried.append(args)
        raise OSError("no network in this test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    detector = PiiDetector()  # a fresh one: loading happens under the patch
    text = "write to jane.doe@example.co.uk or see https://example.org/a from 10.0.0.1"
    entities = sorted(s.entity for s in detector.find(text, list(PII_ENTITIES)))
    assert entities == ["EMAIL_ADDRESS", "IP_ADDRESS", "URL"]
    assert tried == []


async def test_ready_loads_in_a_worker_thread() -> None:
    detector = PiiDetector()
    assert not detector.loaded
    await detector.ready()
    assert detector.loaded


async def test_a_phone_number_is_silenced_in_a_recording(tmp_path: Path) -> None:
    """Real speech (Piper) in the user channel of a recording; Whisper's word times find
    the number, and only those samples become zero."""
    tts = PiperTTS()
    voice = tts.voices()[0]
    said = "Hello there. My phone number is four one five, five five five, zero one three two."
    pcm = b"".join([c async for c in tts.synthesize(said, voice_id=voice.id)])
    tts.close()
    user = np.frombuffer(resample_pcm16(pcm, voice.sample_rate, SAMPLE_RATE), dtype="<i2")
    lead = SAMPLE_RATE  # one second of silence first
    recorder = SessionRecorder(started_at=0.0)
    recorder.user_audio(bytes(lead * 2) + user.tobytes(), at=(lead + len(user)) / SAMPLE_RATE)
    agent = (np.sin(np.arange(len(user)) / 5) * 8000).astype("<i2")
    recorder.agent_audio(agent.tobytes(), "turn-1", at=0.0)
    path = recorder.save(tmp_path / "rec" / "session.wav")
    before = _stereo(path)

    detector = PiiDetector()
    spans = await pii_times(path, USER, detector, ["PHONE_NUMBER"])
    assert len(spans) == 1
    start, end = spans[0]
    # "My phone number is" comes first: the number starts well after the greeting
    assert lead / SAMPLE_RATE + 1.0 < start < end <= (lead + len(user)) / SAMPLE_RATE + 0.5
    assert end - start > 1.5  # ten digits take a while to say
    assert await pii_times(path, AGENT, detector, ["PHONE_NUMBER"]) == []

    zeroed = silence_spans(path, spans, USER)
    after = _stereo(path)
    a, b = int(start * SAMPLE_RATE), int(np.ceil(end * SAMPLE_RATE))
    assert zeroed == min(b, len(after)) - a
    assert not after[a:b, USER].any()
    assert np.abs(before[a:b, USER].astype(np.int32)).max() > 1000  # there was speech
    assert np.array_equal(after[:a], before[:a])
    assert np.array_equal(after[b:], before[b:])
    assert np.array_equal(after[:, AGENT], before[:, AGENT])
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def _stereo(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getframerate()) == (2, SAMPLE_RATE)
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2).copy()


def test_threads_share_one_detector(detector: PiiDetector) -> None:
    texts = [f"Call me at 415-555-01{n:02d}, I'm Maria Garcia." for n in range(40)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda t: found(detector, t), texts))
    for text, spans in zip(texts, results, strict=True):
        assert spans == [("PHONE_NUMBER", text[11:23]), ("PERSON", "Maria Garcia")]
