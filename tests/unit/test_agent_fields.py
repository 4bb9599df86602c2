"""The agent's fields are declared once (``parley.server.agent_fields``); the places that
cannot derive from that declaration are checked against it here: storage, the Python
client's ``Agent`` and the dashboard's agent form."""

from __future__ import annotations

import inspect
import re
from dataclasses import fields
from datetime import datetime
from importlib import resources
from typing import Any, get_type_hints

import pytest
from pydantic import BaseModel

from parley.client import Agent as ClientAgent
from parley.config import TurnSettings
from parley.server.agent_fields import (
    AGENT_FIELDS,
    NOT_NULL,
    TURN_SETTINGS,
    Agent,
    AgentCreate,
    AgentUpdate,
    ProviderOverrides,
)
from parley.storage import AgentRecord, AgentRepository
from parley.storage.models import AgentRow

DASHBOARD = resources.files("parley.web") / "dashboard" / "js"


def _properties(model: type[BaseModel]) -> dict[str, dict[str, Any]]:
    """Each field's JSON Schema, the ``X`` of an ``X | None`` merged in."""
    merged: dict[str, dict[str, Any]] = {}
    for name, schema in model.model_json_schema()["properties"].items():
        merged[name] = dict(schema)
        for branch in schema.get("anyOf", []):
            if branch.get("type") != "null":
                merged[name].update(branch)
    return merged


def test_the_models_derive_from_the_declaration() -> None:
    inputs = [n for n, f in AGENT_FIELDS.items() if f.accepts is not None]
    assert list(Agent.model_fields) == list(AGENT_FIELDS)
    assert list(AgentUpdate.model_fields) == inputs
    assert list(AgentCreate.model_fields) == [n for n in inputs if n != "status"]
    assert [n for n, f in AgentCreate.model_fields.items() if f.is_required()] == [
        "name",
        "system_prompt",
    ]
    assert not any(f.is_required() for f in AgentUpdate.model_fields.values())
    never_null = {"name", "system_prompt", "voice_id", "language", "tools", "max_turns"}
    assert (
        never_null | {"knowledge_base_ids", "web_search", "metadata", "status", "voices"}
        == NOT_NULL
    )
    update = AgentUpdate.model_json_schema()["properties"]
    for name in AgentUpdate.model_fields:  # the schema says which fields take null
        takes_null = any(b.get("type") == "null" for b in update[name].get("anyOf", []))
        assert takes_null == (name not in NOT_NULL), name


def test_turn_settings_have_the_bounds_of_the_server_settings() -> None:
    agent, server = _properties(AgentCreate), TurnSettings.model_json_schema()["properties"]
    for name in TURN_SETTINGS:
        for bound in ("minimum", "maximum", "type"):
            assert agent[name].get(bound) == server[name].get(bound), (name, bound)


def test_the_client_agent_has_the_fields_of_the_response() -> None:
    client = get_type_hints(ClientAgent)
    assert list(client) == list(Agent.model_fields)
    for name, info in Agent.model_fields.items():
        expected = str if info.annotation is datetime else info.annotation
        assert client[name] == expected, name
    assert ClientAgent.__required_keys__ == frozenset(Agent.model_fields)


def test_storage_keeps_every_field_but_the_turn_settings() -> None:
    stored = {n for n, f in AGENT_FIELDS.items() if not f.turn}  # turn settings: in settings
    assert {f.name for f in fields(AgentRecord)} == stored
    secret = {"signing_secret"}  # the webhook signing secret: never in a record or response
    assert set(AgentRow.__table__.columns.keys()) == stored | secret
    params = inspect.signature(AgentRepository.create).parameters
    created = {n for n, f in AGENT_FIELDS.items() if f.serves("create") and not f.turn}
    assert set(params) - {"self", "agent_id"} == created | {"settings"}
    for name in created:  # where storage has a default of its own, it is the API's
        default = params[name].default
        if default not in (inspect.Parameter.empty, None):
            assert default == AgentCreate.model_fields[name].get_default(), name


def _js(name: str) -> str:
    return (DASHBOARD / name).read_text(encoding="utf-8")


def _between(text: str, start: str, end: str) -> str:
    head = text.index(start) + len(start)
    return text[head : text.index(end, head)]


def test_the_dashboard_form_sends_the_fields_of_the_api() -> None:
    form = _js("views/agent-form.js")
    payload = _between(form, "function payload() {", "\n  }\n")
    literal = _between(payload, "const body = {", "\n    };")
    sent = set(re.findall(r"^ {6}(\w+):", literal, re.MULTILINE))
    sent |= set(re.findall(r"\bbody\.(\w+) =(?!=)", payload))
    assert "body[f.name] = " in payload  # and one per turn field:
    turn_fields = re.findall(r'\{ name: "(\w+)"', _between(form, "const TURN_FIELDS = [", "];"))
    sent |= set(turn_fields)
    assert sent == set(AgentUpdate.model_fields)
    assert sent - {"status"} == set(AgentCreate.model_fields)  # status: when editing

    overrides = set(re.findall(r"\bpo\.(\w+) =(?!=)", payload))
    kinds = re.search(r"for \(const kind of \[([^\]]*)\]\) if \(providerInputs", payload)
    assert kinds is not None and "po[kind] =" in payload
    overrides |= set(re.findall(r'"(\w+)"', kinds.group(1)))
    assert overrides == set(ProviderOverrides.model_fields)

    data = _js("data.js")
    listed = re.findall(r'"(\w+)"', _between(data, "export const TURN_SETTINGS = [", "];"))
    assert tuple(listed) == TURN_SETTINGS
    assert set(turn_fields) == set(TURN_SETTINGS) - {"record_audio", "turn_detection"}  # selects


@pytest.mark.parametrize(
    ("prop", "keyword"), [("min", "minimum"), ("max", "maximum"), ("maxlength", "maxLength")]
)
def test_the_dashboard_form_has_the_bounds_of_the_api(prop: str, keyword: str) -> None:
    schemas = {**_properties(AgentCreate), **_properties(ProviderOverrides)}
    controls = re.findall(r'\{ name: "(\w+)",([^}]*)\}', _js("views/agent-form.js"))
    checked = 0
    for name, props in controls:
        found = re.search(rf"\b{prop}: ([\d.]+)", props)
        if found and name in schemas and keyword in schemas[name]:
            assert float(found.group(1)) == schemas[name][keyword], (name, prop)
            checked += 1
    assert checked >= 3
