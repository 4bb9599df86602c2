"""Single-line names and ids (:data:`SingleLine`), metadata keys, and the one rule for
which credential a caller presents (:func:`credential`)."""

from __future__ import annotations

import pydantic
import pytest
from starlette.datastructures import Headers, QueryParams

from parley.errors import AuthenticationError
from parley.server.agent_fields import AgentCreate
from parley.server.auth import credential
from parley.server.keys import ApiKeyCreate
from parley.server.validation import check_metadata
from parley.single_line import SingleLine, line_problem


class Named(pydantic.BaseModel):
    name: SingleLine


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Barista ☕ über 中文 😀", None),
        ("right\u200fto\u200eleft", None),  # direction marks are allowed
        ("a\x00b", "line breaks or control characters (U+0000)"),
        ("a\nb", "line breaks or control characters (U+000A)"),
        ("tab\there", "line breaks or control characters (U+0009)"),
        ("del\x7f", "line breaks or control characters (U+007F)"),
        ("c1\x85", "line breaks or control characters (U+0085)"),
        ("line\u2028sep", "line breaks or control characters (U+2028)"),
        ("exe.\u202etxt", "bidirectional control characters (U+202E)"),
        ("iso\u2066late\u2069", "bidirectional control characters (U+2066)"),
        ("emb\u202a", "bidirectional control characters (U+202A)"),
    ],
)
def test_line_problem(text: str, problem: str | None) -> None:
    found = line_problem(text)
    assert found == (None if problem is None else f"must not contain {problem}")
    if problem is None:
        assert Named(name=text).name == text
    else:
        with pytest.raises(pydantic.ValidationError, match=r"U\+"):
            Named(name=text)


def test_models_use_it() -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        AgentCreate.model_validate({"name": "a\u202eb", "system_prompt": "p"})
    assert caught.value.errors()[0]["loc"] == ("name",)
    with pytest.raises(pydantic.ValidationError) as caught:
        AgentCreate.model_validate({"name": "a", "system_prompt": "p", "voice_id": "v\n"})
    assert caught.value.errors()[0]["loc"] == ("voice_id",)
    multi = AgentCreate.model_validate({"name": "a", "system_prompt": "line 1\nline 2"})
    assert multi.system_prompt == "line 1\nline 2"  # prompts may have many lines
    with pytest.raises(pydantic.ValidationError):
        ApiKeyCreate.model_validate({"name": "key\x00"})
    with pytest.raises(ValueError, match="metadata keys must not contain bidirectional"):
        check_metadata({"ok": 1, "evil\u202e": 2})
    assert check_metadata({"k": "values may\nspan lines"}) is not None


def query(text: str) -> QueryParams:
    return QueryParams(text)


def headers(*authorizations: str) -> Headers:
    return Headers(raw=[(b"authorization", a.encode()) for a in authorizations])


def test_one_credential() -> None:
    assert credential(query(""), headers()) is None
    assert credential(query("api_key=k1"), headers()) == "k1"
    assert credential(query(""), headers("Bearer k1")) == "k1"
    assert credential(query("api_key=k1"), headers("Bearer k1")) == "k1"  # the same: fine
    assert credential(query("api_key="), headers("Bearer k1")) == "k1"
    assert credential(query("api_key=k1"), headers("Basic eDp5")) == "k1"  # not a key
    assert credential(None, headers(), "k1", "k1") == "k1"
    assert credential(query("api_key=k1"), headers(), None, 7) == "k1"  # non-strings ignored


@pytest.mark.parametrize(
    ("params", "authorizations", "others", "message"),
    [
        ("api_key=k1&api_key=k1", (), (), "api_key is given more than once"),
        ("api_key=k1&api_key=k2", (), (), "api_key is given more than once"),
        ("", ("Bearer k1", "Bearer k1"), (), "more than one Authorization header"),
        ("api_key=k1", ("Bearer k2",), (), "two different keys"),
        ("", ("Bearer k1",), ("k2",), "two different keys"),
        ("api_key=k1", (), ("k2",), "two different keys"),
    ],
)
def test_ambiguous_credentials_are_refused(
    params: str, authorizations: tuple[str, ...], others: tuple[str, ...], message: str
) -> None:
    with pytest.raises(AuthenticationError, match=message) as caught:
        credential(query(params), headers(*authorizations), *others)
    assert caught.value.http_status == 401 and caught.value.ws_close_code == 4001
