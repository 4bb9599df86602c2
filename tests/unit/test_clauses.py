"""ClauseAggregator fed token by token, and speakable() markdown removal."""

from __future__ import annotations

import random
import re

import pytest

from parley.core.clauses import ClauseAggregator, speakable


def _tokens(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _random_tokens(text: str, seed: int) -> list[str]:
    rng = random.Random(seed)
    out, i = [], 0
    while i < len(text):
        n = rng.randint(1, 6)
        out.append(text[i : i + n])
        i += n
    return out


def _feed(tokens: list[str], agg: ClauseAggregator | None = None) -> tuple[list[str], list[str]]:
    """(clauses returned by push, clauses returned by flush)."""
    agg = agg or ClauseAggregator()
    pushed = [clause for token in tokens for clause in agg.push(token)]
    return pushed, agg.flush()


def _clauses(text: str, size: int = 1, **kwargs: int) -> list[str]:
    pushed, flushed = _feed(_tokens(text, size), ClauseAggregator(**kwargs))
    return pushed + flushed


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


# ---------------------------------------------------------------- sentences


@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_sentences_split_at_terminal_punctuation(size: int) -> None:
    text = "Hello there. How are you? I am fine! Thanks."
    pushed, flushed = _feed(_tokens(text, size))
    assert pushed == ["Hello there.", "How are you?", "I am fine!"]
    assert flushed == ["Thanks."]


def test_sentence_is_emitted_only_when_whitespace_follows() -> None:
    agg = ClauseAggregator()
    assert agg.push("Hello there.") == []
    assert agg.push(" ") == ["Hello there."]
    assert agg.push("Next") == []
    assert agg.flush() == ["Next"]
    assert agg.flush() == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Wait... what? No!! Really?! Yes.", ["Wait...", "what?", "No!!", "Really?!", "Yes."]),
        ('She said "stop." Then left.', ['She said "stop."', "Then left."]),
        ("(Really!) Ok then.", ["(Really!)", "Ok then."]),
        ("One line.\nNext line.\n\nLast one.", ["One line.", "Next line.", "Last one."]),
    ],
)
def test_sentence_end_variants(text: str, expected: list[str]) -> None:
    assert _clauses(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Mr. Smith arrived late.",
        "I saw Dr. Jones and Mrs. Brown yesterday.",
        "Bring fruit, e.g. apples and pears.",
        "Use one, i.e. the red one.",
        "Apples, pears, etc. are all fine.",
        "It was J. K. Rowling who wrote it.",
        "Meet me on Main St. at noon.",
        "It costs 3.5 dollars or 4.25 euros.",
        "Version 2.0.1 is out.",
        "The value is 0.5 now.",
    ],
)
@pytest.mark.parametrize("size", [1, 4])
def test_no_split_on_abbreviations_initials_or_decimals(text: str, size: int) -> None:
    pushed, flushed = _feed(_tokens(text + " And more.", size))
    assert pushed == [text]
    assert flushed == ["And more."]


# ---------------------------------------------------------------- first clause at a comma


@pytest.mark.parametrize("mark", [",", ";", ":", " -", " —"])
def test_first_clause_may_end_at_a_clause_mark(mark: str) -> None:
    head = "Well I think the answer here is yes"  # 35 chars >= 24
    text = f"{head}{mark} and then, of course, there is more. Then, later, we go."
    assert _clauses(text) == [
        f"{head}{mark}",
        "and then, of course, there is more.",
        "Then, later, we go.",
    ]


def test_first_clause_needs_min_chars_before_a_comma() -> None:
    text = "Well, yes, I think the answer is, as always, maybe. Done."
    # commas at 4 and 9 are too early; the one at 32 is not
    assert _clauses(text) == ["Well, yes, I think the answer is,", "as always, maybe.", "Done."]


@pytest.mark.parametrize("first_min", [5, 60])
def test_first_clause_min_chars_is_configurable(first_min: int) -> None:
    text = "Sure thing, let me check that for you right now, okay. Bye."
    clauses = _clauses(text, first_clause_min_chars=first_min)
    if first_min == 5:
        assert clauses == ["Sure thing,", "let me check that for you right now, okay.", "Bye."]
    else:
        assert clauses == ["Sure thing, let me check that for you right now, okay.", "Bye."]


def test_later_clauses_do_not_split_at_commas() -> None:
    text = (
        "Hi. First, we open the box, then, carefully, we lift the lid; after that: "
        "we look inside - and smile. Done."
    )
    assert _clauses(text) == [
        "Hi.",
        "First, we open the box, then, carefully, we lift the lid; after that: "
        "we look inside - and smile.",
        "Done.",
    ]


def test_comma_without_following_space_is_not_a_clause_end() -> None:
    text = "The total number of people is 1,000,000 or so today. Ok."
    assert _clauses(text) == ["The total number of people is 1,000,000 or so today.", "Ok."]


# ---------------------------------------------------------------- long clauses


@pytest.mark.parametrize("size", [1, 3, 11])
@pytest.mark.parametrize("max_chars", [40, 80, 200])
def test_long_clause_is_cut_on_a_space(size: int, max_chars: int) -> None:
    words = [f"w{i}x" * (1 + i % 3) for i in range(150)]
    text = "Intro. " + " ".join(words)
    pushed, flushed = _feed(_tokens(text, size), ClauseAggregator(max_clause_chars=max_chars))
    assert pushed[0] == "Intro."
    assert len(pushed) > 2
    assert len(flushed) == 1
    pieces = pushed[1:] + flushed
    assert all(len(p) <= max_chars for p in pieces)
    # every piece is a run of whole words, in order
    assert [w for p in pieces for w in p.split(" ")] == words


def test_long_first_clause_without_punctuation_is_cut() -> None:
    text = "word " * 100
    clauses = _clauses(text, size=3)
    assert len(clauses) == 3
    assert all(len(c) <= 200 for c in clauses)
    assert " ".join(clauses) == speakable(text)


def test_long_clause_without_spaces_is_cut_at_max() -> None:
    text = "x" * 250 + " end."
    clauses = _clauses(text, max_clause_chars=100)
    assert clauses[:2] == ["x" * 100, "x" * 100]
    assert _squash("".join(clauses)) == _squash(text)


# ---------------------------------------------------------------- flush


def test_flush_returns_the_remainder_and_resets() -> None:
    agg = ClauseAggregator()
    assert agg.push("Done. And the rest") == ["Done."]
    assert agg.flush() == ["And the rest"]
    assert agg.flush() == []
    assert agg.push("New reply. ") == ["New reply."]


@pytest.mark.parametrize("tail", ["", "   ", "\n\n", "** ``"])
def test_flush_of_nothing_speakable_is_empty(tail: str) -> None:
    agg = ClauseAggregator()
    assert agg.push("All done. " + tail) == ["All done."]
    assert agg.flush() == []


# ---------------------------------------------------------------- markdown


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("This is **bold** text", "This is bold text"),
        ("This is __bold__ and *it* too", "This is bold and it too"),
        ("Run `pip install x` now", "Run pip install x now"),
        ("```\ncode\n```", "code"),
        ("# Heading", "Heading"),
        ("### Sub heading\nBody", "Sub heading Body"),
        ("- first\n- second", "first second"),
        ("  - indented\n• dotted", "indented dotted"),
        ("> quoted", "quoted"),
        ("a well-known fact", "a well-known fact"),
        ("5 - 3 is 2", "5 - 3 is 2"),
        ("-5 degrees", "-5 degrees"),
        ("  lots   of\n\n space\t", "lots of space"),
    ],
)
def test_speakable_removes_markdown(text: str, expected: str) -> None:
    assert speakable(text) == expected


def test_aggregator_strips_markdown_from_clauses() -> None:
    text = "Sure, **this** is `the code`. # Next\n- one thing.\n- another _thing_.\n"
    assert _clauses(text, size=2) == [
        "Sure, this is the code.",
        "Next one thing.",
        "another thing.",
    ]


# ---------------------------------------------------------------- nothing lost or duplicated

CORPUS = [
    "Hello there. How are you? I am fine! Thanks.",
    "Well, I think the answer here is yes, and also no, maybe. Then, later, we go.",
    "Mr. Smith met Dr. Jones, e.g. at noon. It cost 3.5 dollars. J. K. Rowling wrote it. Done",
    "# Recipe\n\nHere's **what** you need:\n- two eggs\n- `flour`, about 200 g\n\nMix well! Bake.",
    "word " * 120 + "and finally. A short one.",
    'She said "stop." Then left. (Really!) Ok... fine?! Sure; whatever - yes.',
    "A long first clause that keeps going — with a dash, and a comma; also more. End",
    "Prices rose 3.5% in 2023. Analysts, i.e. Prof. Lee, agree. No. 5 won.",
    "x" * 30 + ", " + "y" * 30 + ". " + "z" * 10,
]


@pytest.mark.parametrize("text", CORPUS)
@pytest.mark.parametrize("split", ["1", "2", "5", "random-1", "random-2", "whole"])
def test_nothing_lost_or_duplicated(text: str, split: str) -> None:
    if split == "whole":
        tokens = [text]
    elif split.startswith("random"):
        tokens = _random_tokens(text, int(split.split("-")[1]))
    else:
        tokens = _tokens(text, int(split))
    pushed, flushed = _feed(tokens, ClauseAggregator(max_clause_chars=120))
    clauses = pushed + flushed
    assert all(c and c == c.strip() for c in clauses)
    assert _squash("".join(clauses)) == _squash(speakable(text))
    assert " ".join(clauses) == speakable(text)


def test_dash_after_a_sentence_end_is_not_lost() -> None:
    text = "It is done. - Next one."
    assert " ".join(_clauses(text)) == speakable(text)


def test_bracketed_annotations_are_not_spoken() -> None:
    """The small LLM sometimes copies the context's "[interrupted by the user]" mark."""
    assert speakable("That's a classic example of [interrupted by the user]") == (
        "That's a classic example of"
    )
    assert speakable("Sure [laughs] here it is.") == "Sure here it is."
    assert speakable("An open [bracket stays") == "An open [bracket stays"
