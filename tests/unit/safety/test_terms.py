"""Blocked terms: normalization, whole words, joined spellings, clauses, 1000 terms."""

from __future__ import annotations

import pytest

from parley.safety.terms import BlockedTerms, ClauseScanner, words

POLICY = [
    "competitor co",  # 0
    "refund guaranteed",  # 1
    "ass",  # 2
    "co",  # 3
    "Crème Brûlée",  # 4
    "straße",  # 5
    "hell",  # 6
    "7-eleven",  # 7
    "don't worry",  # 8
    "penis",  # 9
]

ORDINARY = [
    "Thanks for calling, how can I help you today?",
    "Your order shipped yesterday and should arrive by Friday.",
    "I've issued a refund; it usually takes five business days.",
    "That's a first class ticket, so the cost is a bit higher.",
    "He'll call you back within the hour.",
    "The pen is on the desk next to the keyboard.",
    "Let me assess the situation and get back to you.",
    "Our cooperative partners cover most of the country.",
    "I can't guarantee a refund, but I'll open a ticket.",
    "Hello, is this the right number for billing?",
    "Could you spell your last name, please?",
    "We'll reschedule the delivery for Monday at 10 a.m.",
    "Is there anything else I can help you with?",
]


@pytest.fixture(scope="module")
def terms() -> BlockedTerms:
    return BlockedTerms(POLICY)


@pytest.mark.parametrize(
    ("text", "index"),
    [
        ("competitor co", 0),
        ("You could try Competitor, Co. instead.", 0),
        ("competitor-co has it cheaper", 0),
        ("COMPETITOR CO", 0),
        ("Refund—guaranteed!", 1),
        ("It's a refund, guaranteed.", 1),
        ("refund\nguaranteed", 1),
        ("kiss my ass", 2),
        ("co", 3),
        ("Try the creme brulee.", 4),
        ("CRÈME BRÛLÉE", 4),
        ("the main STRASSE", 5),
        ("the main strasse", 5),
        ("go to hell", 6),
        ("the 7 Eleven on Main Street", 7),
        ("Don\u2019t worry about it.", 8),  # typographic apostrophe
    ],
)
def test_matches_regardless_of_case_accents_punctuation(
    terms: BlockedTerms, text: str, index: int
) -> None:
    assert terms.find(text) == index


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_sentences_do_not_match(terms: BlockedTerms, text: str) -> None:
    assert terms.find(text) is None


@pytest.mark.parametrize("text", ["class", "cost", "assistant", "shell", "hello", "7-elevens"])
def test_whole_words_only(terms: BlockedTerms, text: str) -> None:
    assert terms.find(text) is None


def test_digits_are_word_characters() -> None:
    terms = BlockedTerms(["plan 9", "b2b"])
    assert terms.find("the plan 9 offer") == 0
    assert terms.find("plan 99") is None
    assert terms.find("a B2B deal") == 1
    assert terms.find("b2b2c") is None


def test_joined_and_split_spellings_match_long_terms() -> None:
    terms = BlockedTerms(["competitorco", "mega mart", "anal"])
    assert terms.find("Have you tried Competitor Co?") == 0
    assert terms.find("Competitor-Co") == 0
    assert terms.find("compe titor co") == 0, "up to three words joined"
    assert terms.find("MegaMart is open late") == 1
    # short terms (fewer than 6 letters) match only as written: ordinary word pairs
    # would otherwise spell them
    assert terms.find("an al dente dish") is None
    assert terms.find("competitorcoin") is None, "joined spellings are whole words too"


def test_apostrophes_stay_in_words() -> None:
    assert words("He'll say it\u2019s fine") == ["he'll", "say", "it's", "fine"]
    assert words("'quoted' words") == ["quoted", "words"]
    assert BlockedTerms(["hell"]).find("He'll be there") is None


def test_folding() -> None:
    assert words("Æsir ŒUVRE Straße İstanbul Ångström ﬁne Ørsted Łódź") == [
        "aesir",
        "oeuvre",
        "strasse",
        "istanbul",
        "angstrom",
        "fine",
        "orsted",
        "lodz",
    ]


def test_first_match_in_the_text_is_reported() -> None:
    terms = BlockedTerms(["beta", "alpha", "alpha beta"])
    assert terms.find("alpha beta") == 1, "same start: the lowest index"
    assert terms.find("beta then alpha") == 0


def test_terms_without_words_and_duplicates() -> None:
    terms = BlockedTerms(["!!!", "Foo bar", "foo-bar"])
    assert terms.find("!!!") is None
    assert terms.find("foo bar") == 1
    assert not BlockedTerms([])
    assert BlockedTerms([]).find("anything") is None


def test_clause_scanner_finds_terms_across_clauses(terms: BlockedTerms) -> None:
    scanner = ClauseScanner(terms)
    assert scanner.check("Good news, your money back is a refund.") is None
    assert scanner.check("Guaranteed, by the way.") == 1
    scanner.reset()
    assert scanner.check("Guaranteed, by the way.") is None


def test_clause_scanner_reports_a_term_once() -> None:
    scanner = ClauseScanner(BlockedTerms(["refund guaranteed"]))
    assert scanner.check("That's a refund guaranteed.") == 0
    assert scanner.check("Anything else?") is None, "the earlier clause's term is not repeated"


def test_clause_scanner_keeps_only_the_words_it_needs() -> None:
    scanner = ClauseScanner(BlockedTerms(["one two three four five six seven"]))
    for word in ["one", "two three", "four", "five six"]:
        assert scanner.check(word) is None
    assert scanner.check("seven.") == 0
    scanner = ClauseScanner(BlockedTerms(["x y"]))  # short terms: no joined spellings
    assert scanner.check("x") is None
    assert scanner.check("z") is None
    assert scanner.check("y") is None, "x is no longer kept"


def test_clause_scanner_joined_spelling_across_clauses() -> None:
    scanner = ClauseScanner(BlockedTerms(["competitorco"]))
    assert scanner.check("Try Competitor.") is None
    assert scanner.check("Co has it.") == 0


def test_a_thousand_terms() -> None:
    syllables = ["ka", "lo", "mi", "ra", "ven", "tor", "ul", "zes", "pha", "dri"]
    made = [
        f"{syllables[i % 10]}{syllables[i // 10 % 10]}{syllables[i // 100 % 10]} {i}"
        for i in range(997)
    ]
    terms = BlockedTerms([*made, "refund guaranteed", "competitor co", "ass"])
    assert terms.count == 1000
    assert terms.find(f"we stock {made[123]} now") == 123
    assert terms.find("Your refund, guaranteed!") == 997
    assert terms.find("A Competitor-Co store") == 998
    for text in ORDINARY:
        assert terms.find(text) is None, text
    scanner = ClauseScanner(terms)
    assert scanner.check("Everything is a refund") is None
    assert scanner.check("guaranteed.") == 997
