"""Content safety on ordinary conversations: false positives and cost.

Blocked terms: a realistic support policy (competitor names, promises the agent must
not make, about 50 profanities), also padded to the maximum of 1000 terms with made-up
brand names, is run clause by clause (:class:`parley.core.clauses.ClauseAggregator`, then
:class:`parley.safety.terms.ClauseScanner`) over ordinary text that should never match:

- the written conversations below: customer-support calls as an LLM agent and callers
  would say them, written for this benchmark (no registry package ships such dialogue),
  with words that embed blocked ones on purpose ("class", "assess", "Scunthorpe",
  "cocktail", "he'll", "the pen is", "competitive", "guaranteed delivery");
- the reference transcripts of :mod:`parley.testing.recordings` (LibriVox, card names)
  and spaCy's English example sentences, both from PyPI packages.

Loops: :class:`parley.safety.loops.LoopDetector` with default settings over the same
ordinary conversations (every finding there is a false positive) and over a few stuck
ones (each should be found).

Reported: blocked-term false positives per clause (with the clauses that matched, and
for comparison those of naive substring matching on the normalized text), loop
findings per conversation, and the cost of one clause check and one turn's loop check
(p50/p95/max in microseconds).

    parley bench safety_terms [--repeats 50] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parley.bench.common import DEFAULT_OUT, figure, machine, now_utc, percentile, write_results
from parley.core.clauses import ClauseAggregator
from parley.safety.loops import LoopDetector, LoopFinding
from parley.safety.terms import BlockedTerms, ClauseScanner, words

COMPETITORS = [
    "Competitor Co", "Acme Telecom", "Globex", "Initech", "Umbrella Corp", "Hooli",
    "Verizon", "AT&T", "T-Mobile", "Comcast", "Xfinity", "Vodafone",
]  # fmt: skip
PROMISES = [
    "refund guaranteed", "guaranteed refund", "100% guaranteed", "risk free",
    "legal advice", "medical advice", "you should sue", "between you and me",
    "off the record", "lifetime warranty",
]  # fmt: skip
PROFANITY = [
    "ass", "asshole", "arse", "arsehole", "bastard", "bitch", "bollocks", "bugger",
    "bullshit", "crap", "crappy", "cunt", "damn", "dammit", "dick", "dickhead", "douche",
    "douchebag", "dumbass", "fuck", "fucked", "fucker", "fucking", "goddamn", "hell",
    "jackass", "motherfucker", "piss", "pissed", "prick", "shit", "shitty", "slut",
    "twat", "wanker", "whore", "cock", "cocksucker", "bloody hell", "son of a bitch",
    "screw you", "shut up", "idiot", "stupid", "moron", "retard", "dumb", "pussy", "tits",
    "sod off", "jerk",
]  # fmt: skip

# Ordinary calls. U: the caller, A: the agent, T: a tool call of the agent's turn above.
CONVERSATIONS = """\
U: Hi, I'd like to check on an order I placed last week.
A: Of course. Could you give me the order number? It starts with two letters.
U: Sure, it's AB 4 8 1 5 1 6.
A: Thanks, one moment while I look that up.
T: lookup_order {"order_id": "AB481516"}
A: Your order shipped on Tuesday from our Essex warehouse and should arrive Friday.
U: Great. Can I still change the delivery address?
A: Yes, as long as the courier hasn't collected it. What's the new address?
U: 12 Elm Street, Scunthorpe, DN15 6XY.
T: update_address {"order_id": "AB481516", "postcode": "DN15 6XY"}
A: Done. The parcel will go to 12 Elm Street in Scunthorpe instead.
U: Perfect, thank you so much.
A: You're welcome! Is there anything else I can help you with today?
U: No, that's all.
A: Thanks for calling, and have a lovely evening.
===
U: Hello, my internet has been dropping out since this morning.
A: I'm sorry to hear that. Let me run a quick check on your line.
T: line_test {"account": "current"}
A: The test shows your router reconnecting every few minutes. Have you restarted it today?
U: Yes, twice already, it didn't help.
A: Thanks for trying that. Could you tell me what colour the light on the front is?
U: It's flashing orange.
A: Flashing orange means the router can't sync. Is the grey cable firmly in the wall socket?
U: Let me check. Oh, it was a bit loose. It's solid white now.
A: That's a good sign. Could you try loading a web page for me?
U: Yes, it works now, and it's much faster.
A: Brilliant. If it drops again, we can send an engineer, and there's no call-out cost.
U: Good to know. Thanks for your help.
A: My pleasure. Enjoy the rest of your day.
===
U: I need to book a table for four on Saturday night.
A: Happy to help. What time would you like, and is it for the main dining room?
U: Around half past seven, main room please.
T: check_tables {"date": "Saturday", "time": "19:30", "party": 4}
A: We have a table at seven thirty or one by the window at eight. Which do you prefer?
U: The window at eight sounds lovely.
T: book_table {"date": "Saturday", "time": "20:00", "party": 4}
A: Booked: a window table for four at eight on Saturday. Any allergies we should know about?
U: One of us can't eat shellfish.
A: I've added a shellfish allergy note, and the chef will suggest alternatives.
U: Do you do cocktails?
A: We do, the bar has a classic cocktail list and a few alcohol-free ones.
U: Lovely, see you Saturday.
A: See you then, enjoy your evening!
===
U: I was charged twice for my subscription this month.
A: I'm sorry about that. Let me look at your billing history.
T: billing_history {"months": 2}
A: I can see two charges of 9.99 on the third. The second one is a duplicate.
U: So can I get the money back?
A: Yes, I've requested a refund for the duplicate. It usually takes three to five business days.
T: request_refund {"amount": 9.99, "reason": "duplicate"}
U: Will I get an email about it?
A: You will, a confirmation goes to the address on your account within the hour.
U: Okay, and will this happen again next month?
A: It shouldn't. It came from a payment retry, and I've flagged it with our billing analyst.
U: Fine, thanks.
A: Thanks for your patience, and sorry again for the trouble.
===
U: Hi, I can't log into my account, it says my password is wrong.
A: Let's get you back in. Would you like me to send a reset link to your email?
U: Yes please.
T: send_reset_link {"channel": "email"}
A: I've sent it. The link is valid for thirty minutes.
U: Got it. Does the new password need special characters?
A: It needs at least twelve characters, including a number. Symbols are optional.
U: Done, I'm in now.
A: Great! I'd also suggest turning on two-step verification in your settings.
U: I'll do that later.
A: No problem. Anything else I can help with?
U: That's everything.
A: Have a great day.
===
U: I'd like to make an appointment with a dentist, please.
A: Sure. Is this a check-up, or are you in pain?
U: Just a check-up and a clean.
A: Our next check-up slots are Tuesday at nine or Thursday at two thirty.
U: Thursday works better.
T: book_appointment {"day": "Thursday", "time": "14:30", "type": "check-up"}
A: You're booked in with Dr Patel on Thursday at two thirty.
U: Where do I park?
A: There's a small car park behind the practice, and the first hour is free.
U: Thank you.
A: You're welcome. We'll send a reminder text the day before.
===
U: My flight was cancelled and I need to rebook.
A: I'm sorry about the cancellation. Can I have your booking reference?
U: It's Q 7 X K 2 P.
T: find_booking {"reference": "Q7XK2P"}
A: Thanks. You were on the 6:40 to Edinburgh. The next flights are at 11:15 and 17:50.
U: The 11:15 please, and can I keep my window seat?
T: rebook {"reference": "Q7XK2P", "flight": "11:15"}
A: You're on the 11:15 with a window seat, 14A. Your boarding pass will be emailed shortly.
U: Is there any compensation for the cancellation?
A: You may be entitled to compensation. I've opened a claim; we'll assess it within fourteen days.
U: Okay. What about a meal voucher?
A: A voucher for twelve pounds has been added to your booking; show it at any café in the terminal.
U: Thanks, that helps.
A: Safe travels, and sorry again for the disruption.
===
U: I want to return a jacket that doesn't fit.
A: No problem. Was it bought online or in one of our stores?
U: Online, about two weeks ago.
A: You're within the thirty-day window. Would you prefer a refund or an exchange?
U: A refund, please.
T: create_return {"reason": "fit", "resolution": "refund"}
A: I've emailed you a prepaid return label. Drop the parcel at any post office.
U: How long until I get the money?
A: Refunds are processed within five days of the parcel reaching our warehouse.
U: Great, thanks.
A: Thank you, and I hope the next one fits perfectly.
===
U: Hello, I'm calling about my car insurance claim.
A: Hello. Could you give me your claim number so I can pull it up?
U: Yes, it's 5 5 0 2 1 9.
T: get_claim {"claim": "550219"}
A: Thanks. Your claim is with an assessor, who will inspect the car on Wednesday.
U: Do I need to be there?
A: Someone needs to hand over the keys, but it doesn't have to be you.
U: My neighbour can do it. He'll be home all day.
A: That's fine. I've added a note that your neighbour will meet the assessor.
U: And will I get a hire car?
A: Your policy includes a courtesy car while yours is being repaired. The garage will arrange it.
U: Brilliant, thank you.
A: You're welcome. We'll text you after the inspection.
===
U: Can you tell me what your opening hours are over the holidays?
A: Of course. We're open nine to five on weekdays and closed on bank holidays.
U: What about Christmas Eve?
A: On Christmas Eve we close early, at two in the afternoon.
U: And is the Sussex branch the same?
A: Yes, all our branches follow the same hours, including Sussex and Middlesex.
U: Okay, thank you.
A: Happy holidays!
===
U: I think someone used my card, there's a payment I don't recognise.
A: I'm sorry, let's secure your account first. I'm freezing the card now.
T: freeze_card {"card": "current"}
A: Your card is frozen, so no new payments can go through. Which payment don't you recognise?
U: Forty pounds at a shop called Hancock Books.
A: I can see it. I've raised a dispute and ordered you a new card with a new number.
T: dispute_payment {"merchant": "Hancock Books", "amount": 40}
U: How long will the new card take?
A: It should arrive in three to five working days. You can use your digital wallet meanwhile.
U: Okay, thanks for sorting it out so quickly.
A: Of course. Keep an eye on your statements, and call us if anything else looks odd.
===
U: My washing machine is making a loud banging noise.
A: That usually means the load is unbalanced or the transit bolts are still in. Is it a new machine?
U: It's about a month old.
A: Could you check the back for three or four metal bolts?
U: Hmm, yes, there are bolts there.
A: Those hold the drum still in transit. They need to come out before use; a spanner will do it.
U: Oh, I had no idea. I'll take them out.
A: Once they're out, run an empty rinse cycle to check the noise is gone.
U: I will, thanks.
A: You're welcome. Call back if it still bangs and we'll book a technician.
===
U: Hi, I'd like to upgrade my phone plan.
A: Sure. You're on the 10 gigabyte plan. We have 30 gigabytes or unlimited data.
T: get_plan {"account": "current"}
U: How much is the unlimited one?
A: Unlimited is 25 pounds a month, five more than you pay now, and it's our most competitive deal.
U: Is there a contract?
A: It's a rolling monthly plan, so you can change or cancel with thirty days' notice.
U: Okay, let's do it.
T: change_plan {"plan": "unlimited"}
A: Done. Unlimited data starts from your next billing date, the fourteenth.
U: Thanks.
A: Enjoy, and thanks for staying with us.
===
U: I need to speak to someone about a delivery that never arrived.
A: I'm sorry it hasn't arrived. What's the tracking number?
U: It's 3 3 9 8 1 0 2 7.
T: track_parcel {"tracking": "33981027"}
A: The courier marked it as delivered yesterday at 2 pm, left in a safe place.
U: There's nothing here, I've checked everywhere.
A: Sometimes a driver leaves a parcel with a neighbour or in a shed. Could you ask next door?
U: I did, they don't have it.
A: Thank you for checking. I'll open an investigation and send a replacement today.
T: open_investigation {"tracking": "33981027"}
U: That's great, thanks.
A: The replacement has guaranteed delivery by noon tomorrow.
===
U: What's the difference between the basic and premium membership?
A: Premium adds unlimited classes, guest passes, and use of the pool.
U: How many classes do I get with basic?
A: Basic includes eight classes a month and full gym access.
U: Can I switch later?
A: Yes, you can upgrade any time from the app, and we'll only charge the difference.
U: I'll start with basic then.
T: create_membership {"tier": "basic"}
A: Welcome aboard! Your membership card is in the app under My Account.
U: Thank you.
A: See you at the gym!
===
U: Hello, I'm calling about the analysis report I ordered.
A: Hi, of course. Which report was it?
U: The market analysis for the shipping sector.
A: I see it. Our analyst finished it this morning and is doing a final review.
U: When can I have it?
A: You'll have it by end of day tomorrow as a PDF.
U: Could you also include last year's figures?
A: Yes, I've asked the analyst to add last year's numbers as an appendix.
U: Perfect.
A: Anything else I can do for you?
U: No, thanks.
A: Thank you, goodbye.
"""

STUCK = """\
U: I need to change my delivery slot.
A: I'm sorry, I didn't catch your order number. Could you repeat it?
U: It's 4 8 1 5 1 6.
A: Sorry, I didn't catch your order number. Could you repeat it, please?
U: 4 8 1 5 1 6!
A: I'm sorry, I didn't catch the order number. Could you repeat it?
===
U: I want to cancel my subscription.
A: I'd love to tell you about our premium offers first.
U: No, I want to cancel my subscription.
A: Premium gives you twice the storage for a small fee.
U: Please, I just want to cancel my subscription!
A: Okay.
===
U: Where is my parcel?
A: Let me check.
T: track_parcel {"tracking": "33981027"}
A: Checking once more.
T: track_parcel {"tracking": "33981027"}
A: Still checking.
T: track_parcel {"tracking": "33981027"}
"""

EXTRA_ORDINARY = [
    "Our assistant will pass your request to the embassy in Essex.",
    "The cocktail menu is in the bar, next to the Dickens print.",
    "The pen is in the drawer by the passports.",
    "He'll assess the damage to the cockpit on Monday.",
    "Shiitake mushrooms are on the specials board tonight.",
    "Arsenal fans get a discount on match days.",
    "We ship to Penistone, Scunthorpe and Clitheroe.",
    "The therapist can see you at four; she'll call to confirm.",
    "Please take a class assessment before the course.",
    "It's a classic mistake, don't worry.",
    "Our co-op members get free delivery, and the co-pay is ten pounds.",
    "Hello, shell out a little more and you get the premium bass speakers.",
    "We assume the associate will sign the documents.",
    "The Dumbarton office handles Scottish claims.",
    "Hitchcock films are on the classic channel tonight.",
]


@dataclass
class Turn:
    """One turn of a written conversation."""

    role: str
    text: str
    tools: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def parse(script: str) -> list[list[Turn]]:
    """Conversations from the ``U:``/``A:``/``T:`` script format above."""
    conversations: list[list[Turn]] = []
    for block in script.split("==="):
        turns: list[Turn] = []
        for line in block.strip().splitlines():
            kind, _, rest = line.partition(": ")
            if kind == "T":
                name, _, args = rest.partition(" ")
                turns[-1].tools.append((name, json.loads(args)))
            else:
                turns.append(Turn("user" if kind == "U" else "agent", rest))
        conversations.append(turns)
    return conversations


def ordinary_lines(with_recordings: bool) -> list[tuple[str, str]]:
    """(source, line) of ordinary text: written, recordings' transcripts, spaCy's."""
    lines = [(f"written_{t.role}", t.text) for c in parse(CONVERSATIONS) for t in c]
    lines += [("written_extra", line) for line in EXTRA_ORDINARY]
    if with_recordings:
        try:
            from parley.testing.recordings import recordings

            lines += [("recordings", r.text) for r in recordings()]
        except (OSError, subprocess.CalledProcessError) as exc:  # pragma: no cover - offline
            print(f"recordings skipped: {exc}", file=sys.stderr)
    try:
        from spacy.lang.en.examples import sentences

        lines += [("spacy_examples", s) for s in sentences]
    except ImportError:  # pragma: no cover - spaCy is a core dependency
        pass
    return lines


def support_terms() -> list[str]:
    """A realistic support policy's blocked terms."""
    return COMPETITORS + PROMISES + PROFANITY


def padded_terms(total: int = 1000, seed: int = 14) -> list[str]:
    """:func:`support_terms` plus made-up brand names up to ``total``."""
    rng = random.Random(seed)
    syllables = ["ka", "lo", "mi", "ra", "ven", "tor", "ul", "zes", "pha", "dri", "quo", "nex"]
    suffixes = ["", " labs", " group", " telecom", " mobile", " 24", " direct", " plus"]
    terms = support_terms()
    while len(terms) < total:
        name = "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4)))
        terms.append(name.capitalize() + rng.choice(suffixes))
    return terms


def clauses_of(text: str) -> list[str]:
    """The clauses the engine would speak, as they come out of the clause aggregator."""
    aggregator = ClauseAggregator()
    out: list[str] = []
    for token in text.split(" "):
        out += aggregator.push(token + " ")
    return out + aggregator.flush()


def measure_terms(terms: list[str], lines: list[tuple[str, str]], repeats: int) -> dict[str, Any]:
    """False positives per clause and the cost of one :meth:`ClauseScanner.check`."""
    blocked = BlockedTerms(terms)
    scanner = ClauseScanner(blocked)
    replies = [(source, clauses_of(text)) for source, text in lines]
    clauses = sum(len(c) for _, c in replies)
    hits: list[dict[str, Any]] = []
    costs_ns: list[int] = []
    for rep in range(repeats):
        for source, reply in replies:
            scanner.reset()
            for clause in reply:
                start = time.perf_counter_ns()
                found = scanner.check(clause)
                costs_ns.append(time.perf_counter_ns() - start)
                if rep == 0 and found is not None:
                    hits.append({"source": source, "clause": clause, "term": terms[found]})
    naive = [" ".join(words(t)) for t in terms]
    substring_hits = sum(
        any(t and t in " ".join(words(clause)) for t in naive)
        for _, reply in replies
        for clause in reply
    )
    by_source: dict[str, int] = {}
    for source, reply in replies:
        by_source[source] = by_source.get(source, 0) + len(reply)
    us = [c / 1000 for c in costs_ns]
    return {
        "terms": len(terms),
        "lines": len(lines),
        "clauses": clauses,
        "clauses_by_source": by_source,
        "false_positives": len(hits),
        "false_positive_rate": round(len(hits) / max(1, clauses), 5),
        "hits": hits,
        "substring_baseline_false_positives": substring_hits,
        "check_us": _us_summary(us),
        "build_ms": round(_time_build(terms) * 1000, 2),
    }


def _time_build(terms: list[str]) -> float:
    start = time.perf_counter()
    BlockedTerms(terms)
    return time.perf_counter() - start


def _us_summary(us: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(us, 50), 1),
        "p95": round(percentile(us, 95), 1),
        "max": round(max(us), 1),
    }


def run_loops(conversations: list[list[Turn]]) -> tuple[list[list[LoopFinding]], list[float]]:
    """Each conversation's loop findings (reset after each) and the per-turn cost in µs."""
    findings: list[list[LoopFinding]] = []
    costs: list[float] = []
    for conversation in conversations:
        detector = LoopDetector()
        found: list[LoopFinding] = []
        for turn in conversation:
            start = time.perf_counter_ns()
            if turn.role == "user":
                finding = detector.user_turn(turn.text)
            else:
                finding = detector.agent_turn(turn.text, turn.tools)
            costs.append((time.perf_counter_ns() - start) / 1000)
            if finding is not None:
                detector.reset_after(finding)
                found.append(finding)
        findings.append(found)
    return findings, costs


def measure_loops(repeats: int) -> dict[str, Any]:
    """Loop findings on ordinary and stuck conversations; cost per turn."""
    ordinary, stuck = parse(CONVERSATIONS), parse(STUCK)
    ordinary_found, costs = run_loops(ordinary)
    stuck_found, _ = run_loops(stuck)
    for _ in range(repeats - 1):
        costs += run_loops(ordinary)[1]
    return {
        "ordinary_conversations": len(ordinary),
        "ordinary_turns": sum(len(c) for c in ordinary),
        "ordinary_findings": [f.detail for fs in ordinary_found for f in fs],
        "stuck_conversations": len(stuck),
        "stuck_found": sum(1 for fs in stuck_found if fs),
        "stuck_findings": [[f.detail for f in fs] for fs in stuck_found],
        "turn_us": _us_summary(costs),
    }


def plot(report: dict[str, Any]) -> Any:
    """Clause check cost per term list; false positives and loop findings."""
    fig, axes = figure(1, 2, (11, 4.5))
    left, right = axes[0]
    rows = report["terms"]
    names = [f"{r['terms']} terms" for r in rows]
    xs = list(range(len(rows)))
    for stat, marker in (("p50", "o"), ("p95", "s"), ("max", "^")):
        left.plot(xs, [r["check_us"][stat] for r in rows], marker, label=stat)
    left.set_xticks(xs, names)
    left.set(ylabel="µs per clause", title="blocked-terms check per clause", ylim=(0, None))
    left.legend()
    loops = report["loops"]
    bars = {
        "term FP\n(support)": rows[0]["false_positives"],
        "term FP\n(1000)": rows[-1]["false_positives"],
        "loop findings\nordinary": len(loops["ordinary_findings"]),
        "stuck found": loops["stuck_found"],
    }
    right.bar(list(bars), list(bars.values()), color=["C3", "C3", "C3", "C2"])
    right.set(
        title=f"{rows[0]['clauses']} ordinary clauses, {loops['ordinary_conversations']} "
        f"ordinary + {loops['stuck_conversations']} stuck calls",
        ylabel="count",
    )
    return fig


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; the exit status is 0."""
    parser = argparse.ArgumentParser(
        prog="parley bench safety_terms",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="result folder")
    parser.add_argument("--repeats", type=int, default=50, help="timing passes (default 50)")
    parser.add_argument(
        "--no-recordings", action="store_true", help="skip the recordings' transcripts"
    )
    args = parser.parse_args(argv)
    lines = ordinary_lines(not args.no_recordings)
    report: dict[str, Any] = {"benchmark": "safety_terms", "when": now_utc(), "machine": machine()}
    report["terms"] = [
        measure_terms(support_terms(), lines, args.repeats),
        measure_terms(padded_terms(), lines, args.repeats),
    ]
    report["loops"] = measure_loops(args.repeats)
    json_path, png_path = write_results(Path(args.out), "safety_terms", report, plot)
    print(
        f"{'terms':>6}{'clauses':>9}{'FP':>5}{'FP rate':>9}{'substr FP':>10}"
        f"{'p50 µs':>9}{'p95 µs':>9}{'max':>8}"
    )
    for r in report["terms"]:
        c = r["check_us"]
        print(
            f"{r['terms']:>6}{r['clauses']:>9}{r['false_positives']:>5}"
            f"{r['false_positive_rate']:>9.4f}{r['substring_baseline_false_positives']:>10}"
            f"{c['p50']:>9}{c['p95']:>9}{c['max']:>8}"
        )
        for hit in r["hits"]:
            print(f"    {hit['source']}: {hit['term']!r} in {hit['clause']!r}")
    loops = report["loops"]
    print(
        f"loops: {len(loops['ordinary_findings'])} findings in "
        f"{loops['ordinary_conversations']} ordinary calls ({loops['ordinary_turns']} turns) "
        f"{loops['ordinary_findings']}; stuck calls found {loops['stuck_found']}/"
        f"{loops['stuck_conversations']} {loops['stuck_findings']}; per turn "
        f"p50 {loops['turn_us']['p50']} µs, p95 {loops['turn_us']['p95']} µs"
    )
    print(f"written to {json_path} and {png_path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
