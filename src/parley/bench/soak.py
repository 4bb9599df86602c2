"""Soak: waves of simultaneous conversations for minutes; does the server give back
what each wave took?

Each wave is ``--sessions`` conversations at once with the demo agent (or ``--agent``),
real recorded speech streamed in real time, session i starting ``i / N * --stagger-s``
after the first; then a ``--pause-s`` pause with no session at all. Waves follow each
other until ``--minutes`` have passed (a wave that has started is finished) or
``--waves`` have run. One unmeasured single-utterance conversation warms the server up.

The server process is sampled every ``--sample-s``: resident memory (VmRSS), threads and
open file descriptors from ``/proc``, and asyncio tasks from the ``parley_asyncio_tasks``
gauge of ``/metrics`` when the server exports it (null otherwise). Reported per wave:
turns answered, RSS at the end of the wave and after the pause ("settled"), threads and
descriptors; then the growth of settled RSS from the first wave to the last. A server
that keeps memory after its sessions end shows it here as growth per wave.

    parley bench soak [--sessions 4] [--minutes 5] [--waves W] [--pause-s 10]
                      [--utterances NAME ...] [--agent ID] [--out DIR]
                      [--url URL --api-key KEY]

Against ``--url`` the process is found by its listening port; if it runs on another
machine, only the turns are reported.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any

from parley.audio.wav import read_wav
from parley.bench.common import base_parser, figure, fmt, machine, now_utc, target, write_results
from parley.client import call
from parley.testing.recordings import recording

DEFAULT_UTTERANCES = ["cards-001", "cards-003"]
TASKS_GAUGE = "parley_asyncio_tasks"
TASKS_NOTE = (
    f"asyncio tasks come from the server's {TASKS_GAUGE} gauge on /metrics; "
    "null where the server does not export it"
)


async def one_call(
    url: str, key: str, agent_id: str, clips: list[bytes], delay_s: float
) -> dict[str, Any]:
    """One conversation after ``delay_s``: turns said and answered, or why it failed."""
    await asyncio.sleep(delay_s)
    try:
        result = await call(url, key, agent_id, clips, reply_timeout=60.0)
    except Exception as exc:  # a refused or dropped session is a result too
        return {"error": f"{type(exc).__name__}: {exc}", "turns": len(clips), "answered": 0}
    answered = sum(t.reply is not None and t.reply.first_audio_at is not None for t in result.turns)
    return {"turns": len(clips), "answered": answered}


async def wave(
    url: str, key: str, agent_id: str, n: int, names: list[str], stagger_s: float
) -> list[dict[str, Any]]:
    """``n`` conversations at once, each with the utterances rotated by its index."""
    clips = {name: read_wav(recording(name).path) for name in names}
    calls = []
    for i in range(n):
        k = i % len(names)
        order = names[k:] + names[:k]
        calls.append(one_call(url, key, agent_id, [clips[c] for c in order], i / n * stagger_s))
    return list(await asyncio.gather(*calls))


def process_sample(pid: int) -> dict[str, int | None]:
    """VmRSS (KiB), threads and open file descriptors of a process (Linux ``/proc``)."""
    sample: dict[str, int | None] = {"rss_kib": None, "threads": None, "fds": None}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key == "VmRSS":
                sample["rss_kib"] = int(value.split()[0])
            elif key == "Threads":
                sample["threads"] = int(value)
    with contextlib.suppress(OSError):
        sample["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return sample


def gauge_value(exposition: str, name: str) -> float | None:
    """The value of an unlabelled gauge in a Prometheus text exposition."""
    for line in exposition.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


class Sampler:
    """Samples the server every ``every_s`` while the waves run."""

    def __init__(self, url: str, key: str, pid: int | None, every_s: float) -> None:
        self.url, self.key, self.pid, self.every_s = url, key, pid, every_s
        self.samples: list[dict[str, Any]] = []
        self.t0 = time.monotonic()
        self._tasks_exported = True

    def now(self) -> float:
        """Seconds since the sampler started."""
        return round(time.monotonic() - self.t0, 2)

    async def tasks(self) -> int | None:
        """The server's asyncio task count, if it exports the gauge."""
        if not self._tasks_exported:
            return None
        import httpx

        try:
            async with httpx.AsyncClient(timeout=5.0) as http:
                response = await http.get(
                    f"{self.url}/metrics", headers={"Authorization": f"Bearer {self.key}"}
                )
            value = gauge_value(response.text, TASKS_GAUGE) if response.is_success else None
        except httpx.HTTPError:
            value = None
        if value is None:
            self._tasks_exported = False  # don't ask again
            return None
        return int(value)

    async def sample(self) -> dict[str, Any]:
        """One sample now, kept."""
        proc = process_sample(self.pid) if self.pid is not None else {}
        row = {"t_s": self.now(), **proc, "tasks": await self.tasks()}
        self.samples.append(row)
        return row

    async def run(self) -> None:
        """Sample until cancelled."""
        while True:
            await self.sample()
            await asyncio.sleep(self.every_s)


async def soak(args: argparse.Namespace, url: str, key: str, pid: int | None) -> dict[str, Any]:
    """Warm up, then run the waves; per-wave rows and every sample."""
    if args.warmup:
        await wave(url, key, args.agent, 1, args.utterances[:1], 0.0)
    sampler = Sampler(url, key, pid, args.sample_s)
    sampling = asyncio.create_task(sampler.run())
    waves: list[dict[str, Any]] = []
    deadline = time.monotonic() + args.minutes * 60
    try:
        while (args.waves is None or len(waves) < args.waves) and (
            not waves or time.monotonic() < deadline
        ):
            started = sampler.now()
            calls = await wave(url, key, args.agent, args.sessions, args.utterances, args.stagger_s)
            ended = await sampler.sample()
            await asyncio.sleep(args.pause_s)
            settled = await sampler.sample()
            waves.append(
                {
                    "wave": len(waves) + 1,
                    "started_s": started,
                    "seconds": round(ended["t_s"] - started, 1),
                    "sessions": args.sessions,
                    "turns": sum(c["turns"] for c in calls),
                    "turns_answered": sum(c["answered"] for c in calls),
                    "failed_sessions": [c["error"] for c in calls if "error" in c],
                    "rss_end_kib": ended.get("rss_kib"),
                    "rss_settled_kib": settled.get("rss_kib"),
                    "threads_settled": settled.get("threads"),
                    "fds_settled": settled.get("fds"),
                    "tasks_settled": settled.get("tasks"),
                }
            )
            print(_wave_line(waves[-1]), flush=True)
    finally:
        sampling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampling
    return {"waves": waves, "samples": sampler.samples}


def summarize_waves(waves: list[dict[str, Any]], samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals, and the settled RSS growth from the first wave to the last."""
    first, last = waves[0], waves[-1]

    def growth(key: str) -> int | None:
        a, b = first[key], last[key]
        return None if a is None or b is None else b - a

    rss_growth = growth("rss_settled_kib")
    rss = [s["rss_kib"] for s in samples if s.get("rss_kib") is not None]
    return {
        "waves": len(waves),
        "turns": sum(w["turns"] for w in waves),
        "turns_answered": sum(w["turns_answered"] for w in waves),
        "failed_sessions": sum(len(w["failed_sessions"]) for w in waves),
        "rss_settled_first_kib": first["rss_settled_kib"],
        "rss_settled_last_kib": last["rss_settled_kib"],
        "rss_growth_kib": rss_growth,
        "rss_growth_per_wave_kib": (
            None if rss_growth is None or len(waves) < 2 else round(rss_growth / (len(waves) - 1))
        ),
        "rss_peak_kib": max(rss) if rss else None,
        "threads_growth": growth("threads_settled"),
        "fds_growth": growth("fds_settled"),
        "tasks_growth": growth("tasks_settled"),
    }


def _mib(kib: float | None, digits: int = 0) -> str:
    return fmt(None if kib is None else kib / 1024, digits)


def _wave_line(w: dict[str, Any]) -> str:
    failed = f", {len(w['failed_sessions'])} failed" if w["failed_sessions"] else ""
    return (
        f"wave {w['wave']:>3}: {w['turns_answered']}/{w['turns']} turns answered{failed} "
        f"in {w['seconds']:.0f} s | RSS end {_mib(w['rss_end_kib'])} MiB, settled "
        f"{_mib(w['rss_settled_kib'])} MiB | threads {fmt(w['threads_settled'])} | "
        f"fds {fmt(w['fds_settled'])} | tasks {fmt(w['tasks_settled'])}"
    )


def plot(report: dict[str, Any]) -> Any:
    """Left: RSS over time, waves shaded, settled RSS marked; threads and fds on a
    second axis. Right: turns answered per wave."""
    fig, axes = figure(1, 2, (13, 4.5))
    left, right = axes[0]
    samples, waves = report["samples"], report["waves"]
    for w in waves:
        left.axvspan(w["started_s"], w["started_s"] + w["seconds"], color="0.9", lw=0)
    t = [s["t_s"] for s in samples if s.get("rss_kib") is not None]
    left.plot(t, [s["rss_kib"] / 1024 for s in samples if s.get("rss_kib") is not None],
              "-", label="RSS")  # fmt: skip
    settled = [w for w in waves if w["rss_settled_kib"] is not None]
    left.plot(
        [w["started_s"] + w["seconds"] + report["settings"]["pause_s"] for w in settled],
        [w["rss_settled_kib"] / 1024 for w in settled],
        "o",
        color="tab:red",
        label="settled (after the pause)",
    )
    left.set(xlabel="seconds (shaded: a wave)", ylabel="MiB", title="server memory")
    left.legend(loc="lower right")
    counts = left.twinx()
    for key, style in (("threads", "g--"), ("fds", "m:")):
        points = [(s["t_s"], s[key]) for s in samples if s.get(key) is not None]
        if points:
            counts.plot(*zip(*points, strict=True), style, label=key)
    counts.set(ylabel="count", ylim=(0, None))
    counts.legend(loc="upper left")
    numbers = [w["wave"] for w in waves]
    right.bar(numbers, [w["turns"] for w in waves], color="0.85", label="turns")
    right.bar(numbers, [w["turns_answered"] for w in waves], color="tab:blue", label="answered")
    right.set(xlabel="wave", ylabel="turns", title="turns answered per wave")
    right.set_xticks(numbers)
    right.legend()
    return fig


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; the exit status is 0."""
    parser = base_parser(__doc__, "parley bench soak")
    parser.add_argument("--sessions", type=int, default=4, help="conversations per wave")
    parser.add_argument("--minutes", type=float, default=5.0, help="how long to keep going")
    parser.add_argument("--waves", type=int, default=None, help="stop after this many waves")
    parser.add_argument("--pause-s", type=float, default=10.0, help="quiet time after a wave")
    parser.add_argument("--sample-s", type=float, default=1.0, help="sampling period")
    parser.add_argument("--stagger-s", type=float, default=1.0)
    parser.add_argument("--utterances", nargs="+", default=DEFAULT_UTTERANCES, metavar="NAME")
    parser.add_argument("--agent", default="agt_demo", help="agent to call (default agt_demo)")
    parser.add_argument(
        "--warmup", action=argparse.BooleanOptionalAction, default=True, help="(default: on)"
    )
    args = parser.parse_args(argv)
    if args.sessions < 1 or (args.waves is not None and args.waves < 1):
        parser.error("--sessions and --waves must be at least 1")

    report: dict[str, Any] = {"benchmark": "soak", "when": now_utc(), "machine": machine()}
    report["settings"] = {
        k: getattr(args, k)
        for k in (
            "sessions",
            "minutes",
            "waves",
            "pause_s",
            "sample_s",
            "stagger_s",
            "warmup",
            "agent",
        )
    }
    report["settings"]["utterances"] = args.utterances
    with target(args) as tgt:
        report.update(asyncio.run(soak(args, tgt.url, tgt.key, tgt.pid)))
    report["machine"]["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    report["summary"] = summarize_waves(report["waves"], report["samples"])
    report["notes"] = [
        TASKS_NOTE,
        "settled RSS is read --pause-s after a wave's last session ended",
    ]
    if tgt.pid is None:
        report["notes"].append("the server process was not found: no memory figures")
    json_path, png_path = write_results(args.out, "soak", report, plot)

    s = report["summary"]
    print(
        f"{s['waves']} waves, {s['turns_answered']}/{s['turns']} turns answered, "
        f"{s['failed_sessions']} failed sessions | settled RSS {_mib(s['rss_settled_first_kib'])}"
        f" -> {_mib(s['rss_settled_last_kib'])} MiB: {_mib(s['rss_growth_kib'], 1)} MiB "
        f"({_mib(s['rss_growth_per_wave_kib'], 1)} MiB per wave) | "
        f"load avg {report['machine']['load_average_1m_after']}"
    )
    print(f"written to {json_path} and {png_path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
