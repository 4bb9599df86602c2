"""Dynamic variables: ``{{name}}`` placeholders in an agent's texts (system prompt, first
message, webhook URLs and body templates), filled per session from its ``metadata`` and
the built-ins ``{{session_id}}``, ``{{agent_id}}``, ``{{now}}`` and ``{{caller_number}}``.

A name is ``[A-Za-z_][A-Za-z0-9_.]*``; spaces inside the braces are allowed
(``{{ name }}``). Nested metadata is addressed with dots (``{{customer.name}}``).
``{{secret.NAME}}`` is not a variable: it is a server secret, resolved only in webhook
headers when the call is made (:mod:`parley.tools.secrets`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

BUILT_INS = ("session_id", "agent_id", "now", "caller_number")
_NAME = r"[A-Za-z_][A-Za-z0-9_.]*"
_BRACES = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_VARIABLE = re.compile(rf"\s*({_NAME})\s*")
_SECRET = re.compile(r"\s*secret\.([A-Za-z_][A-Za-z0-9_]*)\s*")


class MissingVariables(ValueError):
    """Placeholders whose value the session does not have: ``missing`` holds
    ``(where, name)`` pairs, e.g. ``("system_prompt", "customer_name")``."""

    def __init__(self, missing: Sequence[tuple[str, str]]) -> None:
        self.missing = list(dict.fromkeys(missing))
        super().__init__(_missing_message(self.missing))

    @property
    def names(self) -> list[str]:
        """The missing names, each once."""
        return list(dict.fromkeys(name for _, name in self.missing))


def _missing_message(missing: Sequence[tuple[str, str]]) -> str:
    by_place: dict[str, list[str]] = {}
    for where, name in missing:
        by_place.setdefault(where, []).append("{{" + name + "}}")
    parts = [f"{where} needs {' and '.join(names)}" for where, names in by_place.items()]
    built_ins = ", ".join("{{" + b + "}}" for b in BUILT_INS)
    one = len({name for _, name in missing}) == 1
    tail = (
        "which is neither in the session's metadata nor a built-in variable"
        if one
        else "which are neither in the session's metadata nor built-in variables"
    )
    message = f"{'; '.join(parts)}, {tail} ({built_ins})"
    if any(name == "caller_number" for _, name in missing):
        message += "; {{caller_number}} is only known on phone calls"
    return message


def _is_secret(inner: str) -> bool:
    return _SECRET.fullmatch(inner) is not None


def template_problem(text: str) -> str | None:
    """Why ``text`` is not a valid template (a ``{{...}}`` that is neither a variable
    nor a secret reference, or a ``{{`` never closed), or None."""
    for found in _BRACES.finditer(text):
        inner = found.group(1)
        if _is_secret(inner):
            continue
        if inner.strip().startswith("secret."):
            return (
                f"{found.group()} is not a valid secret reference: write "
                "{{secret.NAME}} with NAME made of letters, digits and '_'"
            )
        if _VARIABLE.fullmatch(inner) is None:
            return (
                f"{found.group()} is not a valid variable: a name is letters, digits, "
                "'_' and '.', starting with a letter or '_'"
            )
    if "{{" in _BRACES.sub("", text):
        return "has '{{' without a closing '}}'"
    return None


def placeholders(text: str) -> set[str]:
    """The variable names ``text`` uses (secret references and malformed braces are
    not variables)."""
    names = set()
    for found in _BRACES.finditer(text):
        variable = _VARIABLE.fullmatch(found.group(1))
        if variable is not None and not _is_secret(found.group(1)):
            names.add(variable.group(1))
    return names


def _substitute(
    text: str,
    values: Mapping[str, str],
    where: str,
    missing: list[tuple[str, str]],
    encode: Callable[[str], str],
) -> str:
    def one(found: re.Match[str]) -> str:
        inner = found.group(1)
        variable = _VARIABLE.fullmatch(inner)
        if variable is None or _is_secret(inner):
            return found.group()
        name = variable.group(1)
        if name not in values:
            missing.append((where, name))
            return found.group()
        return encode(values[name])

    return _BRACES.sub(one, text)


def fill(text: str, values: Mapping[str, str], *, where: str = "the text") -> str:
    """``text`` with every ``{{name}}`` replaced by its value; secret references are left
    as they are. Raises :class:`MissingVariables` naming every missing name."""
    missing: list[tuple[str, str]] = []
    filled = _substitute(text, values, where, missing, str)
    if missing:
        raise MissingVariables(missing)
    return filled


def fill_url(url: str, values: Mapping[str, str], *, where: str = "the URL") -> str:
    """Like :func:`fill`, with every value percent-encoded (a value cannot add a path
    segment, a query or change the host)."""
    missing: list[tuple[str, str]] = []
    filled = _substitute(url, values, where, missing, lambda v: quote(v, safe=""))
    if missing:
        raise MissingVariables(missing)
    return filled


def _walk(template: Any, fill_text: Callable[[str], str]) -> Any:
    if isinstance(template, str):
        return fill_text(template)
    if isinstance(template, dict):
        return {key: _walk(value, fill_text) for key, value in template.items()}
    if isinstance(template, list):
        return [_walk(item, fill_text) for item in template]
    return template


def fill_json(template: Any, values: Mapping[str, str], *, where: str = "the body") -> Any:
    """A JSON value with :func:`fill` applied to every string inside it. Values go in
    as plain strings (a value holding JSON stays a string: no JSON injection)."""
    missing: list[tuple[str, str]] = []
    filled = _walk(template, lambda s: _substitute(s, values, where, missing, str))
    if missing:
        raise MissingVariables(missing)
    return filled


def strings(value: Any) -> Iterator[str]:
    """Every string inside a JSON value (for checking templates)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def check_filled(texts: Mapping[str, Any], values: Mapping[str, str]) -> None:
    """Raise :class:`MissingVariables` naming every placeholder in ``texts`` (where →
    text or JSON template; None is skipped) that ``values`` lacks: the check at session
    creation."""
    missing = [
        (where, name)
        for where, text in texts.items()
        for s in strings(text)
        for name in sorted(placeholders(s))
        if name not in values
    ]
    if missing:
        raise MissingVariables(missing)


def _text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None


def _flatten(metadata: Mapping[str, Any], prefix: str, into: dict[str, str]) -> None:
    for key, value in metadata.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            _flatten(value, f"{name}.", into)
        elif (text := _text(value)) is not None:
            into[name] = text


def session_variables(
    metadata: Mapping[str, Any],
    *,
    session_id: str,
    agent_id: str,
    now: datetime,
    caller_number: str | None,
) -> dict[str, str]:
    """The values a session's placeholders are filled from: its metadata (strings,
    numbers and booleans; nested objects as ``a.b``; lists and nulls are skipped) and
    the built-ins, which win over metadata keys of the same name (``caller_number``
    comes from metadata only when the call has no caller number of its own)."""
    values: dict[str, str] = {}
    _flatten(metadata, "", values)
    values.update(session_id=session_id, agent_id=agent_id, now=now.isoformat("T", "seconds"))
    if caller_number is not None:
        values["caller_number"] = caller_number
    return values
