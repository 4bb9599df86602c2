"""Uploaded audio files → engine audio (PCM16 mono 16 kHz), with a bound on their length.

WAV is read natively (:mod:`parley.audio.wav`). FLAC, MP3, Ogg, WebM/Matroska and
MP4/M4A are decoded with PyAV (ffmpeg), which faster-whisper depends on. The container
is recognised from the file's first bytes, never from its name, and only these
demuxers are ever opened.
"""

from __future__ import annotations

import io
from typing import Any

from parley.audio.pcm import BYTES_PER_SAMPLE, SAMPLE_RATE, float32_to_pcm16
from parley.audio.wav import WAV_FORMATS, is_wav, parse_wav, wav_pcm
from parley.errors import AudioError

ACCEPTED = f"WAV ({WAV_FORMATS}), FLAC, MP3, Ogg (Opus, Vorbis, FLAC), WebM, MP4/M4A (AAC)"
"""The formats :func:`decode_audio` takes, for error messages and docs."""


class AudioTooLongError(AudioError):
    """The audio is longer than the caller allows."""


def sniff(data: bytes) -> str | None:
    """The container of ``data`` (``"wav"`` or an ffmpeg demuxer name), from its first
    bytes; None when it is none of the accepted formats."""
    if is_wav(data):
        return "wav"
    head = data[:12]
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"  # also WebM
    if head[4:8] == b"ftyp":
        return "mp4"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE6 == 0xE2):
        return "mp3"  # an ID3 tag, or an MPEG-1/2 layer III frame header
    return None


def decode_audio(data: bytes, max_seconds: float, target_rate: int = SAMPLE_RATE) -> bytes:
    """The audio of a file in one of the ``ACCEPTED`` formats as PCM16 mono at
    ``target_rate``. Raises :class:`AudioError` for anything else, and
    :class:`AudioTooLongError` past ``max_seconds`` (checked before converting WAV, and
    while decoding other formats)."""
    container = sniff(data)
    if container is None:
        raise AudioError(f"unsupported or unrecognised audio format; accepted: {ACCEPTED}")
    if container == "wav":
        fmt, raw = parse_wav(data)
        seconds = len(raw) / fmt.frame_bytes / fmt.rate
        if seconds > max_seconds:
            raise AudioTooLongError(
                f"audio is {seconds:.1f} s long; the limit is {max_seconds:g} s"
            )
        return wav_pcm(fmt, raw, target_rate)
    return _decode_compressed(data, container, max_seconds, target_rate)


def _decode_compressed(data: bytes, container: str, max_seconds: float, target_rate: int) -> bytes:
    try:
        import av
    except ImportError:  # pragma: no cover - av comes with faster-whisper
        raise AudioError(f"{container} needs PyAV (pip install av); send WAV") from None
    limit = int(max_seconds * target_rate) * BYTES_PER_SAMPLE
    out = bytearray()
    try:
        with av.open(io.BytesIO(data), "r", format=container, metadata_errors="replace") as demuxer:
            if not demuxer.streams.audio:
                raise AudioError(f"the {container} file has no audio stream")
            resampler = av.AudioResampler(format="fltp", rate=target_rate)
            setup = None
            for frame in demuxer.decode(demuxer.streams.audio[0]):
                # planar float in the frame's own layout; channels are averaged as in WAV
                if setup not in (None, (frame.format.name, frame.layout.name, frame.rate)):
                    out += _mono(resampler.resample(None))  # the stream changed mid-way
                    resampler = av.AudioResampler(format="fltp", rate=target_rate)
                setup = (frame.format.name, frame.layout.name, frame.rate)
                out += _mono(resampler.resample(frame))
                _check_length(len(out), limit, max_seconds)
            out += _mono(resampler.resample(None))
    except av.error.FFmpegError as exc:
        raise AudioError(f"cannot decode the {container} file: {exc}") from None
    _check_length(len(out), limit, max_seconds)
    return bytes(out)


def _mono(frames: list[Any]) -> bytes:
    """Planar float frames as PCM16 mono, their channels averaged."""
    return b"".join(float32_to_pcm16(f.to_ndarray().mean(axis=0)) for f in frames)


def _check_length(size: int, limit: int, max_seconds: float) -> None:
    if size > limit:
        raise AudioTooLongError(f"audio is longer than the limit of {max_seconds:g} s")
