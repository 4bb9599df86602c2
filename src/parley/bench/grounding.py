"""What grounding in a knowledge base costs a caller, and what it buys: voice-to-voice
with and without a knowledge base, side by side, and how often the answer holds the fact.

One server, two agents that differ only in their knowledge base (``plain``: none;
``knowledge``: the four Brightwave test documents of :mod:`parley.testing.documents`,
ingested through the REST API). The spoken questions of the retrieval question set are
synthesized by the server's own TTS and asked over the WebSocket, the two agents in turn
(round-robin, so that machine noise spreads evenly).

Reported per configuration: client voice-to-voice p50/p95, the search time
(``retrieval``) and the time the turn waited for it (``hook:retrieval``) p50/p95, and
answers that contain the question's fact (a number or name no model could guess).

    parley bench grounding [--rounds 1] [--questions 8] [--out DIR] [--url URL --api-key KEY]
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from typing import Any

import httpx

from parley.audio.wav import decode_wav
from parley.bench.common import (
    base_parser,
    config_bars,
    figure,
    fmt,
    machine,
    now_utc,
    retrieval_questions,
    summary_or_none,
    target,
    write_results,
)
from parley.client import call
from parley.testing.documents import brightwave_documents

CONFIGS = ("plain", "knowledge")
PROMPT = (
    "You are the phone support agent of Brightwave, a kettle maker. Answer in one short "
    "sentence, with the exact numbers from the knowledge base."
)


def questions(limit: int) -> list[dict[str, Any]]:
    """The spoken questions about the Brightwave documents (not Macbeth)."""
    items = retrieval_questions()
    spoken = [q for q in items if q["spoken"] and q["document"] != "macbeth.md"]
    return spoken[:limit]


def setup(http: httpx.Client) -> dict[str, str]:
    """The knowledge base (ingested) and one agent per configuration."""
    kb = http.post("/v1/knowledge-bases", json={"name": "bench-grounding"}).raise_for_status()
    kb_id = kb.json()["id"]
    for doc in brightwave_documents():
        files = {"file": (doc.filename, doc.data, doc.content_type)}
        added = http.post(f"/v1/knowledge-bases/{kb_id}/documents", files=files)
        doc_id = added.raise_for_status().json()["id"]
        while True:
            got = http.get(f"/v1/knowledge-bases/{kb_id}/documents/{doc_id}").json()
            if got["status"] != "processing":
                break
            time.sleep(0.2)
        if got["status"] != "ready":
            raise RuntimeError(f"{doc.filename} failed: {got['error']}")
    agents = {}
    for config in CONFIGS:
        body: dict[str, Any] = {
            "name": f"bench-grounding-{config}",
            "system_prompt": PROMPT,
            "provider_overrides": {"llm_temperature": 0.0},
            "knowledge_base_ids": [kb_id] if config == "knowledge" else [],
        }
        agents[config] = http.post("/v1/agents", json=body).raise_for_status().json()["id"]
    return agents


def spoken(http: httpx.Client, text: str) -> bytes:
    """``text`` in the server's own voice (PCM16, 16 kHz)."""
    voice = {"model": "tts-1", "input": text, "voice": "en_US-joe-medium"}
    return decode_wav(http.post("/v1/audio/speech", json=voice).raise_for_status().content)


def has_fact(answer: str, fact: str) -> bool:
    """The answer states the fact (its numbers, or its words if it has none)."""
    numbers = re.findall(r"\d+(?:[.,:]\d+)?", fact)
    if numbers:
        return all(n in answer for n in numbers)
    return " ".join(fact.lower().split()) in " ".join(answer.lower().split())


async def converse(
    url: str, key: str, agent_id: str, asked: list[dict[str, Any]], audio: list[bytes]
) -> list[dict[str, Any]]:
    """One conversation of all the questions; per turn: latency, search, fact."""
    result = await call(url, key, agent_id, audio)
    turns = []
    for question, turn in zip(asked, result.turns, strict=True):
        reply = turn.reply
        metrics = reply.metrics if reply else {}
        answer = reply.text if reply else ""
        turns.append(
            {
                "question": question["id"],
                "heard": turn.user_text,
                "answer": answer,
                "fact": has_fact(answer, question["fact"]),
                "client_voice_to_voice_ms": turn.client_voice_to_voice_ms,
                "retrieval_ms": metrics.get("retrieval"),
                "hook_retrieval_ms": metrics.get("hook:retrieval"),
            }
        )
    return turns


def summary(turns: list[dict[str, Any]]) -> dict[str, Any]:
    """The numbers of one configuration."""

    def values(key: str) -> list[float]:
        return [t[key] for t in turns if t[key] is not None]

    return {
        "turns": len(turns),
        "voice_to_voice_client_ms": summary_or_none(values("client_voice_to_voice_ms")),
        "retrieval_ms": summary_or_none(values("retrieval_ms")),
        "hook_retrieval_ms": summary_or_none(values("hook_retrieval_ms")),
        "answers_with_fact": sum(t["fact"] for t in turns),
    }


def plot(report: dict[str, Any]) -> Any:
    """Client voice-to-voice p50/p95 and answers with the fact, per configuration."""
    fig, axes = figure(1, 2, (12, 4.5))
    left, right = axes[0]
    config_bars(left, report["summary"], "voice_to_voice_client_ms", "client voice-to-voice")
    configs = list(report["summary"])
    xs = range(len(configs))
    facts = [report["summary"][c]["answers_with_fact"] for c in configs]
    right.bar(list(xs), facts)
    right.set_xticks(list(xs), configs)
    right.set(ylabel="answers", title="answers that state the fact")
    return fig


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; the exit status is 0."""
    parser = base_parser(__doc__, "parley bench grounding")
    parser.add_argument("--rounds", type=int, default=1, metavar="N")
    parser.add_argument("--questions", type=int, default=8, metavar="N")
    args = parser.parse_args(argv)
    asked = questions(args.questions)
    report: dict[str, Any] = {"benchmark": "grounding", "when": now_utc(), "machine": machine()}
    report["settings"] = {"rounds": args.rounds, "questions": [q["id"] for q in asked]}
    turns: dict[str, list[dict[str, Any]]] = {c: [] for c in CONFIGS}
    with target(args) as tgt:
        headers = {"Authorization": f"Bearer {tgt.key}"}
        with httpx.Client(base_url=tgt.url, headers=headers, timeout=120) as http:
            agents = setup(http)
            audio = [spoken(http, q["question"]) for q in asked]
        asyncio.run(call(tgt.url, tgt.key, agents["plain"], audio[:1]))  # warm-up
        for round_no in range(args.rounds):
            for config in CONFIGS:
                turns[config] += asyncio.run(
                    converse(tgt.url, tgt.key, agents[config], asked, audio)
                )
                print(f"round {round_no + 1}: {config} done", flush=True)
    report["turns"] = turns
    report["summary"] = {c: summary(t) for c, t in turns.items()}
    print(f"{'config':<10} {'v2v p50':>8} {'v2v p95':>8} {'search p95':>11} "
          f"{'wait p95':>9} {'facts':>6}")  # fmt: skip
    for config, s in report["summary"].items():
        v2v = s["voice_to_voice_client_ms"] or {}
        search, wait = s["retrieval_ms"] or {}, s["hook_retrieval_ms"] or {}
        print(
            f"{config:<10} {fmt(v2v.get('p50')):>8} {fmt(v2v.get('p95')):>8} "
            f"{fmt(search.get('p95'), 1):>11} {fmt(wait.get('p95'), 1):>9} "
            f"{s['answers_with_fact']:>3}/{s['turns']}"
        )
        per_turn = [fmt(t["client_voice_to_voice_ms"]) for t in report["turns"][config]]
        print(f"  per turn: {' '.join(per_turn)}")
    write_results(args.out, "grounding", report, plot)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
