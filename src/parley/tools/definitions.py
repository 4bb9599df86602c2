"""Tool definitions on an agent: a list discriminated by ``type``.

- ``client`` (legacy ``function``): the client runs it and answers ``tool_result``;
- ``webhook``: the server calls an HTTP endpoint (:mod:`parley.tools.webhook`);
- built-ins the server runs itself: ``end_call``, ``transfer_call``, ``knowledge_search``.

Web search is not an entry: ``web_search: true`` on the agent adds :data:`WEB_SEARCH_TOOL`.
:func:`tool_spec` is what the LLM sees of a definition: never URLs, headers, secrets or
phone numbers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictInt,
    Tag,
    field_validator,
    model_validator,
)

from parley.languages.packs import ENGLISH
from parley.providers.llm.base import ToolSpec
from parley.single_line import ONE_LINE
from parley.tools.secrets import secret_names
from parley.tools.variables import placeholders, strings, template_problem

ToolName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")]
Description = Annotated[str, Field(min_length=1, max_length=1024)]
Line = Annotated[str, Field(min_length=1, max_length=500), ONE_LINE]
MAX_TEMPLATE_BYTES = 16_384
MAX_PARAMETERS_BYTES = 16_384
_JSON_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}
_MAX_SCHEMA_DEPTH = 16
MAX_HEADERS = 20
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
_RESERVED_HEADERS = frozenset(
    {"host", "content-length", "content-type", "transfer-encoding", "connection", "user-agent"}
    | {"parley-signature"}
)
_NO_ARGUMENTS: dict[str, Any] = {"type": "object", "properties": {}}


def _query_parameters() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"query": {"type": "string", "description": "what to look up"}},
        "required": ["query"],
    }


def check_json_schema(schema: Any, path: str, depth: int = 0) -> None:
    """A structural check of a JSON Schema: known types, properties, required, items."""
    if not isinstance(schema, dict):
        raise ValueError(f"{path} must be a JSON Schema object")
    if depth > _MAX_SCHEMA_DEPTH:
        raise ValueError(f"{path} is nested more than {_MAX_SCHEMA_DEPTH} levels deep")
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        bad = [k for k in kinds if not isinstance(k, str) or k not in _JSON_TYPES]
        if bad or not kinds:
            raise ValueError(f"{path}.type must be one of {sorted(_JSON_TYPES)}")
    if "description" in schema and not isinstance(schema["description"], str):
        raise ValueError(f"{path}.description must be a string")
    properties = schema.get("properties")
    if properties is not None:
        if not isinstance(properties, dict):
            raise ValueError(f"{path}.properties must be an object")
        for name, sub in properties.items():
            check_json_schema(sub, f"{path}.properties.{name}", depth + 1)
    required = schema.get("required")
    if required is not None:
        if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
            raise ValueError(f"{path}.required must be a list of property names")
        missing = [r for r in required if properties is None or r not in properties]
        if missing:
            raise ValueError(f"{path}.required names undefined properties: {missing}")
    if "items" in schema:
        check_json_schema(schema["items"], f"{path}.items", depth + 1)
    if "enum" in schema and (not isinstance(schema["enum"], list) or not schema["enum"]):
        raise ValueError(f"{path}.enum must be a non-empty list")


def check_parameters(value: dict[str, Any]) -> dict[str, Any]:
    """A tool's ``parameters``: a JSON Schema of type object, at most 16 KB."""
    if value.get("type") != "object":
        raise ValueError("parameters.type must be 'object'")
    check_json_schema(value, "parameters")
    if len(json.dumps(value)) > MAX_PARAMETERS_BYTES:
        raise ValueError(f"parameters is larger than {MAX_PARAMETERS_BYTES} bytes")
    return value


class _Function(BaseModel):
    """A tool whose arguments the agent's owner describes."""

    model_config = ConfigDict(extra="forbid")

    type: str
    name: ToolName
    description: Description
    parameters: dict[str, Any] = Field(
        default_factory=lambda: dict(_NO_ARGUMENTS),
        description="JSON Schema of the arguments; its type must be 'object'",
    )

    _parameters = field_validator("parameters")(check_parameters)


class ClientTool(_Function):
    """A function the client runs: it gets a ``tool_call`` event and answers with
    ``tool_result``."""

    type: Literal["client"] = "client"

    @field_validator("type", mode="before")
    @classmethod
    def _legacy(cls, value: Any) -> Any:
        return "client" if value == "function" else value


def _template(text: str, where: str, *, secrets: bool) -> None:
    problem = template_problem(text)
    if problem is not None:
        raise ValueError(f"{where}: {problem}")
    if not secrets and (names := secret_names(text)):
        raise ValueError(
            f"{where} refers to {{{{secret.{names[0]}}}}}: secrets may only be used in "
            "webhook.headers"
        )


class Webhook(BaseModel):
    """Where and how a webhook tool is called."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        min_length=1,
        max_length=2048,
        description="http(s) URL; may hold {{variables}} (filled percent-encoded)",
    )
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = Field(
        "POST",
        description="POST, PUT, PATCH: arguments as the JSON body; GET, DELETE: as the query",
    )
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="sent as they are; values may hold {{secret.NAME}} (the server's "
        "environment variable PARLEY_SECRET_NAME)",
    )
    timeout_ms: Annotated[StrictInt, Field(ge=100, le=30_000)] = 5000
    body: dict[str, Any] | None = Field(
        None,
        description="fixed JSON fields sent with the LLM's arguments; strings may hold "
        "{{variables}}",
    )

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        _template(value, "webhook.url", secrets=False)
        probe = urlsplit(re.sub(r"\{\{.*?\}\}", "x", value))
        if probe.scheme not in ("http", "https") or not probe.hostname:
            raise ValueError("webhook.url must be an http:// or https:// URL with a host")
        if probe.username is not None or probe.password is not None:
            raise ValueError(
                "webhook.url must not hold credentials; send them in webhook.headers with "
                "{{secret.NAME}}"
            )
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_HEADERS:
            raise ValueError(f"webhook.headers holds at most {MAX_HEADERS} headers")
        for name, text in value.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"webhook.headers: {name!r} is not a valid header name")
            if name.lower() in _RESERVED_HEADERS:
                raise ValueError(f"webhook.headers: {name} is set by the server")
            if len(text) > 4096 or re.search(r"[\x00-\x08\x0a-\x1f\x7f]", text):
                raise ValueError(
                    f"webhook.headers: {name} must be one line of at most 4096 characters"
                )
            _template(text, f"webhook.headers.{name}", secrets=True)
            if found := placeholders(text):
                raise ValueError(
                    f"webhook.headers.{name} uses {{{{{sorted(found)[0]}}}}}: header values "
                    "may only hold {{secret.NAME}} references"
                )
        return value

    @field_validator("body")
    @classmethod
    def _body(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        if len(json.dumps(value)) > MAX_TEMPLATE_BYTES:
            raise ValueError(f"webhook.body is larger than {MAX_TEMPLATE_BYTES} bytes")
        for text in strings(value):
            _template(text, "webhook.body", secrets=False)
        return value


class WebhookTool(_Function):
    """A function the server runs by calling an HTTP endpoint."""

    type: Literal["webhook"]
    webhook: Webhook
    filler: Line | None = Field(
        None, description="said when the call takes longer than 700 ms (default: a stock line)"
    )

    @model_validator(mode="after")
    def _fixed_fields(self) -> WebhookTool:
        fixed = set(self.webhook.body or {}) & set(self.parameters.get("properties", {}))
        if fixed:
            raise ValueError(
                f"webhook.body fixes {sorted(fixed)}, which parameters also lets the LLM "
                "fill; remove them from one of the two"
            )
        return self


class EndCallTool(BaseModel):
    """The agent says ``message`` and hangs up (end reason ``agent_ended``)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["end_call"]
    name: ToolName = "end_call"
    description: Description = (
        "End the call: use it when the caller says goodbye or the conversation is over. "
        "The goodbye line is said for you; do not say goodbye yourself."
    )
    message: Line = ENGLISH.lines.end_call  # other languages: LanguagePack.lines.end_call


def _e164(value: str) -> str:
    if not re.fullmatch(r"\+[1-9][0-9]{1,14}", value):
        raise ValueError(
            "phone_number must be E.164: '+', the country code and number, "
            "at most 15 digits, e.g. +14155550123"
        )
    return value


class Destination(BaseModel):
    """A number the call may be transferred to."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=100), ONE_LINE]
    phone_number: Annotated[str, AfterValidator(_e164)] = Field(
        description="E.164, e.g. +14155550123"
    )
    description: Annotated[str, Field(max_length=300), ONE_LINE] | None = Field(
        None, description="when to choose it (the LLM sees this, never the number)"
    )


class TransferCallTool(BaseModel):
    """Transfers the call to one of ``destinations`` (Twilio: redirected; elsewhere the
    client gets a ``transfer`` event)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["transfer_call"]
    name: ToolName = "transfer_call"
    description: Description = (
        "Transfer the caller to a person or department. Use it when the caller asks for "
        "someone or you cannot help; tell the caller before you transfer them."
    )
    destinations: Annotated[list[Destination], Field(min_length=1, max_length=20)]
    message: Line = "Transferring you now."

    @field_validator("destinations")
    @classmethod
    def _unique(cls, value: list[Destination]) -> list[Destination]:
        names = [d.name.casefold() for d in value]
        repeated = sorted({d.name for d in value if names.count(d.name.casefold()) > 1})
        if repeated:
            raise ValueError(f"destination names must be unique; repeated: {repeated}")
        return value


class KnowledgeSearchTool(BaseModel):
    """An explicit lookup in the agent's knowledge bases."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["knowledge_search"]
    name: ToolName = "knowledge_search"
    description: Description = (
        "Search the documents this agent knows (product facts, policies, prices). Use it "
        "before answering a question whose answer may be in them."
    )
    k: Annotated[StrictInt, Field(ge=1, le=20)] = 5


def _kind(value: Any) -> str | None:
    """The tag of a definition; no ``type`` and the legacy ``function`` mean client."""
    kind = value.get("type", "client") if isinstance(value, dict) else getattr(value, "type", None)
    return "client" if kind == "function" else kind


ToolDefinition = Annotated[
    Annotated[ClientTool, Tag("client")]
    | Annotated[WebhookTool, Tag("webhook")]
    | Annotated[EndCallTool, Tag("end_call")]
    | Annotated[TransferCallTool, Tag("transfer_call")]
    | Annotated[KnowledgeSearchTool, Tag("knowledge_search")],
    Discriminator(
        _kind,
        custom_error_type="tool_type",
        custom_error_message="type must be one of: client (or function), webhook, end_call, "
        "transfer_call, knowledge_search",
    ),
]
"""One tool definition as an agent stores it."""
AnyTool = ClientTool | WebhookTool | EndCallTool | TransferCallTool | KnowledgeSearchTool
TOOL_TYPES = ("client", "webhook", "end_call", "transfer_call", "knowledge_search")

WEB_SEARCH_TOOL = ToolSpec(
    "web_search",
    "Search the web for current information (news, opening hours, facts you do not know). "
    "Say where the answer came from.",
    _query_parameters(),
)


def tool_spec(defn: AnyTool) -> ToolSpec:
    """What the LLM sees of ``defn``."""
    if isinstance(defn, ClientTool | WebhookTool):
        return ToolSpec(defn.name, defn.description, defn.parameters)
    if isinstance(defn, EndCallTool):
        return ToolSpec(defn.name, defn.description, dict(_NO_ARGUMENTS))
    if isinstance(defn, KnowledgeSearchTool):
        return ToolSpec(defn.name, defn.description, _query_parameters())
    choices = "; ".join(
        d.name + (f": {d.description}" if d.description else "") for d in defn.destinations
    )
    destination = {
        "type": "string",
        "enum": [d.name for d in defn.destinations],
        "description": f"who to transfer to ({choices})",
    }
    parameters = {
        "type": "object",
        "properties": {"destination": destination},
        "required": ["destination"],
    }
    return ToolSpec(defn.name, defn.description, parameters)


def runs_on_server(defn: AnyTool) -> bool:
    """Whether the server runs ``defn`` (every type but ``client``)."""
    return not isinstance(defn, ClientTool)


def repeated_names(defns: Iterable[AnyTool], *, web_search: bool = False) -> list[str]:
    """Tool names used more than once (``web_search`` counts when it is on)."""
    names = [d.name for d in defns] + (["web_search"] if web_search else [])
    return sorted({n for n in names if names.count(n) > 1})


def variable_sources(defns: Iterable[AnyTool]) -> dict[str, Any]:
    """The webhook templates that hold ``{{variables}}``, by where they are (for the
    check at session creation, :func:`parley.tools.variables.check_filled`)."""
    sources: dict[str, Any] = {}
    for defn in defns:
        if isinstance(defn, WebhookTool):
            sources[f"tool {defn.name}: webhook.url"] = defn.webhook.url
            if defn.webhook.body is not None:
                sources[f"tool {defn.name}: webhook.body"] = defn.webhook.body
    return sources
