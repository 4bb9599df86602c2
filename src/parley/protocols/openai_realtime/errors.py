"""Errors in the Realtime ``error`` event's shape: ``{type, code, message, param, event_id}``.

``type`` is the error class a Realtime client expects (``invalid_request_error`` for
anything the client sent or asked wrongly, ``server_error`` for a failure on our side);
``code`` says exactly what went wrong (docs/realtime.md lists them).
"""

from __future__ import annotations

from typing import Any

import pydantic

from parley.errors import ValidationError
from parley.protocols.json_frames import first_problem

INVALID_REQUEST = "invalid_request_error"
SERVER_ERROR = "server_error"

_SERVER_CODES = {"internal_error"}


class RealtimeError(ValidationError):
    """A client event that cannot be carried out; becomes one ``error`` event."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        param: str | None = None,
        event_id: str | None = None,
        error_type: str = INVALID_REQUEST,
    ) -> None:
        super().__init__(message, param=param)
        self.wire_code = code
        self.error_type = error_type
        self.event_id = event_id

    def body(self) -> dict[str, Any]:
        """The ``error`` object of the event."""
        return error_body(self.error_type, self.wire_code, self.message, self.param, self.event_id)


def error_body(
    error_type: str,
    code: str,
    message: str,
    param: str | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """``{"type", "code", "message", "param", "event_id"}``."""
    return {
        "type": error_type,
        "code": code,
        "message": message,
        "param": param,
        "event_id": event_id,
    }


def engine_error_type(code: str) -> str:
    """The error class of an engine error code (``internal_error`` is ours)."""
    return SERVER_ERROR if code in _SERVER_CODES else INVALID_REQUEST


def from_pydantic(
    exc: pydantic.ValidationError, *, prefix: str = "", event_id: str | None = None
) -> RealtimeError:
    """The first validation problem as a :class:`RealtimeError` naming the parameter."""
    problem = first_problem(exc)
    param = problem.path(prefix=prefix, brackets=True)
    kind, msg = problem.kind, problem.msg
    shown = repr(problem.input)[:80]
    if kind == "missing":
        return RealtimeError(
            f"missing required parameter {param!r}",
            code="missing_required_parameter",
            param=param,
            event_id=event_id,
        )
    if kind == "extra_forbidden":
        return RealtimeError(
            f"unknown parameter {param!r}", code="unknown_parameter", param=param, event_id=event_id
        )
    if kind.endswith("_type") or kind in ("model_type", "model_attributes_type"):
        return RealtimeError(
            f"invalid type for {param!r}: {msg.lower()}, got {shown}",
            code="invalid_type",
            param=param,
            event_id=event_id,
        )
    return RealtimeError(
        f"invalid value for {param!r}: {msg}, got {shown}",
        code="invalid_value",
        param=param,
        event_id=event_id,
    )
