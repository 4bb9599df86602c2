"""Voice-to-voice latency over real conversations.

N conversations with the demo agent, one after the other, each of several real recorded
utterances streamed in real time (the utterance order rotates between conversations).
For every turn: voice-to-voice at the client (first agent audio byte received minus the
end of speech in the streamed audio, see :func:`parley.bench.common.speech_end_ms`) and
the server's own stage breakdown (its ``metrics`` event). Reports p50/p95/max, the stage
p50/p95, model load time and server memory (when the benchmark started the server).

``--turn-detection model|silence`` talks to a temporary copy of the demo agent with that
``turn_detection`` instead (deleted at the end); ``both`` runs each conversation with a
``silence`` copy and then a ``model`` copy, on the same server, and reports them side by
side.

    parley bench latency [--conversations 3] [--utterances NAME ...]
                         [--turn-detection model|silence|both] [--out DIR]
                         [--url URL --api-key KEY]
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import Any

from parley.audio.wav import read_wav
from parley.bench.common import (
    STAGES,
    Meter,
    base_parser,
    client_voice_to_voice_ms,
    figure,
    fmt,
    machine,
    now_utc,
    print_load,
    speech_end_ms,
    summary_or_none,
    target,
    temporary_agent,
    write_results,
)
from parley.client import call
from parley.testing.recordings import recording

DEFAULT_UTTERANCES = [
    "librivox-0880",
    "cards-005",
    "librivox-0930",
    "cards-001",
    "librivox-0890",
    "cards-003",
]


DEMO_AGENT = "agt_demo"
TURN_DETECTION = {"model": ["model"], "silence": ["silence"], "both": ["silence", "model"]}


async def run(url: str, key: str, names: list[str], agent_id: str = DEMO_AGENT) -> dict[str, Any]:
    """Talk to an agent (the demo agent by default), one utterance per turn; return
    per-turn numbers."""
    clips = [recording(n) for n in names]
    audio = [read_wav(c.path) for c in clips]
    result = await call(url, key, agent_id, audio)
    turns = []
    for clip, pcm, turn in zip(clips, audio, result.turns, strict=True):
        metrics = turn.reply.metrics if turn.reply else {}
        turns.append(
            {
                "conversation_id": result.conversation_id,
                "utterance": clip.name,
                "heard": turn.user_text,
                "reply": turn.reply.text if turn.reply else None,
                "client_voice_to_voice_ms": client_voice_to_voice_ms(turn),
                "speech_end_ms": speech_end_ms(pcm),
                "server_ms": metrics,
            }
        )
    return {"conversation_id": result.conversation_id, "turns": turns}


def summary(turns: list[dict[str, Any]]) -> dict[str, Any]:
    """Client and server voice-to-voice summaries and the stage p50/p95."""

    def stage(s: str) -> list[float]:
        return [t["server_ms"][s] for t in turns if t["server_ms"].get(s) is not None]

    stages = {s: summary_or_none(stage(s)) for s in STAGES}
    return {
        "turns": len(turns),
        "turns_without_reply": sum(t["client_voice_to_voice_ms"] is None for t in turns),
        "voice_to_voice_server_ms": summary_or_none(stage("voice_to_voice")),
        "voice_to_voice_client_ms": summary_or_none(
            [
                t["client_voice_to_voice_ms"]
                for t in turns
                if t["client_voice_to_voice_ms"] is not None
            ]
        ),
        "stages_p50_ms": {s: (v["p50"] if v else None) for s, v in stages.items()},
        "stages_p95_ms": {s: (v["p95"] if v else None) for s, v in stages.items()},
    }


def plot(report: dict[str, Any]) -> Any:
    """Left: client and server voice-to-voice per turn. Right: stage p50/p95."""
    fig, axes = figure(1, 2, (12, 4.5))
    left, right = axes[0]
    turns = report["turns"]
    xs = range(1, len(turns) + 1)
    for mode in dict.fromkeys(t.get("turn_detection") for t in turns):
        label = "" if mode is None else f" ({mode})"
        client = [
            t["client_voice_to_voice_ms"] if t.get("turn_detection") == mode else None
            for t in turns
        ]
        server = [
            t["server_ms"].get("voice_to_voice") if t.get("turn_detection") == mode else None
            for t in turns
        ]
        left.plot(
            xs, [float("nan") if v is None else v for v in client], "o-", label=f"client{label}"
        )
        left.plot(
            xs, [float("nan") if v is None else v for v in server], "s--", label=f"server{label}"
        )
    p95 = (report["summary"]["voice_to_voice_client_ms"] or {}).get("p95")
    if p95 is not None:
        left.axhline(p95, color="grey", lw=0.8, ls=":", label=f"client p95 {p95:.0f} ms")
    left.set(xlabel="turn", ylabel="ms", title="voice-to-voice per turn", ylim=(0, None))
    left.legend()
    p50s, p95s = report["summary"]["stages_p50_ms"], report["summary"]["stages_p95_ms"]
    names = list(p50s)
    ys = range(len(names))
    right.barh([y + 0.2 for y in ys], [p95s[n] or 0 for n in names], 0.4, label="p95")
    right.barh([y - 0.2 for y in ys], [p50s[n] or 0 for n in names], 0.4, label="p50")
    right.set_yticks(list(ys), names)
    right.invert_yaxis()
    right.set(xlabel="ms", title="server stages (overlapping, not additive)")
    right.legend()
    return fig


def _side_by_side(by_mode: dict[str, dict[str, Any]]) -> None:
    """Voice-to-voice and the endpointing wait per turn detection, one column each."""
    print(f"\n{'by turn detection (ms)':<28}" + "".join(f"{m:>10}" for m in by_mode))
    for label, key in (
        ("voice-to-voice client", "voice_to_voice_client_ms"),
        ("voice-to-voice server", "voice_to_voice_server_ms"),
    ):
        for stat in ("p50", "p95"):
            cells = "".join(f"{fmt((s[key] or {}).get(stat)):>10}" for s in by_mode.values())
            print(f"{label + ' ' + stat:<28}{cells}")
    for stat in ("p50", "p95"):
        cells = "".join(
            f"{fmt(s[f'stages_{stat}_ms']['endpointing']):>10}" for s in by_mode.values()
        )
        print(f"{'endpointing ' + stat:<28}{cells}")
    cells = "".join(f"{s['turns_without_reply']:>10}" for s in by_mode.values())
    print(f"{'turns without a reply':<28}{cells}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; the exit status is 0."""
    parser = base_parser(__doc__, "parley bench latency")
    parser.add_argument(
        "--conversations", "--runs", dest="conversations", type=int, default=3, metavar="N"
    )
    parser.add_argument("--utterances", nargs="+", default=DEFAULT_UTTERANCES, metavar="NAME")
    parser.add_argument(
        "--turn-detection",
        choices=list(TURN_DETECTION),
        default=None,
        help="talk to a copy of the demo agent with this turn detection "
        "(both: silence and model, side by side); default: the demo agent as it is",
    )
    args = parser.parse_args(argv)
    modes: list[str | None] = list(TURN_DETECTION.get(args.turn_detection, [None]))

    report: dict[str, Any] = {"benchmark": "latency", "when": now_utc(), "machine": machine()}
    report["settings"] = {
        "conversations": args.conversations,
        "utterances": args.utterances,
        "turn_detection": args.turn_detection,
    }
    with target(args) as tgt:
        if tgt.server is not None:
            records = tgt.server.log_records()
            ready = next(r for r in records if r.get("msg") == "models ready")
            report["model_load_seconds"] = {"total": ready["seconds"], **ready["per_model"]}
            report["server_memory_kib_after_load"] = tgt.server.memory_kib()
        meter = Meter(tgt.pid)
        meter.start()
        conversations = []
        with contextlib.ExitStack() as stack:
            agents = {
                mode: DEMO_AGENT
                if mode is None
                else stack.enter_context(temporary_agent(tgt.url, tgt.key, turn_detection=mode))
                for mode in modes
            }
            for i in range(args.conversations):
                k = i % len(args.utterances)
                names = args.utterances[k:] + args.utterances[:k]
                for mode, agent_id in agents.items():
                    done = asyncio.run(run(tgt.url, tgt.key, names, agent_id))
                    for t in done["turns"]:
                        t["turn_detection"] = mode
                    conversations.append(done)
        report["load"] = meter.stop()
        if tgt.server is not None:
            report["server_memory_kib_after_conversation"] = tgt.server.memory_kib()
    report["conversations"] = [c["conversation_id"] for c in conversations]
    report["turns"] = [t for c in conversations for t in c["turns"]]
    report["summary"] = summary(report["turns"])
    if args.turn_detection is not None:
        report["summary_by_turn_detection"] = {
            m: summary([t for t in report["turns"] if t["turn_detection"] == m]) for m in modes
        }
    json_path, png_path = write_results(args.out, "latency", report, plot)

    print(
        f"{'utterance':<15}{'detect':>8}{'v2v cli':>9}{'v2v srv':>9}{'endpt':>7}{'stt':>6}"
        f"{'ttft':>6}{'clause':>8}{'tts':>6}"
    )
    for t in report["turns"]:
        m = t["server_ms"]
        print(
            f"{t['utterance']:<15}{t['turn_detection'] or '-':>8}"
            f"{fmt(t['client_voice_to_voice_ms']):>9}"
            f"{fmt(m.get('voice_to_voice')):>9}{fmt(m.get('endpointing')):>7}"
            f"{fmt(m.get('stt')):>6}{fmt(m.get('llm_first_token')):>6}"
            f"{fmt(m.get('first_clause')):>8}{fmt(m.get('tts_first_audio')):>6}"
        )
    s = report["summary"]
    print(f"\n{'voice-to-voice (ms)':<24}{'p50':>8}{'p95':>8}{'max':>8}{'mean':>8}")
    for label, key in (
        ("client", "voice_to_voice_client_ms"),
        ("server", "voice_to_voice_server_ms"),
    ):
        v = s[key] or {}
        print(
            f"{label:<24}{fmt(v.get('p50')):>8}{fmt(v.get('p95')):>8}"
            f"{fmt(v.get('max')):>8}{fmt(v.get('mean')):>8}"
        )
    if "summary_by_turn_detection" in report:
        _side_by_side(report["summary_by_turn_detection"])
    print(f"\n{'server stage (ms)':<24}{'p50':>8}{'p95':>8}")
    for name in STAGES:
        print(f"{name:<24}{fmt(s['stages_p50_ms'][name]):>8}{fmt(s['stages_p95_ms'][name]):>8}")
    print(
        f"\n{s['turns']} turns in {len(conversations)} conversations, "
        f"{s['turns_without_reply']} without a reply"
    )
    if "model_load_seconds" in report:
        print("model load (s):", report["model_load_seconds"])
    if "server_memory_kib_after_conversation" in report:
        print("server memory (KiB):", report["server_memory_kib_after_conversation"])
    print_load(report["load"])
    print(f"written to {json_path} and {png_path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
