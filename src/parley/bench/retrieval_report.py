"""The tables and the plot of ``parley bench retrieval`` (see :mod:`parley.bench.retrieval`)."""

from __future__ import annotations

from typing import Any

from parley.bench.common import figure

KS = (1, 3, 5)
"""The k of the hit@k rates."""
METHODS = ("full_text", "dense", "hybrid")
REQUIRED_P95_MS = 50.0
"""What warm search must stay under at 10,000 chunks (issue 15)."""


def plot(report: dict[str, Any]) -> Any:
    """Warm search latency per size (distribution), and hit@k per method."""
    fig, axes = figure(1, 2, (12, 4.5))
    left, right = axes[0]
    top = REQUIRED_P95_MS
    for n, row in enumerate(report["latency"]):
        values = sorted(row["warm_total_ms_all"])
        if not values:
            continue
        ys = [(i + 1) / len(values) for i in range(len(values))]
        label = (
            f"{row['chunks']} chunks: p50 {row['warm_ms']['total']['p50']:.1f}, "
            f"p95 {row['warm_ms']['total']['p95']:.1f} ms (cold {row['cold_ms']['total']:.0f})"
        )
        left.step(values, ys, where="post", color=f"C{n}", label=label)
        top = max(top, values[-1])
    left.axvline(REQUIRED_P95_MS, color="red", linestyle="--", label="50 ms")
    left.axhline(0.95, color="grey", linestyle=":", linewidth=0.8)
    left.set(
        xlabel="Retriever.search, ms (warm)",
        ylabel="fraction of searches",
        title="search latency (synthetic fill)",
        xlim=(0, top * 1.05),
    )
    left.legend(fontsize=8, loc="lower right")
    methods = report["quality"]["methods"]
    width = 0.25
    for n, k in enumerate(KS):
        xs = [i + (n - 1) * width for i in range(len(METHODS))]
        values = [methods[m][f"hit@{k}"] or 0.0 for m in METHODS]
        right.bar(xs, values, width, label=f"hit@{k}")
    right.set_xticks(range(len(METHODS)), list(METHODS))
    right.set(
        ylim=(0, 1.05),
        ylabel="fraction of questions",
        title=f"{report['quality']['questions']} questions",
    )
    right.legend(fontsize=8)
    return fig


def print_report(report: dict[str, Any]) -> None:
    """The tables."""
    q = report["quality"]
    print(
        f"quality: {q['questions']} questions ({q['spoken']} spoken), "
        f"{report['quality_chunks']} chunks"
    )
    print(f"{'method':<10}" + "".join(f"{f'hit@{k}':>8}" for k in KS) + f"{'spoken@5':>10}")
    for m in METHODS:
        row = q["methods"][m]
        hits = "".join(f"{row[f'hit@{k}']:>8.3f}" for k in KS)
        print(f"{m:<10}{hits}{row['spoken_hit@5'] or 0:>10.3f}")
    for m in METHODS:
        for miss in q["methods"][m]["misses_at_5"]:
            print(f"  {m} miss {miss['id']}: {miss['question']!r} (fact {miss['fact']!r})")
    print("ingestion (end to end):")
    for row in report["ingestion"]["documents"]:
        print(
            f"  {row['document']:<26}{row['chunks']:>5} chunks {row['seconds']:>7.2f} s "
            f"{row['chunks_per_s']:>7.2f} chunks/s"
        )
    e = report["ingestion"]["embedding"]
    print(
        f"  embedding {e['passages']}: {e['chunks_per_s']} chunks/s "
        f"({e['mean_words_per_chunk']} words/chunk, {e['words_per_s']} words/s)"
    )
    a = report["query_embedding_alone_ms"]
    print(f"  embedding a question alone: p50 {a['p50']} ms, p95 {a['p95']} ms")
    print(f"latency ({report['synthetic_fill']}):")
    print(
        f"{'chunks':>7}{'fts hits':>9}{'cpu other':>10}{'cold':>8}"
        f"{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}"
        f"{'embed p50':>11}{'embed p95':>11}{'rest p95':>10}{'fts p95':>9}{'dense p50':>11}"
    )
    for row in report["latency"]:
        w = row["warm_ms"]
        t = w["total"]
        print(
            f"{row['chunks']:>7}{row['fts_matches_per_question']['mean']:>9.0f}"
            f"{row['cpu_during_searches']['other']:>10.0f}"
            f"{row['cold_ms']['total']:>8.1f}{t['p50']:>8.1f}{t['p95']:>8.1f}"
            f"{t['p99']:>8.1f}{t['max']:>8.1f}{w['embed']['p50']:>11.1f}"
            f"{w['embed']['p95']:>11.1f}{w['total_minus_embed']['p95']:>10.1f}"
            f"{w['full_text']['p95']:>9.1f}{row['dense_index_search_ms']['p50']:>11.2f}"
        )
    r = report["requirement"]
    verdict = "not measured" if r["met"] is None else ("met" if r["met"] else "NOT met")
    print(
        f"requirement {r['text']}: {verdict} (p95 {r['p95_ms']} ms); "
        f"load avg before {report['machine']['load_average_before']}, "
        f"after {report['machine']['load_average_after']}"
    )
