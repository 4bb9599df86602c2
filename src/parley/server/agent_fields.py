"""The agent's fields, declared once in :data:`AGENT_FIELDS`.

The API's models derive from that table: :class:`AgentCreate`, :class:`AgentUpdate`
(every field optional; ``null`` only where a field is nullable) and the response
model :class:`Agent`. Storage, the Python client and the dashboard cannot import it;
``tests/unit/test_agent_fields.py`` checks them against it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    create_model,
    field_validator,
)
from pydantic_core import PydanticUndefined

from parley.core.turns import TurnDetectionMode
from parley.languages import AUTO, base_code, is_language
from parley.safety.loops import LoopSettings
from parley.server.bootstrap import DEFAULT_VOICE_ID
from parley.server.state import ServerState
from parley.server.validation import (
    METADATA_SCHEMA,
    NoBool,
    NoNull,
    check_metadata,
)
from parley.single_line import ONE_LINE, SingleLine
from parley.storage import AgentRecord, AgentStatus
from parley.tools.definitions import AnyTool, ToolDefinition, repeated_names


def _known_language(code: str) -> str:
    """``code`` if it is ``auto`` or a language Parley knows."""
    if code != AUTO and not is_language(base_code(code)):
        raise ValueError(
            f"unknown language {code!r}; use an ISO 639-1 code such as 'es', or 'auto'"
        )
    return code


Id = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
VadThreshold = Annotated[float, Field(ge=0.05, le=0.95), NoBool]
EndOfTurnSilence = Annotated[int, Field(ge=100, le=5000), NoBool]
InterruptThreshold = Annotated[int, Field(ge=1, le=50), NoBool]
IdleTimeout = Annotated[int, Field(ge=0, le=600_000), NoBool]
IdlePrompts = Annotated[int, Field(ge=0, le=5), NoBool]
Name = Annotated[str, Field(min_length=1, max_length=200), ONE_LINE]
SystemPrompt = Annotated[str, Field(min_length=1, max_length=20_000)]
FirstMessage = Annotated[str, Field(min_length=1, max_length=2000)]
Language = Annotated[
    str, Field(pattern=r"^(auto|[a-z]{2,3}(-[A-Za-z0-9]{2,4})?)$"), AfterValidator(_known_language)
]
LanguageCode = Annotated[
    str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,4})?$"), AfterValidator(_known_language)
]
MaxTurns = Annotated[int, Field(ge=1, le=1000), NoBool]


def _provider(kind: str, what: str) -> Any:
    """A provider name of ``kind`` (``kind:name``); which names exist is the server's
    to say (the OpenAPI schema lists them, a create or update checks them)."""
    pattern = rf"^{kind}:[A-Za-z0-9][A-Za-z0-9._-]{{0,63}}$"
    return Field(None, description=f"{what} provider (GET /v1/providers)", pattern=pattern)


class ProviderOverrides(BaseModel):
    """Per-agent choices that replace the server's defaults."""

    model_config = ConfigDict(extra="forbid")

    stt: str | None = _provider("stt", "an STT")
    llm: str | None = _provider("llm", "an LLM")
    tts: str | None = _provider("tts", "a TTS")
    llm_temperature: Annotated[float, Field(ge=0.0, le=2.0), NoBool] | None = None
    llm_max_tokens: Annotated[int, Field(ge=8, le=2048), NoBool] | None = None


Role = Literal["create", "update", "response"]


@dataclass(frozen=True, slots=True)
class AgentField:
    """One field of an agent: what the API returns, and what a request may send."""

    returns: Any
    """Its type in responses."""
    accepts: Any = None
    """The type a request may send, constraints included; ``None``: read-only."""
    default: Any = PydanticUndefined
    """Its value when a create leaves it out (undefined: the field is required)."""
    factory: Callable[[], Any] | None = None
    """Makes the default instead (a fresh ``[]`` or ``{}``)."""
    nullable: bool = False
    """``null`` is a value on create and in a PATCH (elsewhere a PATCH may not send it)."""
    description: str | None = None
    schema: dict[str, Any] | None = None
    """More JSON Schema for requests."""
    created: bool = True
    """Whether a create may send it (``status`` only changes in a PATCH)."""
    turn: bool = False
    """A turn setting: kept in ``settings``, returned as the value in effect."""

    def serves(self, role: Role) -> bool:
        """Whether the model for ``role`` has this field."""
        if role == "response":
            return True
        return self.accepts is not None and (self.created or role == "update")

    def definition(self, role: Role) -> tuple[Any, Any]:
        """The field's ``(annotation, FieldInfo)`` in the model for ``role``."""
        if role == "response":
            return self.returns, Field(description=self.description)
        if role == "update":
            kind = self.accepts | (None if self.nullable else NoNull)
            return kind, Field(None, description=self.description, json_schema_extra=self.schema)
        kind = self.accepts | None if self.nullable else self.accepts
        default: dict[str, Any] = (
            {"default": self.default} if self.factory is None else {"default_factory": self.factory}
        )
        return kind, Field(**default, description=self.description, json_schema_extra=self.schema)


def _turn(returns: Any, accepts: Any, description: str | None = None) -> AgentField:
    return AgentField(returns, accepts, None, nullable=True, description=description, turn=True)


AGENT_FIELDS: dict[str, AgentField] = {
    "id": AgentField(str),
    "name": AgentField(str, Name),
    "system_prompt": AgentField(str, SystemPrompt),
    "voice_id": AgentField(
        str, SingleLine, DEFAULT_VOICE_ID, description="an installed voice (GET /v1/voices)"
    ),
    "first_message": AgentField(
        str | None, FirstMessage, None, nullable=True, description="spoken when a call starts"
    ),
    "language": AgentField(
        str,
        Language,
        "en",
        description="the language the agent answers in: a code ('es': it understands "
        "callers in any language and always answers in Spanish) or 'auto' (the caller's "
        "language, detected); 'en' keeps the fast English-only speech model "
        "(docs/languages.md)",
    ),
    "voices": AgentField(
        dict[str, str],
        Annotated[dict[LanguageCode, SingleLine], Field(max_length=50)],
        factory=dict,
        description='the voice of each language the agent may answer in (e.g. {"es": '
        '"espeak-es"}); other languages get voice_id when it speaks them, else the '
        "installed default for the language (GET /v1/voices?language=es)",
    ),
    "tools": AgentField(
        list[dict[str, Any]],
        Annotated[list[ToolDefinition], Field(max_length=64)],
        factory=list,
        description="client tools (the client runs them), webhooks the server calls, and "
        "built-ins: end_call, transfer_call, knowledge_search (docs/tools.md)",
    ),
    "max_turns": AgentField(
        int, MaxTurns, 50, description="user turns; after the reply to the last, a goodbye"
    ),
    "content_policy_id": AgentField(
        str | None,
        Id,
        None,
        nullable=True,
        description="a content policy (GET /v1/policies); null: none",
    ),
    "loop_detection": AgentField(
        dict[str, Any] | None,
        LoopSettings,
        None,
        nullable=True,
        description="repetition checks after each turn; null: the defaults (on, steer)",
    ),
    "knowledge_base_ids": AgentField(
        list[str], Annotated[list[Id], Field(max_length=20)], factory=list
    ),
    "web_search": AgentField(
        bool,
        StrictBool,
        False,
        description="give the LLM a web_search tool (needs [search.default] in the providers file)",
    ),
    "turn_detection": _turn(
        TurnDetectionMode,
        TurnDetectionMode,
        "how a pause ends a user turn: 'model' (the Smart Turn model judges whether the "
        "speech sounds finished) or 'silence' (end_of_turn_silence_ms)",
    ),
    "vad_threshold": _turn(float, VadThreshold, "speech probability"),
    "end_of_turn_silence_ms": _turn(int, EndOfTurnSilence, "silence that ends a user turn"),
    "interrupt_threshold": _turn(
        int, InterruptThreshold, "32 ms frames of user speech that interrupt the agent"
    ),
    "idle_timeout_ms": _turn(int, IdleTimeout, "user silence before a check-in; 0: never"),
    "idle_prompts": _turn(int, IdlePrompts, "check-ins before the session ends as idle"),
    "record_audio": _turn(
        bool,
        StrictBool,
        "keep a stereo WAV of each conversation (GET /v1/sessions/{id}/recording)",
    ),
    "provider_overrides": AgentField(dict[str, Any], ProviderOverrides, None, nullable=True),
    "metadata": AgentField(dict[str, Any], dict[str, Any], factory=dict, schema=METADATA_SCHEMA),
    "status": AgentField(
        AgentStatus,
        Literal["active", "paused"],
        description="'paused' refuses new conversations; DELETE deletes",
        created=False,
    ),
    "settings": AgentField(dict[str, Any], description="the turn settings set on this agent"),
    "created_at": AgentField(datetime),
    "updated_at": AgentField(datetime),
}
"""Every field of an agent, in the order the API shows them."""

TURN_SETTINGS = tuple(name for name, f in AGENT_FIELDS.items() if f.turn)
NOT_NULL = frozenset(n for n, f in AGENT_FIELDS.items() if f.accepts is not None and not f.nullable)
"""Fields a PATCH may leave out but not set to ``null``."""

Model = TypeVar("Model", bound=BaseModel)


def _derived(role: Role) -> Callable[[type[Model]], type[Model]]:
    """A class decorator: a subclass of the same name with the agent's fields for ``role``
    (what FastAPI and the OpenAPI schema see; type checkers see the class as written)."""

    def derive(cls: type[Model]) -> type[Model]:
        fields: dict[str, Any] = {
            n: f.definition(role) for n, f in AGENT_FIELDS.items() if f.serves(role)
        }
        return create_model(
            cls.__name__,
            __base__=cls,
            __module__=cls.__module__,
            __doc__=cls.__doc__,
            **fields,
        )

    return derive


def _check_tools(value: list[AnyTool] | None) -> list[AnyTool] | None:
    if value is None:
        return None
    duplicates = repeated_names(value)
    if duplicates:
        raise ValueError(f"tool names must be unique; repeated: {duplicates}")
    return value


def _unique(value: list[str] | None) -> list[str] | None:
    return None if value is None else list(dict.fromkeys(value))


class _AgentInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    _metadata = field_validator("metadata", check_fields=False)(check_metadata)
    _tools = field_validator("tools", check_fields=False)(_check_tools)
    _kbs = field_validator("knowledge_base_ids", check_fields=False)(_unique)


@_derived("create")
class AgentCreate(_AgentInput):
    """Fields accepted when creating an agent."""


@_derived("update")
class AgentUpdate(_AgentInput):
    """Fields to change; those left out keep their value. ``null`` on a turn setting
    goes back to the server default. ``status`` pauses or resumes the agent."""


@_derived("response")
class Agent(BaseModel):
    """An agent as returned by the API. Turn settings show the values in effect;
    ``settings`` holds only those set on the agent."""

    @classmethod
    def of(cls, record: AgentRecord, state: ServerState) -> Agent:
        """From a stored record."""
        defaults, own = state.settings.turns, record.settings
        return cls(
            **{
                name: own.get(name, getattr(defaults, name)) if f.turn else getattr(record, name)
                for name, f in AGENT_FIELDS.items()
            }
        )
