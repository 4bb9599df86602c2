"""Tool definitions: the discriminated union, what each type accepts and refuses, and what
the LLM sees of them."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from parley.tools.definitions import (
    WEB_SEARCH_TOOL,
    AnyTool,
    ClientTool,
    EndCallTool,
    KnowledgeSearchTool,
    ToolDefinition,
    TransferCallTool,
    WebhookTool,
    repeated_names,
    runs_on_server,
    tool_spec,
    variable_sources,
)

TOOLS: TypeAdapter[list[AnyTool]] = TypeAdapter(list[ToolDefinition])


def one(entry: dict[str, Any]) -> AnyTool:
    return TOOLS.validate_python([entry])[0]


def webhook(**settings: Any) -> dict[str, Any]:
    return {
        "type": "webhook",
        "name": "lookup_order",
        "description": "Find an order",
        "webhook": {"url": "https://orders.example.com/v1/orders", **settings},
    }


def refusal(entry: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        one(entry)
    return str(caught.value.errors()[0]["msg"])


def test_client_tools_keep_the_legacy_shape() -> None:
    plain = one({"name": "get_weather", "description": "Weather"})
    legacy = one({"type": "function", "name": "get_weather", "description": "Weather"})
    assert isinstance(plain, ClientTool) and isinstance(legacy, ClientTool)
    assert legacy.type == "client"
    assert legacy.model_dump() == {
        "type": "client",
        "name": "get_weather",
        "description": "Weather",
        "parameters": {"type": "object", "properties": {}},
    }
    assert not runs_on_server(legacy)


def test_unknown_type_and_extra_fields_are_refused() -> None:
    assert refusal({"type": "ftp", "name": "a", "description": "b"}).startswith(
        "type must be one of: client (or function), webhook"
    )
    assert "Extra inputs" in refusal({"name": "a", "description": "b", "url": "x"})
    assert refusal({"name": "a", "description": "b", "parameters": {"type": "array"}}) == (
        "Value error, parameters.type must be 'object'"
    )


def test_a_webhook_tool_with_its_defaults() -> None:
    tool = one(webhook(method="get", headers={"Authorization": "Bearer {{secret.ORDERS}}"}))
    assert isinstance(tool, WebhookTool)
    assert tool.webhook.method == "GET"
    assert tool.webhook.timeout_ms == 5000
    assert runs_on_server(tool)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"url": "https://x.example/{{secret.KEY}}"},
            "webhook.url refers to {{secret.KEY}}: secrets may only be used in webhook.headers",
        ),
        (
            {"body": {"auth": {"key": "{{ secret.KEY }}"}}},
            "webhook.body refers to {{secret.KEY}}: secrets may only be used in webhook.headers",
        ),
        ({"url": "https://x.example/{{order id}}"}, "webhook.url: {{order id}} is not a valid"),
        ({"url": "https://x.example/{{id"}, "webhook.url: has '{{' without a closing '}}'"),
        ({"url": "https://x.example/{{secret.}}"}, "is not a valid secret reference"),
        ({"url": "ftp://x.example/"}, "must be an http:// or https:// URL with a host"),
        ({"url": "https://user:pw@x.example/"}, "must not hold credentials"),
        ({"headers": {"X Key": "v"}}, "'X Key' is not a valid header name"),
        ({"headers": {"Content-Length": "1"}}, "Content-Length is set by the server"),
        ({"headers": {"Parley-Signature": "x"}}, "Parley-Signature is set by the server"),
        ({"headers": {"X-A": "a\r\nX-B: b"}}, "X-A must be one line"),
        ({"headers": {"X-A": "{{customer}}"}}, "may only hold {{secret.NAME}} references"),
        ({"headers": {f"X-{i}": "v" for i in range(21)}}, "at most 20 headers"),
        ({"timeout_ms": 50}, "greater than or equal to 100"),
        ({"timeout_ms": 30_001}, "less than or equal to 30000"),
        ({"timeout_ms": True}, "valid integer"),
        ({"method": "TRACE"}, "Input should be 'GET', 'POST', 'PUT', 'PATCH' or 'DELETE'"),
    ],
)
def test_webhook_settings_are_checked(settings: dict[str, Any], message: str) -> None:
    assert message in refusal(webhook(**settings))


def test_fixed_body_fields_may_not_also_be_arguments() -> None:
    entry = webhook(body={"order_id": "{{order}}"})
    entry["parameters"] = {"type": "object", "properties": {"order_id": {"type": "string"}}}
    assert "webhook.body fixes ['order_id'], which parameters also lets the LLM fill" in (
        refusal(entry)
    )


def test_what_the_llm_sees_of_a_webhook() -> None:
    entry = webhook(
        url="https://orders.example.com/{{tenant}}",
        headers={"X-Key": "{{secret.ORDERS}}"},
        body={"tenant": "{{tenant}}"},
    )
    entry["parameters"] = {"type": "object", "properties": {"id": {"type": "string"}}}
    spec = tool_spec(one(entry))
    assert spec.name == "lookup_order"
    assert spec.parameters == entry["parameters"]
    assert "orders.example.com" not in repr(spec) and "secret" not in repr(spec)


def test_built_ins_have_defaults() -> None:
    end = one({"type": "end_call"})
    assert isinstance(end, EndCallTool)
    assert (end.name, end.message) == ("end_call", "Thank you for calling. Goodbye!")
    assert tool_spec(end).parameters == {"type": "object", "properties": {}}
    search = one({"type": "knowledge_search"})
    assert isinstance(search, KnowledgeSearchTool) and search.k == 5
    assert tool_spec(search).parameters["required"] == ["query"]
    assert WEB_SEARCH_TOOL.name == "web_search"
    assert WEB_SEARCH_TOOL.parameters["required"] == ["query"]


def test_transfer_destinations() -> None:
    tool = one(
        {
            "type": "transfer_call",
            "destinations": [
                {"name": "Sales", "phone_number": "+14155550123", "description": "buying"},
                {"name": "Support", "phone_number": "+442071838750"},
            ],
        }
    )
    assert isinstance(tool, TransferCallTool)
    spec = tool_spec(tool)
    destination = spec.parameters["properties"]["destination"]
    assert destination["enum"] == ["Sales", "Support"]
    assert "Sales: buying" in destination["description"]
    assert "+1415" not in repr(spec)
    bad_number = {"type": "transfer_call", "destinations": [{"name": "S", "phone_number": "555"}]}
    assert "phone_number must be E.164" in refusal(bad_number)
    twice = {
        "type": "transfer_call",
        "destinations": [
            {"name": "Sales", "phone_number": "+14155550123"},
            {"name": "sales", "phone_number": "+14155550124"},
        ],
    }
    assert "destination names must be unique" in refusal(twice)
    assert "at least 1 item" in refusal({"type": "transfer_call", "destinations": []})


def test_names_and_variable_sources() -> None:
    tools = TOOLS.validate_python(
        [
            {"type": "end_call"},
            {"type": "end_call", "name": "web_search"},
            webhook(url="https://x.example/{{a}}", body={"b": "{{b}}"}),
        ]
    )
    assert repeated_names(tools) == []
    assert repeated_names(tools, web_search=True) == ["web_search"]
    assert variable_sources(tools) == {
        "tool lookup_order: webhook.url": "https://x.example/{{a}}",
        "tool lookup_order: webhook.body": {"b": "{{b}}"},
    }


def test_the_union_has_an_openapi_schema() -> None:
    schema = TOOLS.json_schema()
    assert set(schema["$defs"]) >= {"ClientTool", "WebhookTool", "TransferCallTool"}


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"type": "object", "properties": {"a": {"type": "text"}}}, "parameters.properties.a.type"),
        ({"type": "object", "required": ["a"]}, "required names undefined properties: ['a']"),
        ({"type": "object", "properties": {"a": {"type": "string", "enum": []}}}, "non-empty"),
        ({"type": "object", "properties": {"a": {"description": 3}}}, "must be a string"),
    ],
)
def test_parameters_are_a_json_schema(parameters: dict[str, Any], message: str) -> None:
    assert message in refusal({"name": "a", "description": "b", "parameters": parameters})
