"""The end-of-turn clip set: real sentences with a pause inserted at a word gap, and real
finished sentences; deterministic and cached."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from parley.audio.levels import speech_bounds_ms
from parley.audio.pcm import SAMPLE_RATE
from parley.audio.wav import read_wav
from parley.testing.paused_speech import (
    EDGE_MS,
    FADE_MS,
    PAUSES_MS,
    REFINE_MS,
    UNFINISHED,
    SpeechClip,
    clip_set,
    insert_pause,
    paused_speech,
    whisper_words,
)
from parley.testing.recordings import Recording, recordings


def _samples(path: Path) -> np.ndarray:
    return np.frombuffer(read_wav(path), dtype="<i2")


@pytest.fixture(scope="module")
def sources() -> dict[str, Recording]:
    return {r.name: r for r in recordings()}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> list[SpeechClip]:
    return paused_speech(tmp_path_factory.mktemp("paused-speech"))


def test_both_classes_of_real_speech(built: list[SpeechClip]) -> None:
    paused = [c for c in built if c.kind == "paused"]
    complete = [c for c in built if c.kind == "complete"]
    assert len(paused) >= 12 and len(complete) >= 12
    assert built == paused + complete  # paused first
    assert len({c.name for c in built}) == len(built)
    assert {c.pause_ms for c in paused} == set(PAUSES_MS)
    assert all(c.pause_ms is None and c.pause_at_ms is None for c in complete)
    assert all(c.path.exists() and c.text for c in built)


def test_a_pause_is_silence_of_its_length_at_a_word_gap(
    built: list[SpeechClip], sources: dict[str, Recording]
) -> None:
    paused = [c for c in built if c.kind == "paused"]
    words = dict(
        zip(
            sources,
            whisper_words([read_wav(r.path) for r in sources.values()]),
            strict=True,
        )
    )
    per_ms = SAMPLE_RATE // 1000
    for clip in paused:
        assert clip.pause_at_ms is not None and clip.pause_ms is not None
        source = _samples(sources[clip.source].path)
        got = _samples(clip.path)
        at, n = round(clip.pause_at_ms) * per_ms, clip.pause_ms * per_ms
        assert len(got) == len(source) + n
        assert not got[at : at + n].any()  # digital silence, exactly pause_ms long
        fade = FADE_MS * per_ms
        assert np.array_equal(got[: at - fade], source[: at - fade])  # the same speech
        assert np.array_equal(got[at + n + fade :], source[at + fade :])
        # between two words Whisper heard, near the middle of their boundary
        w = words[clip.source]
        gaps = [
            (a, b)
            for a, b in itertools.pairwise(w)
            if abs(clip.pause_at_ms - (a.end_ms + b.start_ms) / 2) <= REFINE_MS
        ]
        assert any(a.text == clip.cut_after for a, _ in gaps), clip
        # away from the sentence's start and end; the speech goes on afterwards
        bounds = speech_bounds_ms(read_wav(sources[clip.source].path))
        assert bounds is not None
        assert bounds[0] + EDGE_MS <= clip.pause_at_ms <= bounds[1] - EDGE_MS
        assert clip.resume_ms == clip.pause_at_ms + clip.pause_ms < clip.speech_end_ms
        assert clip.speech_end_ms == bounds[1] + clip.pause_ms
    unfinished = [c for c in paused if (c.cut_after or "").lower().strip(",.") in UNFINISHED]
    assert len(unfinished) >= len(paused) * 2 // 3


def test_complete_clips_are_finished_sentences_as_recorded(
    built: list[SpeechClip], sources: dict[str, Recording]
) -> None:
    complete = [c for c in built if c.kind == "complete"]
    assert {c.name for c in complete} >= set(sources)  # every recording, whole
    for clip in complete:
        source = read_wav(sources[clip.source].path)
        got = read_wav(clip.path)
        if clip.name == clip.source:
            assert got == source and clip.text == sources[clip.source].text
        else:  # a sentence-final stretch: the recording's ending, its last words
            assert source.endswith(got) and len(got) < len(source)
            assert sources[clip.source].text.endswith(clip.text)
        bounds = speech_bounds_ms(got)
        assert bounds is not None and clip.speech_end_ms == bounds[1]


def test_the_set_is_deterministic_and_cached(built: list[SpeechClip], tmp_path: Path) -> None:
    again = paused_speech(tmp_path)
    assert [(c.name, c.pause_at_ms, c.pause_ms, c.speech_end_ms) for c in again] == [
        (c.name, c.pause_at_ms, c.pause_ms, c.speech_end_ms) for c in built
    ]
    assert all(
        a.path.read_bytes() == b.path.read_bytes() for a, b in zip(again, built, strict=True)
    )
    manifest = tmp_path / "manifest.json"
    stamp = manifest.stat().st_mtime_ns
    assert paused_speech(tmp_path) == again  # from the cache
    assert manifest.stat().st_mtime_ns == stamp
    assert json.loads(manifest.read_text())["clips"][0]["path"] == again[0].path.name


def test_insert_pause_keeps_the_audio_around_it(sources: dict[str, Recording]) -> None:
    pcm = read_wav(sources["librivox-0880"].path)
    out = insert_pause(pcm, 1000.0, 700)
    assert len(out) == len(pcm) + 700 * SAMPLE_RATE // 1000 * 2
    assert out[: 990 * 32] == pcm[: 990 * 32] and out[-(len(pcm) - 1010 * 32) :] == pcm[1010 * 32 :]


def test_a_small_set_covers_every_pause_length() -> None:
    small = clip_set(limit=4)
    paused = [c for c in small if c.kind == "paused"]
    assert sorted(c.pause_ms or 0 for c in paused) == sorted(PAUSES_MS)
    assert len({c.source for c in paused}) > 1
    assert len([c for c in small if c.kind == "complete"]) == 4
    complete = clip_set("complete")
    assert complete and all(c.kind == "complete" for c in complete)
