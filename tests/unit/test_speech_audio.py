"""The speech API's pure helpers: WAV reading and streamed headers, decoding uploads,
cutting long audio at pauses, multipart forms, clauses, metrics."""

from __future__ import annotations

import io
import struct
import wave

import numpy as np
import pytest

from parley.audio.decode import ACCEPTED, AudioTooLongError, decode_audio, sniff
from parley.audio.g711 import pcm16_to_alaw, pcm16_to_mulaw
from parley.audio.levels import is_silent, split_at_pauses
from parley.audio.pcm import FRAME_MS, SAMPLE_RATE
from parley.audio.wav import UNKNOWN_SIZE, decode_wav, wav_bytes, wav_header
from parley.errors import AudioError, ValidationError
from parley.observability.metrics import ServerMetrics
from parley.server.speech import clauses
from parley.server.uploads import MAX_FORM_PARTS, parse_form


def tone(seconds: float, rate: int = SAMPLE_RATE, hz: float = 440.0, level: float = 0.3) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * hz * t) * level * 32767).astype("<i2").tobytes()


def samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64)


def riff(fmt: bytes, data: bytes, *, extra: bytes = b"", sizes: int | None = None) -> bytes:
    """A WAV file from a fmt chunk body and sample data (``extra`` chunks in between)."""
    body = b"WAVE" + struct.pack("<4sI", b"fmt ", len(fmt)) + fmt + extra
    body += struct.pack("<4sI", b"data", len(data) if sizes is None else sizes) + data
    return struct.pack("<4sI", b"RIFF", len(body) if sizes is None else sizes) + body


def fmt_chunk(tag: int, channels: int, rate: int, bits: int) -> bytes:
    align = channels * bits // 8
    return struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits)


# ------------------------------------------------------------------ WAV


def test_streamed_wav_header_reads_to_the_end() -> None:
    pcm = tone(0.5, 22050)
    streamed = wav_header(22050) + pcm
    assert streamed[4:8] == streamed[40:44] == struct.pack("<I", UNKNOWN_SIZE)
    assert decode_wav(streamed, 22050) == pcm
    with wave.open(io.BytesIO(streamed)) as w:  # the standard library copes, nframes aside
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (22050, 1, 2)
        assert w.readframes(w.getnframes()) == pcm
    import av

    with av.open(io.BytesIO(streamed)) as container:  # and so does ffmpeg
        frames = list(container.decode(container.streams.audio[0]))
    assert b"".join(bytes(f.planes[0])[: f.samples * 2] for f in frames) == pcm
    whole = wav_bytes(pcm, 22050)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(22050)
        w.writeframes(pcm)
    assert whole == buffer.getvalue()


@pytest.mark.parametrize(
    ("tag", "bits", "encode"),
    [
        (1, 8, lambda x: (np.round(x / 256) + 128).astype("u1").tobytes()),
        (1, 16, lambda x: x.astype("<i2").tobytes()),
        (
            1,
            24,
            lambda x: (
                np.frombuffer((x.astype("<i4") * 256).tobytes(), "u1")
                .reshape(-1, 4)[:, :3]
                .tobytes()
            ),
        ),
        (1, 32, lambda x: (x.astype("<i4") * 65536).tobytes()),
        (3, 32, lambda x: (x / 32768).astype("<f4").tobytes()),
        (3, 64, lambda x: (x / 32768).astype("<f8").tobytes()),
        (7, 8, lambda x: pcm16_to_mulaw(x.astype("<i2").tobytes())),
        (6, 8, lambda x: pcm16_to_alaw(x.astype("<i2").tobytes())),
    ],
)
def test_wav_encodings(tag: int, bits: int, encode: object) -> None:
    pcm = tone(0.25)
    assert callable(encode)
    data = encode(samples(pcm))
    decoded = samples(decode_wav(riff(fmt_chunk(tag, 1, SAMPLE_RATE, bits), data)))
    assert len(decoded) == len(pcm) // 2
    tolerance = 300 if bits == 8 else 2
    assert np.abs(decoded - samples(pcm)).max() <= tolerance


def test_wav_channels_rate_extensible_and_odd_chunks() -> None:
    left, right = samples(tone(0.5, 48000, 440)), samples(tone(0.5, 48000, 660))
    stereo = np.stack([left, right], axis=1).astype("<i2").tobytes()
    extensible = fmt_chunk(0xFFFE, 2, 48000, 16) + struct.pack("<HHIH", 22, 16, 3, 1) + bytes(14)
    odd = struct.pack("<4sI", b"LIST", 3) + b"abc\x00"  # an odd chunk and its pad byte
    pcm = decode_wav(riff(extensible, stereo, extra=odd))
    assert len(pcm) == 0.5 * SAMPLE_RATE * 2
    expected = samples(decode_wav(riff(fmt_chunk(1, 1, 48000, 16), tone(0.5, 48000, 440))))
    mixed = (
        expected + samples(decode_wav(riff(fmt_chunk(1, 1, 48000, 16), tone(0.5, 48000, 660))))
    ) / 2
    assert np.abs(samples(pcm) - mixed).max() <= 2


def test_bad_wavs() -> None:
    with pytest.raises(AudioError, match="not a WAV file"):
        decode_wav(b"hello")
    with pytest.raises(AudioError, match="unsupported WAV encoding"):
        decode_wav(riff(fmt_chunk(2, 1, 8000, 4), bytes(100)))  # ADPCM
    with pytest.raises(AudioError, match="no data chunk"):
        decode_wav(riff(fmt_chunk(1, 1, 8000, 16), b"")[:-8])
    with pytest.raises(AudioError, match="layout"):
        decode_wav(riff(fmt_chunk(1, 0, 8000, 16), bytes(100)))
    assert decode_wav(riff(fmt_chunk(1, 1, 8000, 16), b"")) == b""
    assert decode_wav(riff(fmt_chunk(1, 2, 8000, 16), bytes(3))) == b""  # less than a frame


# ------------------------------------------------------------------ uploads


def encoded(container: str, codec: str, *channels: bytes, rate: int = 48000) -> bytes:
    """16 kHz PCM16 ``channels`` encoded with PyAV."""
    import av

    layout = "mono" if len(channels) == 1 else "stereo"
    planes = np.stack([np.frombuffer(c, dtype="<i2") for c in channels])
    frame = av.AudioFrame.from_ndarray(planes, format="s16p", layout=layout)
    frame.sample_rate = SAMPLE_RATE
    out = io.BytesIO()
    with av.open(out, "w", format=container) as muxer:
        stream = muxer.add_stream(codec, rate=rate, layout=layout)
        resampler = av.AudioResampler(format=stream.format, layout=layout, rate=rate)
        for piece in [*resampler.resample(frame), *resampler.resample(None)]:
            muxer.mux(stream.encode(piece))
        muxer.mux(stream.encode(None))
    return out.getvalue()


@pytest.mark.parametrize(
    ("container", "codec", "sniffed"),
    [
        ("flac", "flac", "flac"),
        ("mp3", "libmp3lame", "mp3"),
        ("ogg", "libopus", "ogg"),
        ("webm", "libopus", "matroska"),
        ("mp4", "aac", "mp4"),
    ],
)
def test_compressed_uploads(container: str, codec: str, sniffed: str) -> None:
    pcm = tone(2.0)
    data = encoded(container, codec, pcm)
    assert sniff(data) == sniffed
    decoded = samples(decode_audio(data, max_seconds=10))
    assert abs(len(decoded) / SAMPLE_RATE - 2.0) < 0.15
    level = np.sqrt(np.mean(decoded[4000:-4000] ** 2))
    assert 0.8 < level / np.sqrt(np.mean(samples(pcm) ** 2)) < 1.2
    with pytest.raises(AudioTooLongError, match="limit of 1 s"):
        decode_audio(data, max_seconds=1)


def test_compressed_stereo_is_averaged() -> None:
    left, right = tone(1.0, hz=440), tone(1.0, hz=440, level=0.0)
    decoded = samples(decode_audio(encoded("flac", "flac", left, right), max_seconds=10))
    assert abs(len(decoded) - len(left) // 2) <= 16
    level = np.sqrt(np.mean(decoded[1000:-1000] ** 2)) / np.sqrt(np.mean(samples(left) ** 2))
    assert 0.48 < level < 0.52


def test_upload_refusals() -> None:
    with pytest.raises(AudioError, match="unrecognised audio format; accepted: WAV") as info:
        decode_audio(b"%PDF-1.7 not audio at all", max_seconds=10)
    assert ACCEPTED in info.value.message
    with pytest.raises(AudioError, match="cannot decode the mp3 file"):
        decode_audio(b"ID3" + bytes(200), max_seconds=10)
    with pytest.raises(AudioTooLongError, match=r"audio is 3\.0 s long; the limit is 2 s"):
        decode_audio(wav_bytes(tone(3.0)), max_seconds=2)
    assert decode_audio(wav_bytes(tone(1.0, 8000), 8000), max_seconds=2) == decode_wav(
        wav_bytes(tone(1.0, 8000), 8000)
    )


# ------------------------------------------------------------------ long audio


def test_split_at_pauses() -> None:
    gaps = [0.0]
    pcm = b""
    for burst in (9.0, 13.0, 7.0, 14.0, 6.0, 3.0):
        pcm += tone(burst, hz=300) + tone(0.3, level=0.0)
        gaps.append(len(pcm) / 2 / SAMPLE_RATE)
    pieces = split_at_pauses(pcm, max_ms=25_000, search_ms=5_000)
    assert b"".join(pieces) == pcm and len(pieces) == 3
    assert all(len(p) / 2 / SAMPLE_RATE <= 25.0 for p in pieces)
    ends = np.cumsum([len(p) / 2 / SAMPLE_RATE for p in pieces])[:-1]
    for end in ends:  # each cut lies in one of the silent gaps
        assert any(gap - 0.3 - FRAME_MS / 1000 <= end <= gap for gap in gaps), (end, gaps)
    assert split_at_pauses(tone(3.0), 25_000, 5_000) == [tone(3.0)]
    assert split_at_pauses(b"", 25_000, 5_000) == [b""]
    noise = (np.random.default_rng(1).normal(0, 3000, 16000 * 61)).astype("<i2").tobytes()
    pieces = split_at_pauses(noise, 25_000, 5_000)
    assert b"".join(pieces) == noise and max(len(p) for p in pieces) <= 25 * 32000


def test_is_silent() -> None:
    assert is_silent(b"") and is_silent(bytes(32000))
    assert is_silent(tone(1.0, level=0.0005)) and not is_silent(tone(1.0, level=0.01))


# ------------------------------------------------------------------ forms


def form(*parts: tuple[str, bytes], boundary: str = "b0und4ry") -> bytes:
    body = b""
    for disposition, data in parts:
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        body += data + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


def test_parse_form() -> None:
    audio = b"RIFF\r\n--b0und4r\r\n\r\n--\x00\xff"
    body = form(
        ('form-data; name="model"', b"whisper-1"),
        ('form-data; name="file"; filename="speech.wav"', audio),
        ('form-data; name="model"', b"second"),
        ("form-data; name*=UTF-8''sp%C3%A4t", b"x"),
        ("attachment", b"no name"),
    )
    parts = parse_form(
        b"preamble\r\n" + body + b"epilogue", 'multipart/form-data; boundary="b0und4ry"'
    )
    assert parts["model"].text() == "whisper-1"
    assert parts["file"].data == audio and parts["file"].filename == "speech.wav"
    assert parts["spät"].data == b"x" and set(parts) == {"model", "file", "spät"}
    assert parse_form(form(), "multipart/form-data; boundary=b0und4ry") == {}


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"{}", "application/json", "must be multipart/form-data"),
        (b"", "multipart/form-data", "must be multipart/form-data"),
        (b"nothing", "multipart/form-data; boundary=zz", "no boundary"),
        (
            b"--zz\r\nContent-Disposition: form-data; name=a\r\n\r\nopen",
            "multipart/form-data; boundary=zz",
            "not closed",
        ),
        (b"--zz\r\nno header end\r\n--zz--", "multipart/form-data; boundary=zz", "no header end"),
        (
            form(
                *[(f'form-data; name="f{i}"', b"") for i in range(MAX_FORM_PARTS + 1)],
                boundary="zz",
            ),
            "multipart/form-data; boundary=zz",
            "more than 64 parts",
        ),
    ],
)
def test_bad_forms(body: bytes, content_type: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_form(body, content_type)


def test_form_text_must_be_utf8() -> None:
    parts = parse_form(
        form(('form-data; name="model"', b"\xff")), "multipart/form-data; boundary=b0und4ry"
    )
    with pytest.raises(ValidationError, match="model: not UTF-8 text"):
        parts["model"].text()


# ------------------------------------------------------------------ speech


def test_clauses_start_short_and_keep_every_word() -> None:
    text = (
        "Once upon a time, there was a speech endpoint on this server. "
        + "It speaks every sentence as soon as it is ready. " * 3
        + "A very long sentence without any stops " * 10
    )
    parts = clauses(text)
    assert parts[:2] == ["Once upon a time,", "there was a speech endpoint on this server."]
    assert all(len(p) <= 200 for p in parts)
    assert " ".join(parts).split() == text.split()
    assert clauses("**") == []


def test_speech_metrics() -> None:
    metrics = ServerMetrics(lambda: 0)
    metrics.speech_request("speech", "ok", 2.5)
    metrics.speech_request("transcriptions", "rejected")
    text = metrics.exposition().decode()
    assert 'parley_speech_requests_total{endpoint="speech",outcome="ok"} 1.0' in text
    assert 'parley_speech_requests_total{endpoint="transcriptions",outcome="rejected"} 1.0' in text
    assert 'parley_speech_audio_seconds_total{endpoint="speech"} 2.5' in text
    assert 'parley_speech_audio_seconds_total{endpoint="transcriptions"}' not in text
