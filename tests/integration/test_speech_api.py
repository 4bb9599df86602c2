"""The OpenAI-compatible speech endpoints over real HTTP, with the real models and the
official ``openai`` client: transcriptions of real recordings, synthesized speech
transcribed back, streaming, and every refusal."""

from __future__ import annotations

import io
import re
import select
import socket
import time
import wave
from collections.abc import Iterator
from urllib.parse import urlsplit

import av
import httpx
import numpy as np
import openai
import pytest

from parley.audio.wav import decode_wav, wav_bytes
from parley.client import ParleyClient
from parley.server.speech import MAX_SPEECH_BODY_BYTES, MAX_UPLOAD_BYTES
from parley.testing.multilingual_speech import real_clips
from parley.testing.recordings import Recording
from parley.testing.wer import normalized_wer
from tests.integration.api_support import assert_error, auth
from tests.integration.conftest import Server

pytestmark = pytest.mark.integration

LIBRIVOX = ["librivox-0870", "librivox-0880", "librivox-0890", "librivox-0920", "librivox-0930"]
VOICE = "en_US-joe-medium"
SPOKEN = "The quick brown fox jumps over the lazy dog. Then it runs into the forest."
LONG_INPUT = " ".join(
    [
        "Once upon a time, in a small village by the sea, there lived an old fisherman.",
        "Every morning he rowed out before sunrise and came back with his nets full.",
        "The children of the village would run down to the harbour to greet him.",
        "He told them stories of storms, of whales, and of islands nobody had seen.",
        "One day he did not come back, and the whole village waited on the shore.",
        "Three days later his little boat appeared on the horizon, its sail torn.",
        "He had found one of his islands, he said, and he would tell them all about it.",
        "And so he did, every evening, until the children were old themselves.",
    ]
)


@pytest.fixture(scope="module")
def secret_key(server: Server) -> str:
    with ParleyClient(server.url, server.admin_key) as admin:
        return str(admin.create_key("speech-tests")["key"])


@pytest.fixture(scope="module")
def publishable_key(server: Server) -> str:
    with ParleyClient(server.url, server.admin_key) as admin:
        return str(admin.create_key("speech-browser", kind="publishable")["key"])


@pytest.fixture(scope="module")
def client(server: Server, secret_key: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key=secret_key, max_retries=0) as c:
        yield c


def transcribe_bytes(client: openai.OpenAI, data: bytes, name: str = "audio.wav") -> str:
    return client.audio.transcriptions.create(model="whisper-1", file=(name, data)).text


def seconds_of(pcm: bytes, rate: int) -> float:
    return len(pcm) / 2 / rate


# ------------------------------------------------------------------ transcriptions


def test_transcribes_real_recordings(client: openai.OpenAI, speech: dict[str, Recording]) -> None:
    clips = [speech[name] for name in LIBRIVOX]
    heard = []
    for clip in clips:
        with clip.path.open("rb") as f:
            heard.append(client.audio.transcriptions.create(model="whisper-1", file=f).text)
    wer = normalized_wer([c.text for c in clips], heard)
    assert wer <= 0.15, (wer, heard)


def test_response_formats_and_named_provider(
    client: openai.OpenAI, speech: dict[str, Recording]
) -> None:
    clip = speech["librivox-0870"]
    with clip.path.open("rb") as f:
        verbose = client.audio.transcriptions.create(
            model="stt:whisper-local", file=f, response_format="verbose_json", language="en"
        )
    assert verbose.language == "en" and verbose.task == "transcribe"  # type: ignore[attr-defined]
    assert verbose.segments == [] and abs(verbose.duration - 7.1) < 0.05
    assert normalized_wer([clip.text], [verbose.text]) <= 0.25, verbose.text
    with clip.path.open("rb") as f:
        text = client.audio.transcriptions.create(model="whisper-1", file=f, response_format="text")
    assert isinstance(text, str) and text.strip() == verbose.text


def test_other_languages_use_the_multilingual_model(client: openai.OpenAI) -> None:
    clip = max(real_clips("es", per_language=4), key=lambda c: len(c.pcm))
    wav = wav_bytes(clip.pcm, 16000)
    given = client.audio.transcriptions.create(
        model="whisper-1", file=("es.wav", wav), response_format="verbose_json", language="es"
    )
    assert given.language == "es"  # type: ignore[attr-defined]
    assert normalized_wer([clip.text], [given.text], english=False) <= 0.4, given.text
    detected = client.audio.transcriptions.create(
        model="stt:whisper-multilingual", file=("es.wav", wav), response_format="verbose_json"
    )
    assert detected.language == "es", detected  # type: ignore[attr-defined]


def encode(pcm: bytes, container: str, codec: str, rate: int = 44100) -> bytes:
    """16 kHz mono speech as a stereo file of another format (PyAV)."""
    frame = av.AudioFrame.from_ndarray(
        np.frombuffer(pcm, dtype="<i2").reshape(1, -1), format="s16", layout="mono"
    )
    frame.sample_rate = 16000
    out = io.BytesIO()
    with av.open(out, "w", format=container) as muxer:
        stream = muxer.add_stream(codec, rate=rate, layout="stereo")
        resampler = av.AudioResampler(format=stream.format, layout="stereo", rate=rate)
        for piece in [*resampler.resample(frame), *resampler.resample(None)]:
            muxer.mux(stream.encode(piece))
        muxer.mux(stream.encode(None))
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("speech.wav", lambda pcm: encode(pcm, "wav", "pcm_s24le")),  # 44.1 kHz stereo 24-bit
        ("speech.flac", lambda pcm: encode(pcm, "flac", "flac")),
        ("speech.mp3", lambda pcm: encode(pcm, "mp3", "libmp3lame")),
        ("speech.ogg", lambda pcm: encode(pcm, "ogg", "libopus", 48000)),
        ("speech.m4a", lambda pcm: encode(pcm, "mp4", "aac")),
    ],
)
def test_other_rates_channels_and_formats(
    client: openai.OpenAI, speech: dict[str, Recording], name: str, make: object
) -> None:
    clip = speech["librivox-0920"]
    assert callable(make)
    heard = transcribe_bytes(client, make(decode_wav(clip.path.read_bytes())), name)
    assert normalized_wer([clip.text], [heard]) <= 0.25, heard


def test_long_audio_is_transcribed_in_pieces(
    client: openai.OpenAI, speech: dict[str, Recording]
) -> None:
    clips = [speech[name] for name in LIBRIVOX] * 2
    pause = bytes(int(0.6 * 16000) * 2)
    pcm = b"".join(decode_wav(c.path.read_bytes()) + pause for c in clips)
    assert seconds_of(pcm, 16000) > 50  # three pieces of at most 25 s
    heard = transcribe_bytes(client, wav_bytes(pcm))
    wer = normalized_wer([" ".join(c.text for c in clips)], [heard])
    assert wer <= 0.15, (wer, heard)


def test_silent_and_empty_audio_say_nothing(client: openai.OpenAI) -> None:
    assert transcribe_bytes(client, wav_bytes(bytes(3 * 32000))) == ""
    assert transcribe_bytes(client, wav_bytes(b"")) == ""


# ------------------------------------------------------------------ speech


def test_speech_wav_round_trip(client: openai.OpenAI) -> None:
    audio = client.audio.speech.create(
        model="tts-1", voice=VOICE, input=SPOKEN, response_format="wav"
    ).content
    assert audio[:4] == b"RIFF" and audio[40:44] == b"\xff\xff\xff\xff"  # streamed: no size
    with wave.open(io.BytesIO(audio)) as w:  # the standard library reads it to its end
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 22050)
        pcm = w.readframes(w.getnframes())
    assert len(pcm) == len(audio) - 44
    assert 3.0 < seconds_of(pcm, 22050) < 8.0
    heard = transcribe_bytes(client, audio)
    assert normalized_wer([SPOKEN], [heard]) <= 0.2, heard


def test_speech_pcm_round_trip(client: openai.OpenAI) -> None:
    wav = client.audio.speech.create(model="tts-1", voice=VOICE, input=SPOKEN).content
    assert wav[:4] == b"RIFF"  # wav is the default
    pcm = client.audio.speech.create(
        model="tts:piper-local", voice=VOICE, input=SPOKEN, response_format="pcm"
    ).content
    heard = transcribe_bytes(client, wav_bytes(pcm, 24000))
    assert normalized_wer([SPOKEN], [heard]) <= 0.2, heard


def test_speech_streams_while_it_is_synthesized(client: openai.OpenAI) -> None:
    arrivals: list[tuple[float, int]] = []
    audio = b""
    t0 = time.perf_counter()
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice=VOICE, input=LONG_INPUT, response_format="pcm"
    ) as response:
        for chunk in response.iter_bytes():
            arrivals.append((time.perf_counter() - t0, len(chunk)))
            audio += chunk
    first, last = arrivals[0][0], arrivals[-1][0]
    print(
        f"\nspeech: {seconds_of(audio, 24000):.1f} s of audio in {len(arrivals)} reads; "
        f"first bytes after {first:.3f} s, last after {last:.3f} s"
    )
    assert first < last / 3, arrivals  # the first clause came long before the whole text
    # pcm is 24 kHz: as long as the wav (22.05 kHz) of the same text, within Piper's
    # random variation (about 1.5 % over this text; a wrong rate would be 8.8 %)
    wav = client.audio.speech.create(model="tts-1", voice=VOICE, input=LONG_INPUT).content
    ratio = seconds_of(audio, 24000) / seconds_of(wav[44:], 22050)
    assert 0.96 < ratio < 1.04, ratio


# ------------------------------------------------------------------ refusals


def test_keys(server: Server, publishable_key: str) -> None:
    url = f"{server.url}/v1/audio"
    body = {"model": "tts-1", "voice": VOICE, "input": "hi"}
    assert_error(httpx.post(f"{url}/speech", json=body), 401, "authentication_error")
    files = {"file": ("a.wav", wav_bytes(bytes(320)))}
    response = httpx.post(f"{url}/transcriptions", files=files, data={"model": "whisper-1"})
    assert_error(response, 401, "authentication_error")
    pk = auth(publishable_key)
    assert_error(httpx.post(f"{url}/speech", json=body, headers=pk), 403, "authorization_error")
    response = httpx.post(f"{url}/transcriptions", files=files, data={"model": "x"}, headers=pk)
    assert_error(response, 403, "authorization_error")


@pytest.mark.parametrize(
    ("change", "message", "param"),
    [
        ({"voice": "alloy"}, f"voice: unknown voice 'alloy'; available: {VOICE}", "voice"),
        (
            {"response_format": "mp3"},
            "response_format: Input should be 'wav' or 'pcm'",
            "response_format",
        ),
        ({"input": ""}, "input: String should have at least 1 character", "input"),
        ({"input": " \n\t "}, "input: must contain something to say", "input"),
        ({"input": "x" * 4097}, "input: String should have at most 4096 characters", "input"),
        ({"speed": 1.5}, "speed: this server's voices speak at speed 1.0 only", "speed"),
        ({"stream_format": "sse"}, "stream_format: Input should be 'audio'", "stream_format"),
    ],
)
def test_speech_refusals(
    server: Server, secret_key: str, change: dict[str, object], message: str, param: str
) -> None:
    body = {"model": "tts-1", "voice": VOICE, "input": "Hello.", **change}
    response = httpx.post(f"{server.url}/v1/audio/speech", json=body, headers=auth(secret_key))
    assert_error(response, 422, "validation_error", message, param)


def test_speech_voice_object_and_openai_client_errors(client: openai.OpenAI) -> None:
    audio = client.audio.speech.create(model="tts-1", voice={"id": VOICE}, input="Hi.")
    assert audio.content[:4] == b"RIFF"
    with pytest.raises(openai.UnprocessableEntityError, match="available: en_US-joe-medium"):
        client.audio.speech.create(model="tts-1", voice="alloy", input="Hi.")
    with pytest.raises(openai.UnprocessableEntityError, match="'wav' or 'pcm'"):
        client.audio.speech.create(model="tts-1", voice=VOICE, input="Hi.", response_format="mp3")


def post_form(
    server: Server, key: str, data: dict[str, str], file: bytes = b"", field: str = "file"
) -> httpx.Response:
    files = {field: ("audio.bin", file)}
    return httpx.post(
        f"{server.url}/v1/audio/transcriptions",
        headers=auth(key),
        data={"model": "whisper-1", **data},
        files=files,
        timeout=30,
    )


def test_transcription_refusals(server: Server, secret_key: str) -> None:
    audio = wav_bytes(bytes(3200))
    not_audio = post_form(server, secret_key, {}, b"%PDF-1.4 this is not audio")
    error = assert_error(not_audio, 422, "validation_error", param="file")
    assert error["message"].startswith("file: unsupported or unrecognised audio format; accepted:")
    assert "WAV" in error["message"] and "MP3" in error["message"]
    response = post_form(server, secret_key, {"response_format": "srt"}, audio)
    message = "response_format: Input should be 'json', 'text' or 'verbose_json'"
    assert_error(response, 422, "validation_error", message, "response_format")
    response = post_form(server, secret_key, {"language": "english"}, audio)
    message = "language: must be a language code such as 'en'"
    assert_error(response, 422, "validation_error", message, "language")
    response = post_form(server, secret_key, {"stream": "true"}, audio)
    assert_error(response, 422, "validation_error", param="stream")
    missing = post_form(server, secret_key, {}, audio, field="audio")
    assert_error(missing, 422, "validation_error", "file: Field required", "file")
    no_model = httpx.post(
        f"{server.url}/v1/audio/transcriptions",
        headers=auth(secret_key),
        files={"file": ("a.wav", audio)},
    )
    assert_error(no_model, 422, "validation_error", "model: Field required", "model")
    not_a_form = "the body must be multipart/form-data with a boundary"
    for body in ({"json": {"model": "x"}}, {"data": {"model": "x"}}):
        response = httpx.post(
            f"{server.url}/v1/audio/transcriptions", headers=auth(secret_key), **body
        )
        assert_error(response, 422, "validation_error", not_a_form)
    long = wav_bytes(bytes(601 * 32000))
    response = post_form(server, secret_key, {}, long)
    message = "file: audio is 601.0 s long; the limit is 600 s"
    assert_error(response, 413, "validation_error", message, "file")


def raw_post(server: Server, key: str, path: str, headers: str, body: bytes) -> socket.socket:
    """Open a connection and send a request's head and the start of its body."""
    url = urlsplit(server.url)
    sock = socket.create_connection((url.hostname, url.port))
    head = f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\nAuthorization: Bearer {key}\r\n"
    sock.sendall((head + headers + "\r\n").encode() + body)
    return sock


def read_response(sock: socket.socket, timeout: float = 10.0) -> bytes:
    """One response with a Content-Length body (or whatever came before the close)."""
    sock.settimeout(timeout)
    data = b""
    while True:
        head, found, body = data.partition(b"\r\n\r\n")
        length = re.search(rb"(?i)content-length: *(\d+)", head)
        if found and length and len(body) >= int(length[1]):
            return data
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


@pytest.mark.parametrize(
    ("path", "limit"),
    [("/v1/audio/transcriptions", MAX_UPLOAD_BYTES), ("/v1/audio/speech", MAX_SPEECH_BODY_BYTES)],
)
def test_oversized_body_is_refused_before_it_is_read(
    server: Server, secret_key: str, path: str, limit: int
) -> None:
    headers = f"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {limit + 1}\r\n"
    with raw_post(server, secret_key, path, headers, b"--x\r\n") as sock:
        response = read_response(sock)  # sent: 5 of the announced bytes
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), response
    assert b'"code":"validation_error"' in body and str(limit).encode() in body


def test_streamed_body_is_cut_off_at_the_limit(server: Server, secret_key: str) -> None:
    """Without Content-Length (chunked), the server counts and answers once past the limit."""
    headers = "Content-Type: multipart/form-data; boundary=x\r\nTransfer-Encoding: chunked\r\n"
    piece = b"%x\r\n%s\r\n" % (1 << 20, b"\0" * (1 << 20))
    sent = 0
    with raw_post(server, secret_key, "/v1/audio/transcriptions", headers, b"") as sock:
        while not select.select([sock], [], [], 0)[0] and sent < 2 * MAX_UPLOAD_BYTES:
            try:
                sock.sendall(piece)
            except OSError:  # the server answered and closed while we were sending
                break
            sent += 1 << 20
        response = read_response(sock)
    assert response.startswith(b"HTTP/1.1 413"), response
    assert MAX_UPLOAD_BYTES < sent < 2 * MAX_UPLOAD_BYTES


def test_speech_metrics(server: Server, client: openai.OpenAI) -> None:
    client.audio.speech.create(model="tts-1", voice=VOICE, input="Counting.")
    metrics = httpx.get(f"{server.url}/metrics", headers=auth(server.admin_key)).text
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("parley_speech_")
    }
    assert samples['parley_speech_requests_total{endpoint="speech",outcome="ok"}'] >= 1
    assert samples['parley_speech_audio_seconds_total{endpoint="speech"}'] > 0.5
