"""Speech-to-text accuracy of the live pipeline on real recordings.

Every recording of :mod:`parley.testing.recordings` (or ``--clips``) is streamed in real
time into conversations with the demo agent, several clips per conversation, with
silence in between as a live microphone sends. The user transcripts the server sends
back are scored against the reference texts: word error rate after Whisper's English
normalisation (numbers become digits, so "ten of clubs" matches "10 of clubs"), over all
clips and over the ``cards-*`` clips, which are numbers. The agent's answers are not
needed: once a clip's transcript is in, the benchmark sends ``interrupt`` so the agent
stops, and the next clip follows.

    parley bench accuracy [--clips NAME ...] [--per-conversation 5] [--out DIR]
                          [--url URL --api-key KEY]
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import Callable
from typing import Any

from parley.audio.wav import read_wav
from parley.bench.common import (
    Meter,
    base_parser,
    figure,
    fmt,
    machine,
    now_utc,
    print_load,
    target,
    write_results,
)
from parley.client import Conversation, Microphone, conversation_url
from parley.testing.recordings import Recording, recording, recordings
from parley.testing.wer import normalized_wer


class _Events:
    """The server events of a conversation so far, with a wake-up on each new one."""

    def __init__(self, conv: Conversation) -> None:
        self.conv = conv
        self.items: list[dict[str, Any]] = []
        self.changed = asyncio.Event()

    async def run(self) -> None:
        async for event in self.conv.events():
            self.items.append(event)
            self.changed.set()

    async def until(self, predicate: Any, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate():
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                return bool(predicate())
        return True


async def _hush(conv: Conversation, events: _Events) -> None:
    """Stop the agent (``interrupt``) and wait for the acknowledgement."""
    mark = len(events.items)
    await conv.send({"type": "control", "action": "interrupt"})
    await events.until(
        lambda: any(e["type"] == "control_ack" for e in events.items[mark:]), timeout=10.0
    )


async def transcribe(url: str, key: str, clips: list[Recording]) -> list[dict[str, Any]]:
    """Stream ``clips`` into one conversation; what the server heard of each."""
    heard = []
    async with Conversation(conversation_url(url, key, "agt_demo")) as conv:
        first = await conv.recv(timeout=30)
        if first.get("type") != "connected":
            raise ConnectionError(f"{first.get('code')}: {first.get('message')}")
        events = _Events(conv)
        listening = asyncio.create_task(events.run())
        try:
            async with Microphone(conv.send_audio) as mic:
                # the greeting: let it start, then stop it
                await events.until(lambda: any(e["type"] == "audio" for e in events.items), 3.0)
                await _hush(conv, events)
                for clip in clips:
                    pcm = read_wav(clip.path)
                    mark = len(events.items)
                    await mic.say(pcm)  # returns once the clip has been sent

                    def settled(mark: int = mark) -> bool:
                        new = events.items[mark:]
                        users = [
                            i
                            for i, e in enumerate(new)
                            if e["type"] == "transcript" and e.get("role") == "user"
                        ]
                        starts = [i for i, e in enumerate(new) if e["type"] == "speech_started"]
                        return bool(users) and (not starts or starts[-1] < users[-1])

                    answered = await events.until(settled, timeout=15.0)
                    texts = [
                        e["text"]
                        for e in events.items[mark:]
                        if e["type"] == "transcript" and e.get("role") == "user"
                    ]
                    heard.append(
                        {
                            "clip": clip.name,
                            "reference": clip.text,
                            "heard": " ".join(texts),
                            "user_turns": len(texts),
                            "timed_out": not answered,
                        }
                    )
                    await _hush(conv, events)
            await conv.send({"type": "end"})
        finally:
            await conv.close()
            listening.cancel()
    return heard


def digit_split_wer(references: list[str], hypotheses: list[str]) -> float:
    """WER after Whisper's normalisation with every digit run split into single digits.

    The normaliser joins spoken digits into one number ("five five" becomes "55") but
    leaves written ones apart ("5 5"), so a correct transcript of cards-004 scores a WER
    of 2.0. Splitting digits on both sides scores numbers digit by digit instead.
    """
    import jiwer
    from whisper_normalizer.english import EnglishTextNormalizer

    normalize = EnglishTextNormalizer()

    def split(text: str) -> str:
        return re.sub(r"(?<=\d)(?=\d)", " ", normalize(text))

    return float(jiwer.wer([split(r) for r in references], [split(h) for h in hypotheses]))


def score(clips: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-clip and corpus WER, overall and for the clips with numbers: Whisper-normalised
    (:func:`parley.testing.wer.normalized_wer`, as the tests score) and digit by digit."""
    for c in clips:
        c["wer"] = round(normalized_wer([c["reference"]], [c["heard"]]), 3)
        c["wer_digit_split"] = round(digit_split_wer([c["reference"]], [c["heard"]]), 3)

    def corpus(
        subset: list[dict[str, Any]],
        wer: Callable[[list[str], list[str]], float] = normalized_wer,
    ) -> float | None:
        if not subset:
            return None
        return round(wer([c["reference"] for c in subset], [c["heard"] for c in subset]), 3)

    numbers = [c for c in clips if c["clip"].startswith("cards-")]
    words = [c for c in clips if not c["clip"].startswith("cards-")]
    return {
        "wer": corpus(clips),
        "wer_numbers": corpus(numbers),
        "wer_other": corpus(words),
        "wer_digit_split": corpus(clips, digit_split_wer),
        "wer_numbers_digit_split": corpus(numbers, digit_split_wer),
        "clips": len(clips),
        "clips_numbers": len(numbers),
        "timed_out": sum(c["timed_out"] for c in clips),
    }


def plot(report: dict[str, Any]) -> Any:
    """WER per clip (normalised, and digits split; numbers clips hatched) and corpus WERs."""
    fig, axes = figure(1, 1, (10, 4.5))
    ax = axes[0][0]
    clips = report["clips"]
    xs = range(len(clips))
    hatch = ["//" if c["clip"].startswith("cards-") else "" for c in clips]
    ax.bar([x - 0.2 for x in xs], [c["wer"] for c in clips], 0.4, hatch=hatch, label="normalised")
    ax.bar(
        [x + 0.2 for x in xs],
        [c["wer_digit_split"] for c in clips],
        0.4,
        hatch=hatch,
        label="digits split",
    )
    ax.set_xticks(list(xs), [c["clip"] for c in clips], rotation=45, ha="right")
    s = report["summary"]
    ax.axhline(s["wer"], color="black", lw=1, ls="--", label=f"all clips {s['wer']:.3f}")
    if s["wer_numbers"] is not None:
        label = f"numbers {s['wer_numbers']:.3f} ({s['wer_numbers_digit_split']:.3f} split)"
        ax.axhline(s["wer_numbers"], color="tab:red", lw=1, ls=":", label=label)
    ax.set(ylabel="WER", title="user transcript WER per clip (hatched: numbers)", ylim=(0, None))
    ax.legend()
    return fig


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; the exit status is 0."""
    parser = base_parser(__doc__, "parley bench accuracy")
    parser.add_argument("--clips", nargs="+", default=None, metavar="NAME", help="default: all")
    parser.add_argument(
        "--per-conversation", "--runs", dest="per_conversation", type=int, default=5, metavar="N"
    )
    args = parser.parse_args(argv)
    clips = [recording(n) for n in args.clips] if args.clips else recordings()

    report: dict[str, Any] = {"benchmark": "accuracy", "when": now_utc(), "machine": machine()}
    report["settings"] = {
        "clips": [c.name for c in clips],
        "per_conversation": args.per_conversation,
    }
    heard: list[dict[str, Any]] = []
    with target(args) as tgt:
        meter = Meter(tgt.pid)
        meter.start()
        step = max(1, args.per_conversation)
        for i in range(0, len(clips), step):
            heard += asyncio.run(transcribe(tgt.url, tgt.key, clips[i : i + step]))
        report["load"] = meter.stop()
    report["summary"] = score(heard)
    report["clips"] = heard
    json_path, png_path = write_results(args.out, "accuracy", report, plot)

    print(f"{'clip':<15}{'WER':>6}{'digits':>7}  reference | heard")
    for c in heard:
        flag = " (timed out)" if c["timed_out"] else ""
        print(
            f"{c['clip']:<15}{c['wer']:>6.3f}{c['wer_digit_split']:>7.3f}  "
            f"{c['reference']} | {c['heard']}{flag}"
        )
    s = report["summary"]
    print(f"\n{'WER':<30}{'normalised':>11}{'digits split':>13}")
    for label, key in (
        (f"all {s['clips']} clips", "wer"),
        (f"numbers ({s['clips_numbers']} cards clips)", "wer_numbers"),
    ):
        print(f"{label:<30}{fmt(s[key], 3):>11}{fmt(s[key + '_digit_split'], 3):>13}")
    print(f"{'other clips':<30}{fmt(s['wer_other'], 3):>11}")
    print(f"timed out: {s['timed_out']}")
    print_load(report["load"])
    print(f"written to {json_path} and {png_path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
