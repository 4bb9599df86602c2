"""Speech-to-text across languages: Whisper base multilingual against Whisper tiny.en.

1. Per language, on the clips of :mod:`parley.testing.multilingual_speech` (real speech
   for es, fr, it, ru; SYNTHETIC eSpeak NG speech for de, am, om, labelled so in the
   results): word error rate when the language is detected (``language="auto"``) and when
   it is given, and language-ID accuracy of the multilingual model.
2. On the same real English recordings (:mod:`parley.testing.recordings`): STT time p50/p95
   and WER of tiny.en, base with ``language="en"`` and base with ``language="auto"``,
   measured in one run, clip by clip in turn, so machine load hits them alike.
3. and 4. Through one real server (:mod:`parley.bench.languages_calls`, skipped with
   ``--no-calls``): voice-to-voice of an ``en`` agent (tiny.en) against an ``auto`` agent
   (base) on the same English recordings, and whether agents answer es, fr and de callers
   (de SYNTHETIC) in their language, judged by the language Whisper base hears in the
   reply audio.

    parley bench languages [--languages es fr de ...] [--per-language 8] [--english 12]
                           [--rounds 2] [--models-dir DIR] [--out DIR] [--no-calls]
                           [--calls-english 10] [--calls-rounds 1] [--calls-max-tokens N]
                           [--calls-languages es fr de] [--calls-per-language 3]
                           [--url URL --api-key KEY]

WER is jiwer's after Whisper's normalisers: the English one for English, the basic one
(diacritics removed, as some reference texts lack accents) for the others. Sections 1 and
2 call the models directly, in their worker threads, as a session does; the server of
sections 3 and 4 keeps its models in its own models folder (``PARLEY_MODELS_DIR`` or the
shared cache, not ``--models-dir``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from parley.bench.common import (
    DEFAULT_OUT,
    config_bars,
    figure,
    fmt,
    machine,
    now_utc,
    summary_or_none,
    write_results,
)
from parley.bench.languages_calls import add_arguments, plot_calls, print_calls, run_calls, wer
from parley.config import Settings
from parley.providers.stt.whisper_local import WhisperSTT
from parley.providers.stt.whisper_multilingual import multilingual_model_dir
from parley.testing.multilingual_speech import DEBIAN_VOICES, SYNTHETIC_SENTENCES, SpeechClip
from parley.testing.multilingual_speech import clips as speech_clips
from parley.testing.recordings import recordings

LANGUAGES = [*DEBIAN_VOICES, *SYNTHETIC_SENTENCES]
ENGLISH_CONFIGS = ("tiny.en", "base en", "base auto")
MAX_ENGLISH_BYTES = 25 * 32_000  # the short-window path: utterances under 25 s


async def _timed(stt: WhisperSTT, pcm: bytes, language: str) -> tuple[Any, float]:
    started = time.perf_counter()
    heard = await stt.transcribe(pcm, language=language)
    return heard, round((time.perf_counter() - started) * 1e3, 1)


async def measure_languages(stt: WhisperSTT, clips: list[SpeechClip]) -> list[dict[str, Any]]:
    """Each clip transcribed with its language detected, then with it given."""
    rows = []
    for clip in clips:
        auto, auto_ms = await _timed(stt, clip.pcm, "auto")
        given, given_ms = await _timed(stt, clip.pcm, clip.language)
        rows.append(
            {
                "clip": clip.name,
                "language": clip.language,
                "synthetic": clip.synthetic,
                "source": clip.source,
                "seconds": round(len(clip.pcm) / 32_000, 2),
                "reference": clip.text,
                "detected": auto.language,
                "probability": None
                if auto.language_probability is None
                else round(auto.language_probability, 3),
                "auto_text": auto.text,
                "auto_ms": auto_ms,
                "given_text": given.text,
                "given_ms": given_ms,
            }
        )
    return rows


def language_summary(rows: list[dict[str, Any]], supported: frozenset[str]) -> dict[str, Any]:
    """Per language: clips, synthetic or real, WER (auto and given), language-ID accuracy."""
    summary: dict[str, Any] = {}
    for language in dict.fromkeys(r["language"] for r in rows):
        mine = [r for r in rows if r["language"] == language]
        refs = [r["reference"] for r in mine]
        summary[language] = {
            "clips": len(mine),
            "synthetic": all(r["synthetic"] for r in mine),
            "whisper_knows_language": language in supported,
            "wer_auto": wer(refs, [r["auto_text"] for r in mine]),
            "wer_given": wer(refs, [r["given_text"] for r in mine]),
            "language_id_accuracy": round(
                sum(r["detected"] == language for r in mine) / len(mine), 3
            ),
            "detected": sorted({r["detected"] for r in mine}),
        }
    return summary


async def measure_english(
    models: dict[str, WhisperSTT], count: int, rounds: int
) -> list[dict[str, Any]]:
    """Every English clip through every config, in turn, ``rounds`` times."""
    english = [r for r in recordings() if r.path.stat().st_size - 44 <= MAX_ENGLISH_BYTES][:count]
    from parley.audio.wav import read_wav

    rows = []
    for round_ in range(rounds):
        for recording in english:
            pcm = read_wav(recording.path)
            for config in ENGLISH_CONFIGS:
                stt = models["tiny.en" if config == "tiny.en" else "base"]
                heard, ms = await _timed(stt, pcm, "auto" if config == "base auto" else "en")
                rows.append(
                    {
                        "round": round_,
                        "clip": recording.name,
                        "config": config,
                        "seconds": round(len(pcm) / 32_000, 2),
                        "reference": recording.text,
                        "text": heard.text,
                        "detected": heard.language,
                        "ms": ms,
                    }
                )
    return rows


def english_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per config: STT time p50/p95 (ms) and WER on the first round."""
    summary: dict[str, Any] = {}
    for config in ENGLISH_CONFIGS:
        mine = [r for r in rows if r["config"] == config]
        first = [r for r in mine if r["round"] == 0]
        summary[config] = {
            "stt_ms": summary_or_none([r["ms"] for r in mine]),
            "wer": wer([r["reference"] for r in first], [r["text"] for r in first], True),
            "detected_en": round(sum(r["detected"] == "en" for r in first) / len(first), 3)
            if first
            else None,
        }
    return summary


def plot(report: dict[str, Any]) -> Any:
    """WER and language-ID accuracy per language; English STT time per config."""
    calls = report.get("calls")
    fig, axes = figure(2 if calls else 1, 2, (13, 9 if calls else 4.5))
    languages = report["languages"]["summary"]
    names = [f"{c}{'*' if s['synthetic'] else ''}" for c, s in languages.items()]
    xs = range(len(names))
    ax = axes[0][0]
    for offset, key, label in (
        (-0.27, "wer_auto", "WER, detected"),
        (0.0, "wer_given", "WER, given"),
        (0.27, "language_id_accuracy", "language ID"),
    ):
        ax.bar(
            [x + offset for x in xs], [s[key] or 0 for s in languages.values()], 0.27, label=label
        )
    ax.set_xticks(list(xs), names)
    top = max([1.0, *(s[k] or 0 for s in languages.values() for k in ("wer_auto", "wer_given"))])
    ax.set(title="Whisper base per language (* synthetic speech)", ylim=(0, top * 1.25))
    ax.legend()
    config_bars(axes[0][1], report["english"]["summary"], "stt_ms", "English STT time")
    if calls:
        plot_calls(axes[1][0], axes[1][1], calls)
    return fig


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Load both models, measure them, then (unless ``--no-calls``) call a server."""
    began, before = now_utc(), machine()
    settings = Settings()
    models_dir = args.models_dir or settings.resolved_models_dir()
    threads = settings.models.stt_threads
    started = time.perf_counter()
    base = WhisperSTT(multilingual_model_dir(models_dir), threads=threads)
    base_load_s = round(time.perf_counter() - started, 2)
    tiny = WhisperSTT(threads=threads)
    clips = speech_clips(args.languages, args.per_language)
    calls = None
    try:
        language_rows = await measure_languages(base, clips)
        english_rows = await measure_english(
            {"tiny.en": tiny, "base": base}, args.english, args.rounds
        )
        if not args.no_calls:
            calls = await run_calls(args, base)
    finally:
        base.close()
        tiny.close()
    report = {
        "benchmark": "languages",
        "started": began,
        "machine": before,
        "stt_threads": threads,
        "base_load_s": base_load_s,
        "languages": {
            "summary": language_summary(language_rows, base.languages),
            "clips": language_rows,
        },
        "english": {
            "clips": len({r["clip"] for r in english_rows}),
            "rounds": args.rounds,
            "summary": english_summary(english_rows),
            "results": english_rows,
        },
    }
    if calls is not None:
        report["calls"] = calls
    return report


def print_report(report: dict[str, Any]) -> None:
    """Two short tables."""
    head = ("language", "clips", "speech", "WER auto", "WER given", "lang ID")
    print("{:<9} {:>5} {:>9} {:>9} {:>9} {:>8}".format(*head))
    for code, s in report["languages"]["summary"].items():
        kind = "synthetic" if s["synthetic"] else "real"
        print(
            f"{code:<9} {s['clips']:>5} {kind:>9} {fmt(s['wer_auto'], 3):>9} "
            f"{fmt(s['wer_given'], 3):>9} {fmt(s['language_id_accuracy'], 2):>8}"
        )
    print(f"\n{'English':<10} {'STT p50':>8} {'STT p95':>8} {'WER':>6}")
    for config, s in report["english"]["summary"].items():
        ms = s["stt_ms"] or {}
        print(f"{config:<10} {fmt(ms.get('p50')):>8} {fmt(ms.get('p95')):>8} {fmt(s['wer'], 3):>6}")
    if "calls" in report:
        print_calls(report["calls"])


def main(argv: list[str] | None = None) -> int:
    """``parley bench languages``."""
    parser = argparse.ArgumentParser(
        prog="parley bench languages",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--languages", nargs="+", default=LANGUAGES, choices=LANGUAGES)
    parser.add_argument("--per-language", type=int, default=8)
    parser.add_argument("--english", type=int, default=12, help="English clips for timing")
    parser.add_argument("--rounds", type=int, default=2, help="passes over the English clips")
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    add_arguments(parser)
    args = parser.parse_args(argv)
    report = asyncio.run(run(args))
    print_report(report)
    json_path, png_path = write_results(args.out, "languages", report, plot)
    print(f"written to {json_path} and {png_path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
