"""Dynamic variables: finding, checking and filling ``{{name}}`` placeholders."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from parley.tools.variables import (
    MissingVariables,
    check_filled,
    fill,
    fill_json,
    fill_url,
    placeholders,
    session_variables,
    template_problem,
)

NOW = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)


def test_placeholders_are_variables_only() -> None:
    text = "Hi {{name}}, order {{ order.id }}; key {{secret.KEY}}; {{bad name}} {{"
    assert placeholders(text) == {"name", "order.id"}


def test_template_problems() -> None:
    assert template_problem("Hi {{name}} {{secret.K}}") is None
    assert template_problem("plain {braces} and }} are fine") is None
    assert template_problem("{{1st}}") == (
        "{{1st}} is not a valid variable: a name is letters, digits, '_' and '.', starting "
        "with a letter or '_'"
    )
    assert template_problem("{{}}") is not None
    assert template_problem("Hi {{name") == "has '{{' without a closing '}}'"
    assert "not a valid secret reference" in (template_problem("{{secret.a-b}}") or "")


def test_fill_leaves_secrets_for_the_call() -> None:
    values = {"name": "Ada", "order.id": "A-1"}
    text = "Hi {{name}}, order {{ order.id }}; {{secret.KEY}}"
    assert fill(text, values) == "Hi Ada, order A-1; {{secret.KEY}}"


def test_one_missing_variable_is_named_with_where_it_came_from() -> None:
    with pytest.raises(MissingVariables) as caught:
        fill("Hello {{customer_name}}", {"session_id": "s"}, where="system_prompt")
    assert str(caught.value) == (
        "system_prompt needs {{customer_name}}, which is neither in the session's metadata "
        "nor a built-in variable ({{session_id}}, {{agent_id}}, {{now}}, {{caller_number}})"
    )
    assert caught.value.names == ["customer_name"]


def test_every_missing_variable_is_named() -> None:
    with pytest.raises(MissingVariables) as caught:
        check_filled(
            {
                "system_prompt": "{{a}} {{b}} {{ok}}",
                "first_message": None,
                "tool t: webhook.body": {"x": ["{{c}}"], "n": 1},
                "tool t: webhook.url": "https://x/{{caller_number}}",
            },
            {"ok": "1"},
        )
    message = str(caught.value)
    assert message.startswith(
        "system_prompt needs {{a}} and {{b}}; tool t: webhook.body needs {{c}}; "
        "tool t: webhook.url needs {{caller_number}}, which are neither"
    )
    assert message.endswith("{{caller_number}} is only known on phone calls")
    assert caught.value.names == ["a", "b", "c", "caller_number"]


def test_url_values_are_percent_encoded() -> None:
    url = fill_url("https://x.example/orders/{{id}}?q={{q}}", {"id": "../a?b", "q": "a&b=c"})
    assert url == "https://x.example/orders/..%2Fa%3Fb?q=a%26b%3Dc"


def test_json_templates_are_filled_as_plain_strings() -> None:
    template = {"customer": "{{name}}", "tags": ["{{name}}", 3], "nested": {"n": "#{{n}}"}}
    values = {"name": 'Ada", "admin": true, "x": "', "n": "7"}
    filled = fill_json(template, values)
    assert filled == {
        "customer": values["name"],
        "tags": [values["name"], 3],
        "nested": {"n": "#7"},
    }
    with pytest.raises(MissingVariables, match=r"the body needs \{\{name\}\}"):
        fill_json(template, {"n": "1"})


def test_session_variables() -> None:
    metadata = {
        "customer_name": "Ada",
        "vip": True,
        "visits": 3,
        "balance": 12.5,
        "customer": {"tier": "gold", "address": {"city": "Paris"}},
        "tags": ["a", "b"],
        "nothing": None,
        "session_id": "spoofed",
    }
    values = session_variables(
        metadata, session_id="ses_1", agent_id="agt_1", now=NOW, caller_number=None
    )
    assert values == {
        "customer_name": "Ada",
        "vip": "true",
        "visits": "3",
        "balance": "12.5",
        "customer.tier": "gold",
        "customer.address.city": "Paris",
        "session_id": "ses_1",
        "agent_id": "agt_1",
        "now": "2026-03-01T09:30:15+00:00",
    }
    phone = session_variables({}, session_id="s", agent_id="a", now=NOW, caller_number="+1555")
    assert phone["caller_number"] == "+1555"
    assert fill("{{customer.address.city}}", values) == "Paris"
