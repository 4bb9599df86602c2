"""What content safety costs a caller: voice-to-voice with and without a policy.

One server, several agents that differ only in their content policy, talked to in turn
with the same real recorded utterances (round-robin, so that machine noise spreads
evenly). Configurations:

- ``none``: no policy, loop detection off (the plain voice pipeline);
- ``loops``: loop detection only (every agent has it by default);
- ``terms``: a support policy's 73 blocked terms, agent and user side;
- ``terms+pii``: plus Presidio personal data (5 entities) redacted in storage, for the
  client and in the agent's speech;
- ``judge``: plus one criterion on the agent's replies and one on the user's turns,
  judged by the agent's own LLM (the embedded model unless ``--judge`` names another).

Reported per configuration: client voice-to-voice p50/p95, the policy hook's own time
per turn (``hook:policy`` in the server's metrics) p50/p95, how many replies began with
a filler line, and the safety marks on these ordinary utterances (every ``blocked`` or
``replaced`` one is a false positive: nothing in them breaks the policy).

    parley bench safety [--rounds 2] [--configs none terms terms+pii judge]
                        [--judge llm:NAME] [--out DIR] [--url URL --api-key KEY]
"""

from __future__ import annotations

import sys
from typing import Any

import httpx

from parley.audio.wav import read_wav
from parley.bench.common import (
    base_parser,
    config_bars,
    figure,
    fmt,
    machine,
    now_utc,
    summary_or_none,
    target,
    write_results,
)
from parley.bench.latency import DEFAULT_UTTERANCES
from parley.client import call
from parley.safety.policy_hook import DEFAULT_FILLERS
from parley.testing.recordings import recording

CONFIGS = ("none", "loops", "terms", "terms+pii", "judge")
COMPETITORS = ["acme telecom", "globex", "initech", "umbrella mobile", "hooli", "vandelay"]
PROMISES = ["refund guaranteed", "guaranteed refund", "free forever", "lifetime warranty"]
PROFANITY = [f"badword{i}" for i in range(63)]  # stand-ins: the cost depends on the count
TERMS = COMPETITORS + PROMISES + PROFANITY
CRITERIA = [
    {
        "name": "no_medical_advice",
        "rule": "The agent must not give medical advice.",
        "applies_to": "agent",
        "fallback": "I'm sorry, I can't give medical advice.",
    },
    {
        "name": "no_self_harm",
        "rule": "The caller must not ask how to hurt themselves or others.",
        "applies_to": "user",
    },
]


def policy_body(config: str, judge: str | None) -> dict[str, Any] | None:
    """The content policy of a configuration (None: no policy)."""
    if config in ("none", "loops"):
        return None
    body: dict[str, Any] = {
        "name": f"bench {config}",
        "blocked_terms": TERMS,
        "user_blocked_terms": PROFANITY,
    }
    if config in ("terms+pii", "judge"):
        entities = ["PHONE_NUMBER", "CREDIT_CARD", "EMAIL_ADDRESS", "US_SSN", "PERSON"]
        body["pii"] = {"entities": entities, "redact": ["storage", "client", "agent_speech"]}
    if config == "judge":
        body["criteria"] = CRITERIA
        body["judge_provider"] = judge
    return body


def make_agents(url: str, key: str, configs: list[str], judge: str | None) -> dict[str, str]:
    """One agent per configuration, like the demo agent but for its policy."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as http:
        demo = http.get("/v1/agents/agt_demo").raise_for_status().json()
        agents = {}
        for config in configs:
            agent: dict[str, Any] = {
                "name": f"bench-safety-{config}",
                "system_prompt": demo["system_prompt"],
                "voice_id": demo["voice_id"],
                "loop_detection": {"enabled": config != "none"},
            }
            body = policy_body(config, judge)
            if body is not None:
                policy = http.post("/v1/policies", json=body).raise_for_status().json()
                agent["content_policy_id"] = policy["id"]
            agents[config] = http.post("/v1/agents", json=agent).raise_for_status().json()["id"]
        return agents


async def converse(url: str, key: str, agent_id: str, names: list[str]) -> list[dict[str, Any]]:
    """One conversation; per turn: voice-to-voice, hook time, filler, marks."""
    audio = [read_wav(recording(n).path) for n in names]
    result = await call(url, key, agent_id, audio)
    marks: dict[str, list[str]] = {}
    for event in result.events:
        if event.get("type") == "safety":
            marks.setdefault(event["turn_id"], []).append(f"{event['kind']}:{event['action']}")
    turns = []
    for name, turn in zip(names, result.turns, strict=True):
        reply = turn.reply
        metrics = reply.metrics if reply else {}
        text = reply.text if reply else ""
        turns.append(
            {
                "utterance": name,
                "client_voice_to_voice_ms": turn.client_voice_to_voice_ms,
                "hook_policy_ms": metrics.get("hook:policy"),
                "hook_loops_ms": metrics.get("hook:loops"),
                "filler": any(text.startswith(f) for f in DEFAULT_FILLERS),
                "marks": marks.get(reply.turn_id, []) if reply else [],
            }
        )
    return turns


def summary(turns: list[dict[str, Any]]) -> dict[str, Any]:
    """The numbers of one configuration."""

    def values(key: str) -> list[float]:
        return [t[key] for t in turns if t[key] is not None]

    marks = [m for t in turns for m in t["marks"]]
    return {
        "turns": len(turns),
        "voice_to_voice_client_ms": summary_or_none(values("client_voice_to_voice_ms")),
        "hook_policy_ms": summary_or_none(values("hook_policy_ms")),
        "hook_loops_ms": summary_or_none(values("hook_loops_ms")),
        "fillers": sum(t["filler"] for t in turns),
        "marks": marks,
        "false_positives": sum(
            m.split(":")[1] in ("blocked", "replaced") and not m.startswith("pii") for m in marks
        ),
    }


def plot(report: dict[str, Any]) -> Any:
    """Client voice-to-voice p50/p95 and the policy hook's p95, per configuration."""
    fig, axes = figure(1, 2, (12, 4.5))
    left, right = axes[0]
    config_bars(left, report["summary"], "voice_to_voice_client_ms", "client voice-to-voice")
    configs = list(report["summary"])
    xs = range(len(configs))
    hooks = [(report["summary"][c]["hook_policy_ms"] or {}).get("p95", 0) for c in configs]
    right.bar(list(xs), hooks)
    right.set_xticks(list(xs), configs)
    right.set(ylabel="ms", title="policy hook time per turn, p95")
    return fig


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; the exit status is 0."""
    import asyncio

    parser = base_parser(__doc__, "parley bench safety")
    parser.add_argument("--rounds", type=int, default=2, metavar="N")
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=CONFIGS)
    parser.add_argument("--judge", default=None, help="judge LLM provider (default: agent's)")
    parser.add_argument("--utterances", nargs="+", default=DEFAULT_UTTERANCES, metavar="NAME")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {"benchmark": "safety", "when": now_utc(), "machine": machine()}
    report["settings"] = {
        "rounds": args.rounds, "configs": args.configs, "judge": args.judge,
        "utterances": args.utterances, "blocked_terms": len(TERMS),
    }  # fmt: skip
    turns: dict[str, list[dict[str, Any]]] = {c: [] for c in args.configs}
    with target(args) as tgt:
        agents = make_agents(tgt.url, tgt.key, args.configs, args.judge)
        asyncio.run(converse(tgt.url, tgt.key, "agt_demo", args.utterances[:1]))  # warm-up
        for round_no in range(args.rounds):
            names = args.utterances[round_no:] + args.utterances[:round_no]
            for config in args.configs:
                turns[config] += asyncio.run(converse(tgt.url, tgt.key, agents[config], names))
                print(f"round {round_no + 1}: {config} done", flush=True)
    report["turns"] = turns
    report["summary"] = {c: summary(t) for c, t in turns.items()}
    print(f"{'config':<10} {'v2v p50':>8} {'v2v p95':>8} {'hook p50':>9} {'hook p95':>9} "
          f"{'fillers':>8} {'false+':>7}")  # fmt: skip
    for config, s in report["summary"].items():
        v2v, hook = s["voice_to_voice_client_ms"] or {}, s["hook_policy_ms"] or {}
        print(
            f"{config:<10} {fmt(v2v.get('p50')):>8} {fmt(v2v.get('p95')):>8} "
            f"{fmt(hook.get('p50'), 1):>9} {fmt(hook.get('p95'), 1):>9} "
            f"{s['fillers']:>4}/{s['turns']:<3} {s['false_positives']:>7}"
        )
        per_turn = [fmt(t["client_voice_to_voice_ms"]) for t in report["turns"][config]]
        print(f"  per turn: {' '.join(per_turn)}")
    write_results(args.out, "safety", report, plot)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
