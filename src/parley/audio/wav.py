"""WAV files ⇄ engine audio (PCM16 mono 16 kHz): reading any common WAV, writing PCM16,
and the header of a WAV streamed before its length is known."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from parley.audio.g711 import alaw_to_pcm16, mulaw_to_pcm16
from parley.audio.pcm import SAMPLE_RATE
from parley.audio.resample import resample_pcm16
from parley.errors import AudioError

PCM, FLOAT, ALAW, MULAW, EXTENSIBLE = 1, 3, 6, 7, 0xFFFE
UNKNOWN_SIZE = 0xFFFFFFFF
"""The RIFF and data sizes of a streamed WAV (as OpenAI's streamed ``wav`` has them);
readers take the data to run to the end of the file."""
WAV_HEADER_BYTES = 44
"""Size of the header :func:`wav_header` writes."""
WAV_FORMATS = "PCM 8/16/24/32-bit, 32/64-bit float, μ-law or A-law"
_INT_DTYPES = {1: "u1", 2: "<i2", 4: "<i4"}
_MAX_CHANNELS = 64


@dataclass(frozen=True, slots=True)
class WavFormat:
    """What a WAV's ``fmt `` chunk says."""

    tag: int
    channels: int
    rate: int
    bits: int

    @property
    def frame_bytes(self) -> int:
        return self.channels * self.bits // 8


def is_wav(data: bytes) -> bool:
    """True when ``data`` starts like a RIFF (or RF64) WAVE file."""
    return data[:4] in (b"RIFF", b"RF64") and data[8:12] == b"WAVE"


def _format(chunk: bytes) -> WavFormat:
    if len(chunk) < 16:
        raise AudioError("WAV fmt chunk is too short")
    tag, channels, rate, _byte_rate, _align, bits = struct.unpack("<HHIIHH", chunk[:16])
    if tag == EXTENSIBLE and len(chunk) >= 26:
        tag = struct.unpack("<H", chunk[24:26])[0]  # the sub-format GUID starts with the tag
    supported = {PCM: (8, 16, 24, 32), FLOAT: (32, 64), ALAW: (8,), MULAW: (8,)}
    if bits not in supported.get(tag, ()):
        raise AudioError(f"unsupported WAV encoding (format {tag}, {bits} bits); use {WAV_FORMATS}")
    if not 1 <= channels <= _MAX_CHANNELS or not 1000 <= rate <= 384_000:
        raise AudioError(f"unsupported WAV layout: {channels} channels at {rate} Hz")
    return WavFormat(tag, channels, rate, bits)


def parse_wav(data: bytes) -> tuple[WavFormat, bytes]:
    """The format and the sample data of a WAV file. A data chunk whose size runs past the
    end (a streamed WAV, ``UNKNOWN_SIZE``, or a cut-off file) is read to the end."""
    if not is_wav(data):
        raise AudioError("not a WAV file")
    fmt: WavFormat | None = None
    pos = 12
    while pos + 8 <= len(data):
        chunk_id, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        pos += 8
        if chunk_id == b"fmt ":
            fmt = _format(data[pos : pos + size])
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioError("WAV data comes before its fmt chunk")
            samples = data[pos : pos + size]
            return fmt, samples[: len(samples) - len(samples) % fmt.frame_bytes]
        pos += size + (size & 1)
    raise AudioError("WAV file has no data chunk" if fmt else "WAV file has no fmt chunk")


def _samples(fmt: WavFormat, raw: bytes) -> npt.NDArray[np.float32]:
    """Interleaved samples as float32, scaled to PCM16's range."""
    if fmt.tag == FLOAT:
        floats = np.frombuffer(raw, dtype="<f4" if fmt.bits == 32 else "<f8")
        scaled: npt.NDArray[np.float32] = np.nan_to_num(floats.astype(np.float32) * 32768.0)
        return scaled
    if fmt.tag in (ALAW, MULAW):
        pcm = (alaw_to_pcm16 if fmt.tag == ALAW else mulaw_to_pcm16)(raw)
        return np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    width = fmt.bits // 8
    if width == 3:  # 24-bit: widen to 32-bit little endian
        raw = np.pad(np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3), ((0, 0), (1, 0))).tobytes()
        width = 4
    data = np.frombuffer(raw, dtype=_INT_DTYPES[width]).astype(np.float32)
    if width == 1:
        return (data - 128.0) * 256.0
    return data / 65536.0 if width == 4 else data


def wav_pcm(fmt: WavFormat, raw: bytes, target_rate: int = SAMPLE_RATE) -> bytes:
    """WAV sample data (see :func:`parse_wav`) as PCM16 mono at ``target_rate``."""
    samples = _samples(fmt, raw)
    if fmt.channels > 1:
        samples = samples.reshape(-1, fmt.channels).mean(axis=1)
    pcm = np.clip(np.round(samples), -32768, 32767).astype("<i2").tobytes()
    return resample_pcm16(pcm, fmt.rate, target_rate)


def decode_wav(data: bytes, target_rate: int = SAMPLE_RATE) -> bytes:
    """A WAV file's audio as PCM16 mono at ``target_rate`` (any rate, channels and
    encoding listed in ``WAV_FORMATS``); raises :class:`AudioError` otherwise."""
    return wav_pcm(*parse_wav(data), target_rate)


def read_wav(path: str | Path, target_rate: int = SAMPLE_RATE) -> bytes:
    """Read a WAV file (see :func:`decode_wav`) as PCM16 mono ``target_rate``."""
    try:
        return decode_wav(Path(path).read_bytes(), target_rate)
    except AudioError as exc:
        raise AudioError(f"{path}: {exc.message}") from exc


def wav_header(sample_rate: int, data_bytes: int = UNKNOWN_SIZE) -> bytes:
    """The 44-byte header of a PCM16 mono WAV; without ``data_bytes``, that of a stream
    whose length is not known yet (sizes ``UNKNOWN_SIZE``)."""
    riff = UNKNOWN_SIZE if data_bytes == UNKNOWN_SIZE else 36 + data_bytes
    return b"".join(
        (
            struct.pack("<4sI4s", b"RIFF", riff, b"WAVE"),
            struct.pack("<4sIHHIIHH", b"fmt ", 16, PCM, 1, sample_rate, sample_rate * 2, 2, 16),
            struct.pack("<4sI", b"data", data_bytes),
        )
    )


def wav_bytes(pcm: bytes, sample_rate: int = SAMPLE_RATE) -> bytes:
    """PCM16 mono audio as a WAV file in memory."""
    return wav_header(sample_rate, len(pcm)) + pcm


def write_wav(path: str | Path, pcm: bytes, sample_rate: int = SAMPLE_RATE) -> None:
    """Write PCM16 mono audio to a WAV file."""
    Path(path).write_bytes(wav_bytes(pcm, sample_rate))
