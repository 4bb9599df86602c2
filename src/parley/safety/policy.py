"""A content policy: what an agent must never say, which personal data is redacted where,
which custom rules an LLM judges, and what is said while a check runs. Declared once here;
the REST API, storage and the per-session hook all use these models."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from parley.languages.packs import ENGLISH
from parley.single_line import ONE_LINE

MAX_BLOCKED_TERMS = 1000
MAX_CRITERIA = 20
MAX_FILLERS = 10

PiiEntity = Literal[
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "EMAIL_ADDRESS",
    "US_SSN",
    "PERSON",
    "LOCATION",
    "IBAN_CODE",
    "IP_ADDRESS",
    "US_BANK_NUMBER",
    "US_DRIVER_LICENSE",
    "US_PASSPORT",
    "US_ITIN",
    "UK_NHS",
    "DATE_TIME",
    "URL",
    "CRYPTO",
    "MEDICAL_LICENSE",
]
PII_ENTITIES: tuple[str, ...] = get_args(PiiEntity)
"""The personal data a policy can name (Presidio's English recognizers)."""
RedactTarget = Literal["storage", "logs", "agent_speech", "client", "llm", "recording"]
"""Where personal data is replaced: stored transcripts, log lines, what the agent speaks,
the user transcript sent to the client, what the LLM sees of the user's words, and the
session's recording (the spans are silenced)."""

Term = Annotated[str, Field(min_length=1, max_length=100), ONE_LINE]
Line = Annotated[str, Field(min_length=1, max_length=500), ONE_LINE]
Name = Annotated[str, Field(min_length=1, max_length=200), ONE_LINE]
CriterionName = Annotated[str, Field(pattern=r"^[a-z0-9_]{1,64}$")]
Rule = Annotated[str, Field(min_length=1, max_length=2000)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _default_targets() -> list[RedactTarget]:
    return ["storage", "logs", "agent_speech", "recording"]


class PiiSettings(_Strict):
    """Which personal data is detected, and where it is redacted."""

    entities: list[PiiEntity] = Field(default_factory=list, max_length=len(PII_ENTITIES))
    redact: list[RedactTarget] = Field(default_factory=_default_targets, max_length=6)


class Criterion(_Strict):
    """A custom rule an LLM judges on the user's turn and/or the agent's reply."""

    name: CriterionName
    rule: Rule
    applies_to: Literal["agent", "user", "both"] = "agent"
    action: Literal["block", "flag"] = "block"
    """``block``: speak ``fallback`` instead; ``flag``: only record the violation."""
    fallback: Line | None = None

    @field_validator("rule")
    @classmethod
    def _has_words(cls, rule: str) -> str:
        if not rule.strip():
            raise ValueError("a rule must say something (it is empty or only spaces)")
        return rule


class PolicyBody(_Strict):
    """The settings of a content policy (create; a PATCH sets any of them)."""

    name: Name
    description: Annotated[str, Field(max_length=2000)] = ""
    blocked_terms: list[Term] = Field(default_factory=list, max_length=MAX_BLOCKED_TERMS)
    """Never spoken by the agent (case, accents and punctuation ignored; whole words)."""
    user_blocked_terms: list[Term] = Field(default_factory=list, max_length=MAX_BLOCKED_TERMS)
    """A user turn with one of these is answered with ``blocked_fallback``, not by the LLM."""
    blocked_fallback: Line | None = None
    pii: PiiSettings = Field(default_factory=PiiSettings)
    criteria: list[Criterion] = Field(default_factory=list, max_length=MAX_CRITERIA)
    filler_phrases: list[Line] = Field(default_factory=list, max_length=MAX_FILLERS)
    """Said when a check takes longer than ``filler_after_ms`` (one of them, in turn)."""
    filler_after_ms: Annotated[int, Field(ge=0, le=5000)] = 300
    judge_provider: Annotated[str, Field(pattern=r"^llm:[A-Za-z0-9_.-]{1,64}$")] | None = None
    """The LLM that judges ``criteria`` (default: the agent's own)."""
    judge_timeout_ms: Annotated[int, Field(ge=100, le=30_000)] = 2500
    on_judge_error: Literal["allow", "block"] = "allow"
    """What a timed-out or failed judgement means."""

    @field_validator("criteria")
    @classmethod
    def _unique_names(cls, criteria: list[Criterion]) -> list[Criterion]:
        names = [c.name for c in criteria]
        if len(set(names)) != len(names):
            raise ValueError("criterion names must be unique")
        return criteria

    @field_validator("blocked_terms", "user_blocked_terms")
    @classmethod
    def _terms_have_words(cls, terms: list[str]) -> list[str]:
        for term in terms:
            if not any(ch.isalnum() for ch in term):
                raise ValueError(f"blocked term {term!r} has no letters or digits")
        return terms


NEUTRAL_FALLBACK = ENGLISH.lines.policy_fallback
"""Said instead of a reply that broke the policy when the policy names no fallback (in
English; other languages: ``LanguagePack.lines.policy_fallback``)."""
