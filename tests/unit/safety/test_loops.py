"""Loop detection: repeated replies, user turns and tool calls, no progress, reset."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from parley.safety.loops import (
    END_LINE,
    SAY_LINE,
    LoopDetector,
    LoopFinding,
    LoopSettings,
    similarity,
    utterance_words,
)

ORDINARY = [
    ("Hi, I'd like to check on my order.", "Sure, could you give me your order number?"),
    ("It's 4 8 1 5 1 6.", "Thanks. Order 481516 shipped yesterday and arrives Friday."),
    ("Can I change the delivery address?", "Yes. What is the new address?"),
    ("12 Elm Street, Springfield.", "Done: the parcel will go to 12 Elm Street, Springfield."),
    ("Great, and can I add a gift note?", "Gift notes can't be added after shipping, sorry."),
    ("Okay.", "Is there anything else I can help you with?"),
    ("What's your return policy?", "You can return unused items within 30 days for a refund."),
    ("Do I pay for return shipping?", "No, returns are free with the prepaid label we email."),
    ("Yes.", "Anything else I can do for you today?"),
    ("No, that's all. Thanks!", "Thank you for calling, have a great day."),
]


def test_ordinary_conversation_has_no_findings() -> None:
    detector = LoopDetector()
    for user, agent in ORDINARY:
        assert detector.user_turn(user) is None
        assert detector.agent_turn(agent, []) is None


def test_agent_near_duplicates_trigger_at_the_threshold() -> None:
    detector = LoopDetector(LoopSettings(agent_repeats=3))
    replies = [
        "I'm sorry, I didn't catch that. Could you repeat your order number?",
        "Sorry, I didn't catch that. Could you repeat your order number, please?",
        "I'm sorry, I didn't catch that! Could you repeat the order number?",
    ]
    assert detector.agent_turn(replies[0], []) is None
    assert detector.agent_turn(replies[1], []) is None, "two is not yet a loop"
    finding = detector.agent_turn(replies[2], [])
    assert finding == LoopFinding("agent_repeats", 3, "agent_repeats x3")


def test_agent_repeats_within_the_window_only() -> None:
    detector = LoopDetector(LoopSettings(agent_repeats=3, no_progress_turns=0))
    same = "Could you tell me the order number on your receipt?"
    others = [
        "Your parcel left the warehouse on Monday.",
        "The courier delivers between nine and five.",
        "Refunds go back to the original card.",
        "The store in Springfield closes at eight tonight.",
    ]
    assert detector.agent_turn(same, []) is None
    for other in others[:3]:
        assert detector.agent_turn(other, []) is None
    assert detector.agent_turn(same, []) is None
    assert detector.agent_turn(others[3], []) is None
    # the first one fell out of the window (the last 5 replies): two in it
    assert detector.agent_turn(same, []) is None
    assert detector.agent_turn(same, []) is not None


def test_paraphrases_below_the_similarity_do_not_count() -> None:
    detector = LoopDetector(LoopSettings(agent_repeats=2, no_progress_turns=0))
    assert detector.agent_turn("I can reset your password. What's your email address?") is None
    assert (
        detector.agent_turn("Let's get that password sorted: which email do you sign in with?")
        is None
    )
    a = utterance_words("I can reset your password. What's your email address?")
    b = utterance_words("Let's get that password sorted: which email do you sign in with?")
    assert similarity(a, b) < 0.85


def test_user_repeating_with_small_variations_triggers() -> None:
    detector = LoopDetector()
    assert detector.user_turn("I want to cancel my order.") is None
    assert detector.user_turn("Um, I just want to cancel my order!") is None
    finding = detector.user_turn("I want to cancel my order, please.")
    assert finding is not None
    assert (finding.signal, finding.count) == ("user_repeats", 3)
    assert "cancel" not in finding.detail, "no user words in the detail"


def test_short_answers_are_not_repeats() -> None:
    detector = LoopDetector(LoopSettings(user_repeats=2))
    for text in ["yes", "no", "okay", "Yes.", "No!", "okay", "Yes please", "I don't know"] * 2:
        assert detector.user_turn(text) is None, text
    for text in ["Sounds good.", "That's correct.", "Thank you so much!"] * 2:
        assert detector.user_turn(text) is None, text


def test_short_answers_in_between_still_fill_the_window() -> None:
    detector = LoopDetector()
    turns = ["Cancel my order.", "yes", "cancel my order", "no", "Cancel my order!"]
    results = [detector.user_turn(t) for t in turns]
    assert results[:4] == [None] * 4
    assert results[4] is not None


def test_same_tool_and_arguments_triggers() -> None:
    detector = LoopDetector(LoopSettings(no_progress_turns=0))
    call = ("lookup_order", {"order_id": "481516", "include": ["items", "status"]})
    assert detector.agent_turn("Let me look that up.", [call]) is None
    assert detector.agent_turn("Checking again.", [call]) is None
    reordered = ("lookup_order", {"include": ["items", "status"], "order_id": "481516"})
    finding = detector.agent_turn("One more time.", [reordered])
    assert finding == LoopFinding("tool_repeats", 3, "tool_repeats x3 (lookup_order)")


def test_different_tool_arguments_do_not_trigger() -> None:
    detector = LoopDetector(LoopSettings(no_progress_turns=0))
    for order in ["1001", "1002", "1003", "1004"]:
        assert detector.agent_turn(f"Order {order}:", [("lookup_order", {"id": order})]) is None
    for name in ["lookup_order", "track_parcel", "get_invoice"]:
        assert detector.agent_turn(f"Using {name}.", [(name, {"id": "1001"})]) is None


def test_no_progress() -> None:
    detector = LoopDetector(LoopSettings(no_progress_turns=4, agent_repeats=10))
    assert detector.agent_turn("I need your order number to look up the parcel.") is None
    stuck = [
        "I need the order number to look up your parcel.",
        "To look up the parcel, I need the order number.",
        "Your parcel: I need its order number to look it up.",
    ]
    for text in stuck:
        assert detector.agent_turn(text) is None, "fewer than 4 replies since the start"
    finding = detector.agent_turn("The order number, please, so I can look up the parcel.")
    assert finding == LoopFinding("no_progress", 4, "no_progress x4")


def test_replies_with_new_content_are_progress() -> None:
    detector = LoopDetector(LoopSettings(no_progress_turns=3))
    for text in [
        "Your order number is 1001.",
        "It shipped on Monday from Denver.",
        "The courier is UPS; tracking ends in 4432.",
        "Delivery is expected Thursday afternoon.",
        "You can change the address online until Wednesday.",
    ]:
        assert detector.agent_turn(text) is None


def test_reset_after_a_finding_restarts_that_count() -> None:
    detector = LoopDetector(LoopSettings(no_progress_turns=0))
    text = "Could you repeat your order number for me?"
    assert detector.agent_turn(text) is None
    assert detector.agent_turn(text) is None
    finding = detector.agent_turn(text)
    assert finding is not None
    detector.reset_after(finding)
    assert detector.agent_turn(text) is None, "one loop is reported once"
    assert detector.agent_turn(text) is None
    assert detector.agent_turn(text) == finding, "a loop that goes on is reported again"


def test_reset_after_only_touches_its_signal() -> None:
    detector = LoopDetector(LoopSettings(no_progress_turns=0))
    for _ in range(2):
        detector.user_turn("I want to talk to a human agent")
        detector.agent_turn("I can help you with that here, what do you need?")
    user = detector.user_turn("I want to talk to a human agent")
    assert user is not None
    detector.reset_after(user)
    assert detector.agent_turn("I can help you with that here, what do you need?") is not None


def test_disabled_finds_nothing() -> None:
    detector = LoopDetector(LoopSettings(enabled=False))
    for _ in range(5):
        assert detector.user_turn("I want to cancel my order") is None
        assert detector.agent_turn("Please hold on.", [("lookup", {"id": 1})]) is None


def test_settings_validation_and_lines() -> None:
    assert LoopSettings().model_dump() == {
        "enabled": True,
        "agent_repeats": 3,
        "user_repeats": 3,
        "tool_repeats": 3,
        "no_progress_turns": 6,
        "similarity": 0.85,
        "action": "steer",
        "line": None,
    }
    for bad in [
        {"agent_repeats": 1},
        {"user_repeats": 11},
        {"no_progress_turns": 2},
        {"no_progress_turns": 51},
        {"similarity": 0.4},
        {"action": "shout"},
        {"line": ""},
        {"line": "two\nlines"},
        {"unknown": 1},
    ]:
        with pytest.raises(ValidationError):
            LoopSettings.model_validate(bad)
    assert LoopSettings(no_progress_turns=0).no_progress_turns == 0
    assert LoopSettings(action="say").spoken_line() == SAY_LINE
    assert LoopSettings(action="end").spoken_line() == END_LINE
    assert LoopSettings(action="end", line="Bye now.").spoken_line() == "Bye now."
    schema = LoopSettings.model_json_schema()["properties"]
    assert all(field.get("description") for field in schema.values())
