"""Secret references in webhook headers, resolved from the server's environment."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter

from parley.tools.definitions import AnyTool, ToolDefinition
from parley.tools.secrets import MissingSecret, missing_secrets, resolve, secret_names

ENV = {"PARLEY_SECRET_ORDERS": "s3cr3t", "PARLEY_SECRET_EMPTY": ""}


def test_resolve() -> None:
    assert secret_names("Bearer {{secret.ORDERS}} {{ secret.B }} {{secret.ORDERS}}") == [
        "ORDERS",
        "B",
    ]
    assert resolve("Bearer {{ secret.ORDERS }}", ENV) == "Bearer s3cr3t"
    assert resolve("no references {{name}}", ENV) == "no references {{name}}"


@pytest.mark.parametrize("name", ["MISSING", "EMPTY"])
def test_an_unset_or_empty_secret_is_missing(name: str) -> None:
    with pytest.raises(MissingSecret) as caught:
        resolve(f"{{{{secret.{name}}}}}", ENV)
    assert caught.value.env == f"PARLEY_SECRET_{name}"
    assert str(caught.value) == f"the server has no secret PARLEY_SECRET_{name}"


def test_missing_secrets_of_an_agents_tools() -> None:
    tools = TypeAdapter(list[ToolDefinition]).validate_python(
        [
            {"name": "client_side", "description": "x"},
            {
                "type": "webhook",
                "name": "a",
                "description": "x",
                "webhook": {
                    "url": "https://a.example/",
                    "headers": {"X-Key": "{{secret.ORDERS}}", "X-Other": "{{secret.OTHER}}"},
                },
            },
            {
                "type": "webhook",
                "name": "b",
                "description": "x",
                "webhook": {"url": "https://b.example/", "headers": {"X": "{{secret.EMPTY}}"}},
            },
        ]
    )
    typed: list[AnyTool] = tools
    assert missing_secrets(typed, ENV) == ["PARLEY_SECRET_EMPTY", "PARLEY_SECRET_OTHER"]
    assert missing_secrets(typed[:1], ENV) == []
