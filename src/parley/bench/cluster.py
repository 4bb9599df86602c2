"""Scale-out: conversations spread over several replicas behind HAProxy, and what a
client sees when a replica crashes (kill -9) or drains (SIGTERM).

Starts its own cluster (:mod:`parley.testing.cluster`): a private Postgres and Redis,
``--replicas`` ``parley serve`` processes (each with the real models) and HAProxy in
front, all on loopback. Then:

1. **Load**: ``--conversations`` conversations through HAProxy at once for
   ``--duration-s``, each saying real recorded speech in a loop (in real time, waiting for
   each reply to play out). Reported: turns sent, answered and lost (sent but not
   answered: must be 0), client voice-to-voice p50/p95, where the conversations landed
   (``GET /v1/cluster``), and each replica's resident memory at the start, middle and end.
2. **Resume**: ``--resume-trials`` rounds each of kill -9 and of drain (SIGTERM):
   ``--resume-conversations`` conversations talk through HAProxy, the replica holding
   the most is killed or drained, and each client resumes with its ``resume_token``
   through HAProxy (exponential backoff with full jitter, base 0.25 s, cap 4 s, within
   the resume window), then says one more utterance. Reported: resume success rate, time
   to resume (socket closed -> new ``connected``), the drain's duration (SIGTERM -> exit),
   and whether the turn after the resume was answered. The replica is restarted after
   each round.

    parley bench cluster [--replicas 2] [--conversations 8] [--duration-s 600]
                         [--resume-trials 2] [--resume-conversations 4] [--out DIR]

The cluster runs the production defaults (lease 10 s, resume window 30 s, drain timeout
20 s, 4 conversations per replica) unless told otherwise. It cannot target ``--url``:
it kills its own replicas.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from parley.audio.wav import read_wav
from parley.bench.common import (
    Meter,
    base_parser,
    figure,
    fmt,
    machine,
    now_utc,
    speech_end_ms,
    summary_or_none,
    temporary_agent,
    write_results,
)
from parley.testing.cluster import Cluster, ClusterOptions, ResumingCall, running_cluster
from parley.testing.recordings import recording

DEFAULT_UTTERANCES = ["cards-001", "cards-003", "cards-005"]
Clip = tuple[str, bytes, float]
"""name, PCM, where its speech ends (s)"""


def load_clips(names: list[str]) -> list[Clip]:
    """The recordings, with the end of their speech."""
    clips = []
    for name in names:
        pcm = read_wav(recording(name).path)
        end_ms = speech_end_ms(pcm)
        clips.append((name, pcm, (end_ms if end_ms is not None else len(pcm) / 32) / 1000))
    return clips


REPLY_TIMEOUT_S = 60.0
"""A turn is lost when its reply has not come (or has not gone on) for this long."""


async def talk(
    call: ResumingCall,
    clips: list[Clip],
    keep_going: Callable[[], bool],
    reply_timeout_s: float = REPLY_TIMEOUT_S,
) -> None:
    """Say the clips in turn (a resumed call goes on) until told to stop or it is over."""
    i = 0
    while keep_going() and call.final is None:
        if not await call.wait_connected(timeout=60):
            return
        name, pcm, end_s = clips[i % len(clips)]
        await call.turn(name, pcm, end_s, reply_timeout=reply_timeout_s)
        i += 1
        await asyncio.sleep(0.5)


async def cluster_info(cluster: Cluster) -> dict[str, Any] | None:
    """``GET /v1/cluster`` through HAProxy, None if it fails."""
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            response = await http.get(
                f"{cluster.url}/v1/cluster",
                headers={"Authorization": f"Bearer {cluster.admin_key}"},
            )
        return response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None


async def sample(cluster: Cluster, t0: float) -> dict[str, Any]:
    """Each replica's RSS and, from /v1/cluster, its live sessions."""
    info = await cluster_info(cluster)
    live = {r["replica_id"]: r.get("live_sessions") for r in (info or {}).get("replicas", [])}
    return {
        "t_s": round(time.monotonic() - t0, 1),
        "replicas": {
            r.replica_id: {"rss_kib": cluster.rss_kib(i), "live_sessions": live.get(r.replica_id)}
            for i, r in enumerate(cluster.replicas, start=1)
        },
    }


def turn_rows(call: ResumingCall, index: int) -> list[dict[str, Any]]:
    """The turns of a call as JSON rows."""
    return [
        {
            "conversation": index,
            "utterance": t.utterance,
            "outcome": t.outcome,
            "turn_id": t.turn_id,
            "client_voice_to_voice_ms": t.client_voice_to_voice_ms,
        }
        for t in call.turns
    ]


async def load_phase(
    cluster: Cluster, agent: str, clips: list[Clip], args: argparse.Namespace
) -> dict[str, Any]:
    """N conversations through HAProxy for the duration; turns and memory."""
    t0 = time.monotonic()
    samples = [await sample(cluster, t0)]
    meters = [Meter(cluster.replica(i).process.pid) for i in range(1, len(cluster.replicas) + 1)]
    for meter in meters:
        meter.start()
    deadline = t0 + args.duration_s
    calls = [ResumingCall(cluster.url, cluster.admin_key, agent) for _ in range(args.conversations)]

    async def conversation(i: int) -> str | None:
        await asyncio.sleep(i / len(calls) * args.stagger_s)
        try:
            await calls[i].open()
        except Exception as exc:  # a conversation that could not start is a result too
            return f"{type(exc).__name__}: {exc}"
        rotated = clips[i % len(clips) :] + clips[: i % len(clips)]
        await talk(calls[i], rotated, lambda: time.monotonic() < deadline, args.reply_timeout_s)
        return None

    async def sampler() -> None:
        while True:
            await asyncio.sleep(args.sample_s)
            samples.append(await sample(cluster, t0))

    sampling = asyncio.create_task(sampler())
    try:
        errors = await asyncio.gather(*(conversation(i) for i in range(len(calls))))
        samples.append(await sample(cluster, t0))
        loads = [meter.stop() for meter in meters]
    finally:
        sampling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampling
        await asyncio.gather(*(c.close() for c in calls), return_exceptions=True)
    turns = [row for i, c in enumerate(calls) for row in turn_rows(c, i)]
    outcomes = Counter(t["outcome"] for t in turns)
    answered = outcomes.get("answered", 0)
    v2v = [t["client_voice_to_voice_ms"] for t in turns if t["outcome"] == "answered"]
    return {
        "conversations": len(calls),
        "seconds": round(time.monotonic() - t0, 1),
        "turns_sent": len(turns),
        "turns_answered": answered,
        "turns_lost": len(turns) - answered,
        "outcomes": dict(outcomes),
        "failed_conversations": [e for e in errors if e],
        "refused_for_capacity": sum(c.open_refusals for c in calls),
        "unexpected_drops": sum(len(c.drops) for c in calls),
        "server_errors": dict(Counter(e for c in calls for e in c.errors).most_common(10)),
        "voice_to_voice_client_ms": summary_or_none([v for v in v2v if v is not None]),
        "memory": memory_summary(samples, cluster),
        "cpu": cpu_summary(loads, cluster),
        "samples": samples,
        "turns": turns,
    }


def memory_summary(samples: list[dict[str, Any]], cluster: Cluster) -> dict[str, Any]:
    """Per replica: RSS (KiB) at the start, the middle and the end; peak; most sessions."""
    out = {}
    for replica in cluster.replicas:
        rows = [s["replicas"][replica.replica_id] for s in samples]
        rss = [r["rss_kib"] for r in rows]
        live = [r["live_sessions"] for r in rows if r["live_sessions"] is not None]
        seen = [v for v in rss if v is not None]
        out[replica.replica_id] = {
            "rss_start_kib": rss[0],
            "rss_middle_kib": rss[len(rss) // 2],
            "rss_end_kib": rss[-1],
            "rss_peak_kib": max(seen) if seen else None,
            "live_sessions_max": max(live) if live else None,
        }
    return out


def cpu_summary(loads: list[dict[str, Any]], cluster: Cluster) -> dict[str, Any]:
    """CPU over the load (percent of one core): each replica, this client, the machine,
    and what else ran on it (other processes compete for the same cores)."""
    replicas = {
        r.replica_id: load["server_cpu_percent"]
        for r, load in zip(cluster.replicas, loads, strict=True)
    }
    first = loads[0]
    other = first["system_cpu_percent"] - first["client_cpu_percent"] - sum(replicas.values())
    return {
        "replicas_cpu_percent": replicas,
        "client_cpu_percent": first["client_cpu_percent"],
        "machine_cpu_percent": first["system_cpu_percent"],
        "other_cpu_percent": round(max(0.0, other), 1),
        "load_average_1m_after": first["load_average_1m_after"],
    }


async def victim(cluster: Cluster) -> int:
    """The running replica holding the most live sessions (r1 if unknown)."""
    info = await cluster_info(cluster)
    counts = {
        r["replica_id"]: r.get("live_sessions") or 0 for r in (info or {}).get("replicas", [])
    }
    running = [i for i in range(1, len(cluster.replicas) + 1) if cluster.is_running(i)]
    return max(running, key=lambda i: counts.get(cluster.replicas[i - 1].replica_id, 0))


async def resume_trial(
    cluster: Cluster, agent: str, clips: list[Clip], kind: str, args: argparse.Namespace
) -> dict[str, Any]:
    """Conversations talk; the busiest replica is killed or drained; they resume."""
    window = cluster.settings.resume_window_s
    calls = [
        ResumingCall(cluster.url, cluster.admin_key, agent, window_s=window, rng=random.Random(i))
        for i in range(args.resume_conversations)
    ]
    stop = False
    talking = []
    try:
        for i, call in enumerate(calls):
            await call.open()
            rotated = clips[i % len(clips) :] + clips[: i % len(clips)]
            talking.append(
                asyncio.create_task(talk(call, rotated, lambda: not stop, args.reply_timeout_s))
            )
            await asyncio.sleep(0.5)
        await asyncio.sleep(args.settle_s)
        target = await victim(cluster)
        replica_id = cluster.replicas[target - 1].replica_id
        signalled = time.monotonic()
        drain_s = drained_s = None
        if kind == "kill":
            cluster.kill(target)
        else:
            cluster.terminate(target)
            drain_s = round(await asyncio.to_thread(cluster.wait_exited, target), 2)
            drained = [r for r in cluster.replica(target).log_records() if r["msg"] == "drained"]
            drained_s = drained[-1].get("seconds") if drained else None
        # every dropped call resumed, or gave up, within the window
        give_up = time.monotonic() + window + 15

        def settled() -> bool:
            return (
                all(c.final is not None or all(d.resumed_at for d in c.drops) for c in calls)
                and time.monotonic() - signalled > 3
            )

        while time.monotonic() < give_up:
            if settled():
                break
            await asyncio.sleep(0.2)
        caused_until = time.monotonic()  # later drops have other causes (reported apart)
        await asyncio.sleep(args.after_s)  # each resumed call says at least one more turn
    finally:
        stop = True
        await asyncio.gather(*talking, return_exceptions=True)
        await asyncio.gather(*(c.close() for c in calls), return_exceptions=True)
    records: list[dict[str, Any]] = []
    other_drops: list[dict[str, Any]] = []
    for index, call in enumerate(calls):
        for drop in call.drops:
            if drop.at < signalled:
                continue
            if drop.at > caused_until:
                other_drops.append({"conversation": index, "close_code": drop.close_code,
                              "notice": drop.notice, "error": drop.error})  # fmt: skip
                continue
            later = [t for t in call.turns if drop.resumed_at and t.started_at > drop.resumed_at]
            records.append(
                {
                    "conversation": index,
                    "close_code": drop.close_code,
                    "notice": drop.notice,
                    "resumed": drop.resumed_at is not None,
                    "same_conversation": drop.same_conversation,
                    "resumed_flag": drop.resumed_flag,
                    "attempts": drop.attempts,
                    "refusals": drop.refusals,
                    "time_to_resume_ms": _ms(drop.time_to_resume_s),
                    "from_signal_ms": _ms(
                        None if drop.resumed_at is None else drop.resumed_at - signalled
                    ),
                    "dropped_after_signal_ms": _ms(drop.at - signalled),
                    "turns_after": [t.outcome for t in later],
                    "error": drop.error,
                }
            )
    restart_s = time.monotonic()
    await asyncio.to_thread(cluster.restart, target)
    return {
        "kind": kind,
        "replica": replica_id,
        "conversations": len(calls),
        "drain_s": drain_s,
        "drained_s": drained_s,
        "restart_s": round(time.monotonic() - restart_s, 1),
        "dropped": records,
        "other_drops": other_drops,
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 1)


def resume_summary(trials: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """Success rate and times over the trials of one kind."""
    mine = [t for t in trials if t["kind"] == kind]
    drops = [d for t in mine for d in t["dropped"]]
    ok = [d for d in drops if d["resumed"] and d["same_conversation"] and d["resumed_flag"]]
    drains = [t["drain_s"] for t in mine if t["drain_s"] is not None]
    return {
        "trials": len(mine),
        "dropped": len(drops),
        "resumed": len(ok),
        "success_rate": round(len(ok) / len(drops), 3) if drops else None,
        "answered_after_resume": sum("answered" in d["turns_after"] for d in ok),
        "time_to_resume_ms": summary_or_none([d["time_to_resume_ms"] for d in ok]),
        "from_signal_ms": summary_or_none([d["from_signal_ms"] for d in ok]),
        "drain_s": summary_or_none(drains),
        "drained_s": summary_or_none([t["drained_s"] for t in mine if t["drained_s"] is not None]),
    }


def plot(report: dict[str, Any]) -> Any:
    """Left: each replica's RSS during the load, live sessions dashed. Right: time to
    resume of every dropped conversation, kill -9 and drain."""
    fig, axes = figure(1, 2, (13, 4.5))
    left, right = axes[0]
    samples = report["load"]["samples"]
    ts = [s["t_s"] for s in samples]
    sessions = left.twinx()
    for rid in report["load"]["memory"]:
        rss = [s["replicas"][rid]["rss_kib"] for s in samples]
        [line] = left.plot(
            ts, [float("nan") if v is None else v / 1024 for v in rss], "-", label=rid
        )
        live = [s["replicas"][rid]["live_sessions"] for s in samples]
        sessions.plot(
            ts,
            [float("nan") if v is None else v for v in live],
            "--",
            lw=0.8,
            color=line.get_color(),
        )
    left.set(xlabel="seconds", ylabel="RSS MiB", title="replicas under load (dashed: sessions)")
    sessions.set(ylabel="live sessions", ylim=(0, None))
    left.legend(loc="lower right")
    for x, kind in enumerate(("kill", "drain")):
        times = [
            d["time_to_resume_ms"]
            for t in report["resume"]["trials"]
            if t["kind"] == kind
            for d in t["dropped"]
            if d["time_to_resume_ms"] is not None
        ]
        right.plot([x] * len(times), times, "o", alpha=0.7)
    right.set_xticks([0, 1], ["kill -9", "drain (SIGTERM)"])
    right.set_xlim(-0.5, 1.5)
    right.set(ylabel="ms", title="time to resume (socket closed -> connected)", ylim=(0, None))
    return fig


async def run(cluster: Cluster, args: argparse.Namespace) -> dict[str, Any]:
    """Warm each replica up, then the load and the resume trials."""
    clips = load_clips(args.utterances)
    with temporary_agent(cluster.url, cluster.admin_key, first_message=None) as agent:
        for replica in cluster.replicas:  # one unmeasured turn each: warm caches
            async with ResumingCall(replica.url, cluster.admin_key, agent) as call:
                await call.turn(*clips[0])
        load = await load_phase(cluster, agent, clips, args)
        trials = []
        for _ in range(args.resume_trials):
            for kind in ("kill", "drain"):
                trials.append(await resume_trial(cluster, agent, clips, kind, args))
                print(_trial_line(trials[-1]), flush=True)
    return {
        "load": load,
        "resume": {
            "trials": trials,
            "kill": resume_summary(trials, "kill"),
            "drain": resume_summary(trials, "drain"),
        },
    }


def _trial_line(t: dict[str, Any]) -> str:
    resumed = sum(d["resumed"] for d in t["dropped"])
    times = ", ".join(fmt(d["time_to_resume_ms"]) for d in t["dropped"])
    drain = f", drain {t['drain_s']} s" if t["drain_s"] is not None else ""
    return (
        f"{t['kind']:>5} {t['replica']}: {resumed}/{len(t['dropped'])} resumed "
        f"(ms: {times or '-'}){drain}, restarted in {t['restart_s']} s"
    )


def print_report(report: dict[str, Any]) -> None:
    """The tables."""
    load = report["load"]
    v2v = load["voice_to_voice_client_ms"] or {}
    print(
        f"load: {load['conversations']} conversations, {load['seconds']:.0f} s | turns sent "
        f"{load['turns_sent']}, answered {load['turns_answered']}, LOST {load['turns_lost']} "
        f"{load['outcomes']} | client v2v p50 {fmt(v2v.get('p50'))} ms, p95 "
        f"{fmt(v2v.get('p95'))} ms | refused for capacity {load['refused_for_capacity']}, "
        f"drops {load['unexpected_drops']}"
    )
    cpu = load["cpu"]
    print(
        f"cpu (% of one core): replicas {cpu['replicas_cpu_percent']}, client "
        f"{cpu['client_cpu_percent']}, other processes {cpu['other_cpu_percent']}, machine "
        f"{cpu['machine_cpu_percent']} | load avg {cpu['load_average_1m_after']}"
    )
    for error in load["failed_conversations"]:
        print(f"    failed conversation: {error}")
    for error, count in load["server_errors"].items():
        print(f"    server error x{count}: {error}")
    print(f"{'replica':>8}{'RSS start':>11}{'middle':>9}{'end':>9}{'peak':>9}  MiB{'sessions':>10}")
    for rid, m in load["memory"].items():
        mib = [fmt(None if m[k] is None else m[k] / 1024) for k in
               ("rss_start_kib", "rss_middle_kib", "rss_end_kib", "rss_peak_kib")]  # fmt: skip
        print(f"{rid:>8}{mib[0]:>11}{mib[1]:>9}{mib[2]:>9}{mib[3]:>9}     "
              f"{fmt(m['live_sessions_max']):>10}")  # fmt: skip
    print(f"{'resume':>8}{'trials':>8}{'dropped':>9}{'resumed':>9}{'rate':>7}{'p50 ms':>9}"
          f"{'p95 ms':>9}{'max ms':>9}{'answered after':>16}{'drain s':>9}")  # fmt: skip
    for kind in ("kill", "drain"):
        s = report["resume"][kind]
        t, d = s["time_to_resume_ms"] or {}, s["drain_s"] or {}
        print(
            f"{kind:>8}{s['trials']:>8}{s['dropped']:>9}{s['resumed']:>9}"
            f"{fmt(s['success_rate'], 2):>7}{fmt(t.get('p50')):>9}{fmt(t.get('p95')):>9}"
            f"{fmt(t.get('max')):>9}{s['answered_after_resume']:>16}{fmt(d.get('max'), 1):>9}"
        )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; the exit status is 0 (lost turns are in the report)."""
    parser = base_parser(__doc__, "parley bench cluster")
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--conversations", type=int, default=8)
    parser.add_argument("--duration-s", type=float, default=600.0)
    parser.add_argument("--utterances", nargs="+", default=DEFAULT_UTTERANCES, metavar="NAME")
    parser.add_argument("--stagger-s", type=float, default=4.0)
    parser.add_argument("--sample-s", type=float, default=5.0)
    parser.add_argument("--resume-trials", type=int, default=2, help="rounds of kill + drain")
    parser.add_argument("--resume-conversations", type=int, default=4)
    parser.add_argument("--settle-s", type=float, default=8.0, help="talk before the signal")
    parser.add_argument("--after-s", type=float, default=15.0, help="talk after resuming")
    parser.add_argument(
        "--reply-timeout-s",
        type=float,
        default=REPLY_TIMEOUT_S,
        help="a turn is lost when its reply has not come or gone on for this long",
    )
    parser.add_argument("--lease-s", type=float, default=10.0)
    parser.add_argument("--resume-window-s", type=float, default=30.0)
    parser.add_argument("--drain-timeout-s", type=float, default=20.0)
    parser.add_argument("--max-sessions", type=int, default=4, help="per replica")
    parser.add_argument("--logs", type=Path, default=None, help="keep the replicas' logs here")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting for every replica, e.g. PARLEY_MODELS__LLM_THREADS=1 (repeatable)",
    )
    args = parser.parse_args(argv)
    if args.url:
        parser.error("the cluster benchmark starts (and kills) its own replicas: no --url")
    if any("=" not in item for item in args.env):
        parser.error("--env takes KEY=VALUE")
    if args.replicas < 2 or args.conversations < 1 or args.resume_trials < 0:
        parser.error("--replicas must be at least 2, --conversations at least 1")

    settings = ClusterOptions(
        lease_s=args.lease_s,
        resume_window_s=args.resume_window_s,
        drain_timeout_s=args.drain_timeout_s,
        max_sessions=args.max_sessions,
        env=dict(item.split("=", 1) for item in args.env),
    )
    report: dict[str, Any] = {"benchmark": "cluster", "when": now_utc(), "machine": machine()}
    skip = ("out", "url", "api_key", "logs")
    report["settings"] = {k: v for k, v in vars(args).items() if k not in skip}
    with running_cluster(args.replicas, settings, keep_logs=args.logs) as cluster:
        report.update(asyncio.run(run(cluster, args)))
    report["notes"] = [
        "turns_lost = turns sent - turns answered in the load phase (no replica failed then); "
        "a turn is lost when its reply did not come, or stopped for --reply-timeout-s",
        "time_to_resume_ms: the client's socket closed -> the new connected event",
        "from_signal_ms: SIGKILL/SIGTERM sent -> the new connected event",
        "drain_s: SIGTERM -> the replica's process exited",
        "drained_s: SIGTERM -> every client told server_shutdown (the replica's own log)",
    ]
    json_path, png_path = write_results(args.out, "cluster", report, plot)
    print_report(report)
    print(f"written to {json_path} and {png_path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
