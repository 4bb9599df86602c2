"""Personal data detection (:mod:`parley.safety.pii`): precision, recall and latency.

The evaluation set (``data/pii_eval.json``, made up for this benchmark) holds utterances as
speech-to-text writes them: phone and card numbers, emails, names, addresses and SSNs, in
digits and in spoken words, and as many benign look-alikes (order numbers, times, prices,
quantities, room numbers, dates, words that look like names). Every utterance is checked
for the six entities below; a found span counts when it overlaps a labelled span of the
same entity. Latency is one ``find`` per turn with the cache off.

Then the utterances written without digits are synthesized with Piper (the bundled voice)
and transcribed with Whisper tiny.en, and what Whisper wrote is checked: that part is
synthesized speech, scored per utterance and entity (is the entity there or not).

    parley bench pii [--rounds 5] [--no-stt] [--out DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from parley.bench.common import DEFAULT_OUT, figure, machine, now_utc, summarize, write_results
from parley.safety.pii import PiiDetector, PiiSpan

DATA = Path(__file__).with_name("data") / "pii_eval.json"
BUDGET_P95_MS = 30.0


def load_cases(path: Path = DATA) -> tuple[list[str], list[dict[str, Any]]]:
    """The entities checked and the utterances with their labels."""
    data = json.loads(path.read_text())
    return list(data["entities"]), list(data["utterances"])


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _prf(tp: int, fp: int, fn: int) -> dict[str, Any]:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": round(precision, 3),
        "recall": round(recall, 3),
        "f1": round(f1, 3),
    }


def _table(counts: dict[str, Counter[str]], entities: list[str]) -> dict[str, Any]:
    rows = {e: _prf(counts[e]["tp"], counts[e]["fp"], counts[e]["fn"]) for e in entities}
    total = Counter[str]()
    for e in entities:
        total.update(counts[e])
    rows["overall"] = _prf(total["tp"], total["fp"], total["fn"])
    return rows


def score_spans(
    detector: PiiDetector, entities: list[str], cases: list[dict[str, Any]]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Span-level scores per entity, and the utterances with a miss or a false alarm."""
    counts = {e: Counter[str]() for e in entities}
    errors = []
    for case in cases:
        text = case["text"]
        labels = []
        for entity, value in case["pii"]:
            start = text.index(value)
            labels.append((entity, start, start + len(value)))
        found = detector.find(text, entities)
        matched: set[int] = set()
        missed = []
        for entity, start, end in labels:
            hit = [i for i, s in enumerate(found) if _overlaps(s, entity, start, end)]
            counts[entity]["tp" if hit else "fn"] += 1
            matched.update(hit)
            if not hit:
                missed.append(f"{entity}: {text[start:end]}")
        extra = [
            f"{s.entity}: {text[s.start : s.end]}" for i, s in enumerate(found) if i not in matched
        ]
        for i, span in enumerate(found):
            if i not in matched:
                counts[span.entity]["fp"] += 1
        if missed or extra:
            errors.append({"text": text, "missed": missed, "false_alarms": extra})
    return _table(counts, entities), errors


def _overlaps(span: PiiSpan, entity: str, start: int, end: int) -> bool:
    return span.entity == entity and span.start < end and start < span.end


def score_turns(
    detector: PiiDetector, entities: list[str], heard: list[dict[str, Any]]
) -> dict[str, Any]:
    """Per utterance and entity: is the entity in what was heard, as labelled?"""
    counts = {e: Counter[str]() for e in entities}
    for item in heard:
        expected = {e for e, _ in item["pii"]}
        found = {s.entity for s in detector.find(item["heard"], entities)}
        item["found"] = sorted(found)
        for e in entities:
            if e in expected:
                counts[e]["tp" if e in found else "fn"] += 1
            elif e in found:
                counts[e]["fp"] += 1
    return _table(counts, entities)


def latency(
    detector: PiiDetector, entities: list[str], texts: list[str], rounds: int
) -> list[float]:
    """Milliseconds of one ``find`` per turn (the detector's cache must be off)."""
    times = []
    for _ in range(rounds):
        for text in texts:
            t0 = time.perf_counter()
            detector.find(text, entities)
            times.append((time.perf_counter() - t0) * 1000)
    return times


async def _speak_and_hear(texts: list[str]) -> list[str]:
    from parley.audio.pcm import SAMPLE_RATE
    from parley.audio.resample import resample_pcm16
    from parley.providers.stt.whisper_local import WhisperSTT
    from parley.providers.tts.piper_local import PiperTTS

    tts, stt = PiperTTS(), WhisperSTT()
    voice = tts.voices()[0]
    heard = []
    try:
        for text in texts:
            pcm = b"".join([c async for c in tts.synthesize(text, voice_id=voice.id)])
            pcm = resample_pcm16(pcm, voice.sample_rate, SAMPLE_RATE)
            heard.append((await stt.transcribe(pcm)).text)
    finally:
        tts.close()
        stt.close()
    return heard


def synthesized_speech(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The utterances without digits, spoken by Piper and written down by Whisper."""
    spoken = [c for c in cases if not any(ch.isdigit() for ch in c["text"])]
    heard = asyncio.run(_speak_and_hear([c["text"] for c in spoken]))
    pairs = zip(spoken, heard, strict=True)
    return [{"text": c["text"], "heard": h, "pii": c["pii"]} for c, h in pairs]


def plot(report: dict[str, Any]) -> Any:
    """Precision/recall/F1 per entity (typed text and Whisper's transcripts), latency."""
    fig, axes = figure(1, 2, (13, 4.5))
    ax = axes[0][0]
    names = list(report["text"]["scores"])
    xs = range(len(names))
    for k, key in enumerate(("precision", "recall", "f1")):
        values = [report["text"]["scores"][n][key] for n in names]
        ax.bar([x + (k - 1) * 0.22 for x in xs], values, 0.22, label=f"{key} (text)")
    stt = report.get("stt")
    if stt:
        ys = [stt["scores"][n]["f1"] for n in names]
        ax.plot(list(xs), ys, "k^", label="F1 (Whisper on synthesized speech)")
    ax.set_xticks(list(xs), names, rotation=30, ha="right")
    ax.set(ylim=(0, 1.05), title="PII detection per entity")
    ax.legend(fontsize=8, loc="lower left")
    ax = axes[0][1]
    lat = report["latency"]
    ax.hist(lat["samples_ms"], bins=40)
    ax.axvline(lat["ms"]["p95"], color="tab:red", ls="--", label=f"p95 {lat['ms']['p95']} ms")
    ax.axvline(BUDGET_P95_MS, color="black", ls=":", label=f"budget {BUDGET_P95_MS:.0f} ms")
    ax.set(xlabel="ms per turn", ylabel="turns", title="detection latency per turn")
    ax.legend()
    return fig


def _print_scores(title: str, scores: dict[str, Any]) -> None:
    print(f"\n{title}\n{'entity':<16}{'P':>7}{'R':>7}{'F1':>7}{'tp':>5}{'fp':>5}{'fn':>5}")
    for name, s in scores.items():
        print(
            f"{name:<16}{s['precision']:>7.3f}{s['recall']:>7.3f}{s['f1']:>7.3f}"
            f"{s['tp']:>5}{s['fp']:>5}{s['fn']:>5}"
        )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; the exit status is 0."""
    parser = argparse.ArgumentParser(
        prog="parley bench pii",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="result folder")
    parser.add_argument("--rounds", type=int, default=5, help="latency passes over the set")
    parser.add_argument("--no-stt", action="store_true", help="skip the Piper + Whisper part")
    args = parser.parse_args(argv)

    entities, cases = load_cases()
    report: dict[str, Any] = {"benchmark": "pii", "when": now_utc(), "machine": machine()}
    rss_before = _rss_kib()
    t0 = time.perf_counter()
    detector = PiiDetector(cache_size=0)
    detector.load()
    report["load"] = {
        "seconds": round(time.perf_counter() - t0, 2),
        "rss_added_mib": round((_rss_kib() - rss_before) / 1024, 1),
    }
    benign = sum(1 for c in cases if not c["pii"])
    report["settings"] = {
        "entities": entities,
        "utterances": len(cases),
        "with_pii": len(cases) - benign,
        "benign": benign,
        "rounds": args.rounds,
    }
    scores, errors = score_spans(detector, entities, cases)
    report["text"] = {"scores": scores, "errors": errors}
    samples = latency(detector, entities, [c["text"] for c in cases], args.rounds)
    report["latency"] = {
        "ms": summarize(samples),
        "budget_p95_ms": BUDGET_P95_MS,
        "samples_ms": [round(s, 2) for s in samples],
    }
    if not args.no_stt:
        heard = synthesized_speech(cases)
        report["stt"] = {
            "note": "synthesized speech: Piper en_US joe -> Whisper tiny.en",
            "scores": score_turns(detector, entities, heard),
            "utterances": heard,
        }
    json_path, png_path = write_results(args.out, "pii", report, plot)

    print(f"{len(cases)} utterances ({benign} benign look-alikes), entities: {', '.join(entities)}")
    _print_scores("typed text (as STT writes it), span level", scores)
    for e in errors:
        print(f"  {e['text']!r}: missed {e['missed']} false alarms {e['false_alarms']}")
    if "stt" in report:
        stt = report["stt"]
        n = len(stt["utterances"])
        _print_scores(f"Whisper tiny.en on {n} synthesized utterances, per turn", stt["scores"])
        for item in stt["utterances"]:
            want = sorted({e for e, _ in item["pii"]})
            if want != item["found"]:
                print(f"  {item['heard']!r}: want {want} found {item['found']}")
    ms = report["latency"]["ms"]
    print(f"\nlatency per turn: p50 {ms['p50']} ms, p95 {ms['p95']} ms, max {ms['max']} ms")
    load = report["load"]
    print(f"load: {load['seconds']} s, RSS +{load['rss_added_mib']} MiB")
    print(f"written to {json_path} and {png_path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
