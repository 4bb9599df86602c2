"""Latency under load: N simultaneous conversations on one server.

For each N (default 1, 2, 4, 8, 12), N conversations with the demo agent run at the same time,
each streaming several real recorded utterances in real time and waiting for each reply
to play out, as a person would. Session i starts ``i / N * --stagger-s`` seconds after the
first, so the sessions overlap fully but do not all stop talking in the same 32 ms frame.
Reported per N: client voice-to-voice p50/p95 over all turns, turns without a reply,
server CPU (utime + stime over the run, percent of one core), the machine's CPU and load,
and the server's peak RSS (VmHWM), and how many conversations the server refused for
capacity (admission control, ``session_error`` "server at capacity"); then the largest N
whose p95 is within 1500 ms with every conversation admitted and every turn answered.
One unmeasured single-utterance conversation warms the server up first, so N = 1 is not
measured on cold caches.

    parley bench concurrency [--sessions 1 2 4 8 12] [--utterances NAME ...] [--out DIR]
                             [--max-sessions M] [--url URL --api-key KEY]

The server it starts holds ``--max-sessions`` conversations at once (default: the largest
N, so that none is refused; a smaller M shows admission control at work). Against
``--url`` the server's own capacity applies, and the server's CPU and memory are measured
when it runs on this machine (its process is found by its listening port).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from parley.audio.wav import read_wav
from parley.bench.common import (
    Meter,
    base_parser,
    client_voice_to_voice_ms,
    figure,
    fmt,
    machine,
    now_utc,
    summary_or_none,
    target,
    write_results,
)
from parley.client import call
from parley.testing.recordings import recording

DEFAULT_SESSIONS = [1, 2, 4, 8, 12]
DEFAULT_UTTERANCES = ["cards-001", "librivox-0880", "cards-003"]
P95_BUDGET_MS = 1500.0
AT_CAPACITY = "server at capacity"
"""What the refusal of a conversation over the server's capacity says."""


async def one_session(
    url: str, key: str, clips: list[bytes], names: list[str], delay_s: float
) -> dict[str, Any]:
    """One conversation after ``delay_s``; its turns, or the error that ended it."""
    await asyncio.sleep(delay_s)
    try:
        result = await call(url, key, "agt_demo", clips, reply_timeout=60.0)
    except Exception as exc:  # a refused or dropped session is a result too
        error = f"{type(exc).__name__}: {exc}"
        return {"error": error, "refused_for_capacity": AT_CAPACITY in error, "turns": []}
    return {
        "conversation_id": result.conversation_id,
        "turns": [
            {
                "utterance": name,
                "client_voice_to_voice_ms": client_voice_to_voice_ms(turn),
                "server_voice_to_voice_ms": (turn.reply.metrics if turn.reply else {}).get(
                    "voice_to_voice"
                ),
            }
            for name, pcm, turn in zip(names, clips, result.turns, strict=True)
        ],
    }


async def level(url: str, key: str, n: int, names: list[str], stagger_s: float) -> list[Any]:
    """``n`` sessions at once, each with the utterances rotated by its index."""
    clips = {name: read_wav(recording(name).path) for name in names}
    sessions = []
    for i in range(n):
        k = i % len(names)
        order = names[k:] + names[:k]
        sessions.append(one_session(url, key, [clips[c] for c in order], order, i / n * stagger_s))
    return list(await asyncio.gather(*sessions))


def plot(report: dict[str, Any]) -> Any:
    """Left: voice-to-voice p50/p95 vs N and the 1.5 s budget. Right: CPU and peak RSS."""
    fig, axes = figure(1, 2, (12, 4.5))
    left, right = axes[0]
    rows = report["levels"]
    ns = [r["sessions"] for r in rows]

    def series(key: str, stat: str) -> list[float]:
        return [float("nan") if not r[key] else r[key][stat] for r in rows]

    left.plot(ns, series("voice_to_voice_client_ms", "p50"), "o-", label="client p50")
    left.plot(ns, series("voice_to_voice_client_ms", "p95"), "s-", label="client p95")
    left.plot(ns, series("voice_to_voice_server_ms", "p95"), "^--", label="server p95")
    left.axhline(P95_BUDGET_MS, color="red", lw=0.8, ls=":", label="1500 ms")
    for r in rows:
        if r.get("refused_for_capacity"):
            note = f"{r['refused_for_capacity']} refused"
            left.annotate(note, (r["sessions"], 0), xytext=(0, 8), textcoords="offset points",
                          ha="center", fontsize=8, color="red")  # fmt: skip
    left.set_xscale("log", base=2)
    left.set_xticks(ns, [str(n) for n in ns])
    left.set(xlabel="simultaneous sessions", ylabel="ms", title="voice-to-voice", ylim=(0, None))
    left.legend()
    cpu = [
        float("nan") if r["server_cpu_percent"] is None else r["server_cpu_percent"] for r in rows
    ]
    right.plot(ns, cpu, "o-", label="server CPU %")
    right.plot(ns, [r["system_cpu_percent"] for r in rows], "s--", label="machine CPU %")
    right.set_xscale("log", base=2)
    right.set_xticks(ns, [str(n) for n in ns])
    right.set(xlabel="simultaneous sessions", ylabel="% of one core", ylim=(0, None))
    right.legend(loc="upper left")
    rss = [r["server_peak_rss_kib"] for r in rows]
    if all(v is not None for v in rss):
        mem = right.twinx()
        mem.plot(ns, [v / 1024 for v in rss], "d:", color="tab:green", label="server peak RSS")
        mem.set(ylabel="MiB", ylim=(0, None))
        mem.legend(loc="upper right")
    right.set_title("CPU and memory")
    return fig


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; the exit status is 0."""
    parser = base_parser(__doc__, "parley bench concurrency")
    parser.add_argument(
        "--sessions", "--runs", dest="sessions", type=int, nargs="+", default=DEFAULT_SESSIONS
    )
    parser.add_argument("--utterances", nargs="+", default=DEFAULT_UTTERANCES, metavar="NAME")
    parser.add_argument("--stagger-s", type=float, default=1.0)
    parser.add_argument(
        "--max-sessions",
        type=int,
        default=None,
        metavar="M",
        help="capacity of the server it starts (PARLEY_LIMITS__MAX_SESSIONS; default: the "
        "largest --sessions; 0: no limit); ignored with --url",
    )
    parser.add_argument(
        "--warmup", action=argparse.BooleanOptionalAction, default=True, help="(default: on)"
    )
    args = parser.parse_args(argv)
    capacity = max(args.sessions) if args.max_sessions is None else args.max_sessions
    if args.url and args.max_sessions is not None:
        print("note: --max-sessions is ignored with --url (the server's own capacity applies)")

    report: dict[str, Any] = {"benchmark": "concurrency", "when": now_utc(), "machine": machine()}
    report["settings"] = {
        "sessions": args.sessions,
        "utterances": args.utterances,
        "stagger_s": args.stagger_s,
        "warmup": args.warmup,
        "p95_budget_ms": P95_BUDGET_MS,
        "max_sessions": None if args.url else capacity,
    }
    levels = []
    with target(args, env={"PARLEY_LIMITS__MAX_SESSIONS": str(capacity)}) as tgt:
        if args.warmup:
            asyncio.run(level(tgt.url, tgt.key, 1, args.utterances[:1], 0.0))
        for n in args.sessions:
            meter = Meter(tgt.pid)
            meter.start()
            sessions = asyncio.run(level(tgt.url, tgt.key, n, args.utterances, args.stagger_s))
            load = meter.stop()
            turns = [t for s in sessions for t in s["turns"]]
            client = [t["client_voice_to_voice_ms"] for t in turns]
            server = [t["server_voice_to_voice_ms"] for t in turns]
            levels.append(
                {
                    "sessions": n,
                    "turns": len(turns),
                    "turns_without_reply": sum(v is None for v in client),
                    "refused_for_capacity": sum(
                        bool(s.get("refused_for_capacity")) for s in sessions
                    ),
                    "failed_sessions": [s["error"] for s in sessions if "error" in s],
                    "voice_to_voice_client_ms": summary_or_none(
                        [v for v in client if v is not None]
                    ),
                    "voice_to_voice_server_ms": summary_or_none(
                        [v for v in server if v is not None]
                    ),
                    **load,
                    "conversations": sessions,
                }
            )
    report["levels"] = levels
    within = [
        r["sessions"]
        for r in levels
        if r["voice_to_voice_client_ms"]
        and r["voice_to_voice_client_ms"]["p95"] <= P95_BUDGET_MS
        and not r["turns_without_reply"]
        and not r["failed_sessions"]
    ]
    report["max_sessions_within_budget"] = max(within) if within else None
    json_path, png_path = write_results(args.out, "concurrency", report, plot)

    print(
        f"{'N':>3}{'turns':>7}{'no reply':>9}{'cli p50':>9}{'cli p95':>9}{'srv p95':>9}"
        f"{'srv cpu%':>10}{'mach cpu%':>10}{'other%':>8}{'load':>6}{'peak RSS MiB':>14}"
        f"{'refused':>9}"
    )
    for r in levels:
        c, s = r["voice_to_voice_client_ms"] or {}, r["voice_to_voice_server_ms"] or {}
        rss = r["server_peak_rss_kib"]
        print(
            f"{r['sessions']:>3}{r['turns']:>7}{r['turns_without_reply']:>9}"
            f"{fmt(c.get('p50')):>9}{fmt(c.get('p95')):>9}{fmt(s.get('p95')):>9}"
            f"{fmt(r['server_cpu_percent']):>10}{fmt(r['system_cpu_percent']):>10}"
            f"{fmt(r['other_cpu_percent']):>8}{r['load_average_1m_after']:>6}"
            f"{fmt(None if rss is None else rss / 1024):>14}{r['refused_for_capacity']:>9}"
        )
        for error in r["failed_sessions"]:
            if AT_CAPACITY not in error:
                print(f"    failed session: {error}")
    if report["settings"]["max_sessions"] is not None:
        print(f"server capacity (max_sessions): {report['settings']['max_sessions'] or 'none'}")
    print(
        f"largest N with client p95 <= {P95_BUDGET_MS:.0f} ms (every session admitted, "
        "every turn answered): "
        f"{report['max_sessions_within_budget']}"
    )
    print(f"written to {json_path} and {png_path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
