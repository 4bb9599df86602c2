"""PCM helpers, resampling and WAV reading/writing."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from parley.audio.pcm import (
    VAD_FRAME_BYTES,
    FrameSplitter,
    check_pcm16,
    duration_ms,
    float32_to_pcm16,
    pcm16_to_float32,
    silence,
)
from parley.audio.resample import StreamResampler, resample_pcm16
from parley.audio.wav import read_wav, write_wav
from parley.errors import AudioError


def _tone(freq: float, rate: int, seconds: float, amp: float = 0.5) -> npt.NDArray[np.float64]:
    t = np.arange(round(rate * seconds)) / rate
    return amp * np.sin(2 * np.pi * freq * t)


def _pcm(samples: npt.NDArray[np.float64]) -> bytes:
    return np.round(samples * 32767).astype("<i2").tobytes()


def _samples(pcm: bytes) -> npt.NDArray[np.float64]:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64)


def _dominant_hz(pcm: bytes, rate: int) -> float:
    x = _samples(pcm)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)])


def _peak(pcm: bytes) -> float:
    x = _samples(pcm)
    return float(np.abs(x[len(x) // 10 : -len(x) // 10]).max())  # skip filter edges


# ---------------------------------------------------------------- FrameSplitter


def _stream(n: int) -> bytes:
    return np.random.default_rng(7).integers(0, 256, n, dtype=np.uint8).tobytes()


@pytest.mark.parametrize(
    "sizes",
    [
        [1, 7, 1023, 1, 513, 2047, 3000, 5],
        [1023] * 9,
        [1025] * 7,
        [1] * 3000,
        [10_000],
        [0, 1024, 0, 2048, 3],
    ],
)
def test_frame_splitter_gives_exact_frames_in_order(sizes: list[int]) -> None:
    data = _stream(sum(sizes))
    splitter = FrameSplitter()
    frames: list[bytes] = []
    pos = 0
    for size in sizes:
        frames += splitter.push(data[pos : pos + size])
        pos += size
        assert len(frames) == pos // VAD_FRAME_BYTES  # every complete frame, as soon as possible
    assert VAD_FRAME_BYTES == 1024
    assert all(len(f) == 1024 for f in frames)
    assert b"".join(frames) == data[: len(frames) * 1024]
    # the remainder is kept: completing it yields exactly the next frame
    rest = len(data) - len(frames) * 1024
    pad = _stream(1024 - rest + 1024)
    assert splitter.push(pad) == [
        data[len(frames) * 1024 :] + pad[: 1024 - rest],
        pad[1024 - rest :],
    ]


def test_frame_splitter_reset_drops_the_partial_frame() -> None:
    splitter = FrameSplitter()
    assert splitter.push(b"\x01" * 1000) == []
    splitter.reset()
    assert splitter.push(b"\x02" * 1000) == []
    assert splitter.push(b"\x02" * 48) == [b"\x02" * 1024]


def test_frame_splitter_custom_frame_size() -> None:
    splitter = FrameSplitter(frame_bytes=4)
    assert splitter.push(b"abcdefghij") == [b"abcd", b"efgh"]
    assert splitter.push(b"kl") == [b"ijkl"]


# ---------------------------------------------------------------- PCM helpers


@pytest.mark.parametrize("n", [0, 2, 1024, 32000])
def test_check_pcm16_accepts_whole_samples(n: int) -> None:
    check_pcm16(bytes(n))


@pytest.mark.parametrize("n", [1, 3, 1023])
def test_check_pcm16_rejects_odd_lengths(n: int) -> None:
    with pytest.raises(AudioError) as info:
        check_pcm16(bytes(n))
    assert info.value.code == "audio_error"
    assert info.value.param == "audio"
    assert str(n) in info.value.message


@pytest.mark.parametrize(
    ("n_bytes", "rate", "ms"),
    [
        (0, 16000, 0.0),
        (1024, 16000, 32.0),
        (32000, 16000, 1000.0),
        (88200, 44100, 1000.0),
        (160, 8000, 10.0),
    ],
)
def test_duration_ms(n_bytes: int, rate: int, ms: float) -> None:
    assert duration_ms(bytes(n_bytes), rate) == pytest.approx(ms)


def test_pcm16_to_float32_scale() -> None:
    pcm = np.array([-32768, -16384, 0, 16384, 32767], dtype="<i2").tobytes()
    out = pcm16_to_float32(pcm)
    assert out.dtype == np.float32
    assert out.tolist() == [-1.0, -0.5, 0.0, 0.5, 32767 / 32768]


def test_pcm16_float32_round_trip_is_exact_for_every_sample_value() -> None:
    pcm = np.arange(-32768, 32768, dtype="<i2").tobytes()
    assert float32_to_pcm16(pcm16_to_float32(pcm)) == pcm


def test_float32_to_pcm16_clips() -> None:
    samples = np.array([1.5, 1.0, -1.0, -2.0, 0.5, -0.5, 100.0, -100.0], dtype=np.float32)
    out = np.frombuffer(float32_to_pcm16(samples), dtype="<i2").tolist()
    assert out == [32767, 32767, -32768, -32768, 16384, -16384, 32767, -32768]


@pytest.mark.parametrize(
    ("ms", "rate", "n_bytes"),
    [(32, 16000, 1024), (1000, 8000, 16000), (0, 16000, 0), (10, 44100, 882)],
)
def test_silence(ms: float, rate: int, n_bytes: int) -> None:
    out = silence(ms, rate)
    assert out == bytes(n_bytes)
    assert duration_ms(out, rate) == pytest.approx(ms)


# ---------------------------------------------------------------- resampling

SOURCE_RATE = 22_050
TONE = _pcm(_tone(440, SOURCE_RATE, 1.0))


def test_resample_keeps_length_and_frequency() -> None:
    out = resample_pcm16(TONE, SOURCE_RATE, 16000)
    assert len(out) % 2 == 0
    assert len(out) / 2 == pytest.approx(16000, rel=0.01)
    assert _dominant_hz(out, 16000) == pytest.approx(440, abs=2)
    assert _peak(out) == pytest.approx(0.5 * 32767, rel=0.02)


@pytest.mark.parametrize(("src", "dst"), [(16000, 16000), (22050, 16000)])
def test_resample_edge_cases(src: int, dst: int) -> None:
    assert resample_pcm16(b"", src, dst) == b""
    if src == dst:
        assert resample_pcm16(TONE, src, dst) == TONE


@pytest.mark.parametrize("chunk_samples", [1, 333, 1000, 4410])
def test_stream_resampler_matches_whole_buffer(chunk_samples: int) -> None:
    whole = resample_pcm16(TONE, SOURCE_RATE, 16000)
    resampler = StreamResampler(SOURCE_RATE, 16000)
    step = chunk_samples * 2
    chunks = [TONE[i : i + step] for i in range(0, len(TONE), step)]
    out = b"".join(
        resampler.push(chunk, last=i == len(chunks) - 1) for i, chunk in enumerate(chunks)
    )
    assert len(out) % 2 == 0
    assert len(out) == pytest.approx(len(whole), rel=0.01)
    assert _dominant_hz(out, 16000) == pytest.approx(440, abs=2)
    a, b = _samples(out), _samples(whole)
    n = min(len(a), len(b))
    assert np.abs(a[:n] - b[:n]).max() <= 16  # same signal, not just the same length


def test_stream_resampler_passthrough_at_equal_rates() -> None:
    resampler = StreamResampler(16000, 16000)
    assert resampler.push(TONE[:1000]) == TONE[:1000]
    assert resampler.push(TONE[1000:2000], last=True) == TONE[1000:2000]


# ---------------------------------------------------------------- WAV


def _write(path: Path, rate: int, width: int, channels: npt.NDArray[np.float64]) -> Path:
    """``channels``: float array (n_channels, n_samples) in [-1, 1]."""
    inter = channels.T.reshape(-1)
    if width == 1:
        raw = np.round(inter * 127 + 128).astype(np.uint8).tobytes()
    elif width == 2:
        raw = np.round(inter * 32767).astype("<i2").tobytes()
    else:
        ints = np.round(inter * (2**23 - 1)).astype("<i4")
        raw = ints.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels.shape[0])
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(raw)
    return path


@pytest.mark.parametrize(
    ("rate", "width", "n_channels", "freq", "seconds"),
    [
        (44100, 2, 2, 440.0, 1.0),
        (8000, 1, 1, 300.0, 0.75),
        (48000, 3, 1, 1000.0, 0.5),
        (16000, 2, 1, 523.0, 1.0),
        (22050, 2, 1, 440.0, 0.5),
    ],
)
def test_read_wav_converts_to_pcm16_mono_16k(
    tmp_path: Path, rate: int, width: int, n_channels: int, freq: float, seconds: float
) -> None:
    tone = _tone(freq, rate, seconds)
    path = _write(tmp_path / "in.wav", rate, width, np.stack([tone] * n_channels))
    pcm = read_wav(path)
    assert len(pcm) % 2 == 0
    assert duration_ms(pcm, 16000) == pytest.approx(seconds * 1000, rel=0.01)
    assert _dominant_hz(pcm, 16000) == pytest.approx(freq, abs=3)
    # amplitude survives the sample-width conversion (0.5 of full scale)
    assert _peak(pcm) == pytest.approx(0.5 * 32767, rel=0.03)


def test_read_wav_mixes_stereo_down_to_mono(tmp_path: Path) -> None:
    tone = _tone(440, 16000, 0.5)
    path = _write(tmp_path / "s.wav", 16000, 2, np.stack([tone, np.zeros_like(tone)]))
    assert _peak(read_wav(path)) == pytest.approx(0.25 * 32767, rel=0.02)
    path = _write(tmp_path / "c.wav", 16000, 2, np.stack([tone, -tone]))
    assert _peak(read_wav(path)) <= 1


def test_read_wav_honours_target_rate(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.wav", 44100, 2, np.stack([_tone(440, 44100, 1.0)]))
    pcm = read_wav(path, target_rate=8000)
    assert duration_ms(pcm, 8000) == pytest.approx(1000, rel=0.01)
    assert _dominant_hz(pcm, 8000) == pytest.approx(440, abs=2)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"hello",
        b"not a wav file at all, just some text\n" * 10,
        b"RIFF\x10\x00\x00\x00JUNKdata",
        bytes(64),
    ],
)
def test_read_wav_rejects_non_wav(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError) as info:
        read_wav(path)
    assert info.value.code == "audio_error"
    assert "bad.wav" in info.value.message


def test_write_read_round_trip_is_exact(tmp_path: Path) -> None:
    pcm = (
        np.random.default_rng(3)
        .integers(-32768, 32768, 16000, dtype=np.int64)
        .astype("<i2")
        .tobytes()
    )
    path = tmp_path / "rt.wav"
    write_wav(path, pcm)
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (
            1,
            2,
            16000,
            16000,
        )
    assert read_wav(path) == pcm
    assert read_wav(str(path)) == pcm


def test_write_wav_at_another_rate_is_resampled_on_read(tmp_path: Path) -> None:
    path = tmp_path / "8k.wav"
    write_wav(path, _pcm(_tone(440, 8000, 1.0)), sample_rate=8000)
    pcm = read_wav(path)
    assert duration_ms(pcm, 16000) == pytest.approx(1000, rel=0.01)
    assert _dominant_hz(pcm, 16000) == pytest.approx(440, abs=2)
