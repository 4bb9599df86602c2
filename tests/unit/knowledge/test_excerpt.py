"""Excerpts: the sentences of a passage that answer the question, within a word budget."""

from __future__ import annotations

from parley.knowledge.excerpt import excerpt

TEXT = (
    "Every Aurora comes with a three-year warranty from the date of delivery. "
    "The Nimbus travel kettle has a two-year warranty. "
    "Register your kettle online to get a free descaling kit. "
    "Our support line is open Monday to Saturday."
)


def test_the_sentences_sharing_the_questions_words_in_their_order() -> None:
    assert excerpt(TEXT, "how long is the warranty on the Nimbus?", max_words=25) == (
        "Every Aurora comes with a three-year warranty from the date of delivery. "
        "The Nimbus travel kettle has a two-year warranty."
    )
    assert excerpt(TEXT, "is the support line open on saturday", max_words=10) == (
        "Our support line is open Monday to Saturday."
    )


def test_the_budget_keeps_the_best_sentence_whole() -> None:
    assert excerpt(TEXT, "nimbus warranty", max_words=3) == (
        "The Nimbus travel kettle has a two-year warranty."
    )


def test_neighbours_fill_the_budget() -> None:
    assert excerpt(TEXT, "is the support line open on saturday", max_words=20) == (
        "Register your kettle online to get a free descaling kit. "
        "Our support line is open Monday to Saturday."
    )
    assert excerpt(TEXT, "warranty", max_words=90) == TEXT


def test_no_shared_word_gives_the_start() -> None:
    assert excerpt(TEXT, "hello", max_words=14).startswith("Every Aurora comes")
    assert excerpt("", "anything") == ""
