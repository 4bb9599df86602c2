"""Signal levels: where speech starts and ends in a recording (for clients and benchmarks),
silent audio, and where long audio can be cut at a pause.

Speech is where a 32 ms frame's level stands ``margin_db`` above the recording's noise
floor for two frames in a row. The floor is the 5th-percentile frame level (the 20th can
lie inside long, mostly voiced clips). This is independent of the VAD, so it can be used
to measure the VAD-driven pipeline.
"""

from __future__ import annotations

import numpy as np

from parley.audio.pcm import FRAME_MS, VAD_FRAME_BYTES, VAD_FRAME_SAMPLES


def frame_levels_db(pcm: bytes) -> np.ndarray:
    """RMS level (dBFS) of each whole 32 ms frame."""
    usable = len(pcm) - len(pcm) % VAD_FRAME_BYTES
    frames = np.frombuffer(pcm[:usable], dtype="<i2").astype(np.float64)
    frames = frames.reshape(-1, VAD_FRAME_SAMPLES) / 32768.0
    return np.asarray(20.0 * np.log10(np.sqrt((frames**2).mean(axis=1)) + 1e-9))


def speech_bounds_ms(pcm: bytes, margin_db: float = 15.0) -> tuple[float, float] | None:
    """(onset, end) of speech in ``pcm`` in ms, or None when nothing stands out."""
    levels = frame_levels_db(pcm)
    if len(levels) < 2:
        return None
    loud = levels > np.percentile(levels, 5) + margin_db
    runs = np.nonzero(loud[:-1] & loud[1:])[0]
    if not len(runs):
        return None
    return float(runs[0]) * FRAME_MS, float(runs[-1] + 2) * FRAME_MS


def is_silent(pcm: bytes, peak_dbfs: float = -60.0) -> bool:
    """True when no sample of ``pcm`` reaches ``peak_dbfs`` (nothing could be said)."""
    samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2")
    if not len(samples):
        return True
    peak = int(np.abs(samples.astype(np.int32)).max())
    return bool(peak < 32768.0 * 10 ** (peak_dbfs / 20.0))


def split_at_pauses(pcm: bytes, max_ms: float, search_ms: float) -> list[bytes]:
    """Cut 16 kHz PCM16 audio into pieces of at most ``max_ms``. Each piece ends with the
    quietest 32 ms frame of its last ``search_ms``, so words are rarely split. Joined,
    the pieces are ``pcm``."""
    piece = max(1, int(max_ms // FRAME_MS))  # in frames
    search = min(piece, max(1, int(search_ms // FRAME_MS)))
    levels = frame_levels_db(pcm)
    pieces: list[bytes] = []
    start = 0
    while len(pcm) - start * VAD_FRAME_BYTES > piece * VAD_FRAME_BYTES:
        window = levels[start + piece - search : start + piece][::-1]
        end = start + piece - int(np.argmin(window))  # after the last quietest frame
        pieces.append(pcm[start * VAD_FRAME_BYTES : end * VAD_FRAME_BYTES])
        start = end
    pieces.append(pcm[start * VAD_FRAME_BYTES :])
    return pieces
