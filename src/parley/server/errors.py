"""One JSON error body for every REST response, and its OpenAPI description."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from parley.errors import ParleyError, RateLimitError
from parley.protocols.json_frames import first_error
from parley.server.ratelimit import retry_after_header
from parley.tools.definitions import TOOL_TYPES

log = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    """What went wrong: ``code`` is one of the shared error codes."""

    type: str
    code: str
    message: str
    param: str | None = None


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


_DESCRIPTIONS = {
    400: "malformed request (e.g. the body is not JSON): validation_error",
    401: "missing, unknown or revoked API key: authentication_error",
    403: "the key may not do this: authorization_error",
    404: "no such resource: not_found_error",
    409: "conflicts with the resource's state: session_error, or conflict_error (in use)",
    413: "the body (or the audio in it) is larger than the endpoint's limit: validation_error",
    422: "invalid values; `param` names the field: validation_error",
    429: "rate limit exceeded; see Retry-After: rate_limit_error",
    503: "the server is still loading its models, at capacity or draining: session_error; "
    "the shared store (Redis) is down: internal_error",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses (400/401/422/429 always included)."""
    wanted = sorted({400, 401, 422, 429, *statuses})
    return {s: {"model": ErrorBody, "description": _DESCRIPTIONS[s]} for s in wanted}


def error_body(code: str, message: str, param: str | None = None) -> dict[str, object]:
    """``{"error": {"type", "code", "message", "param"}}``."""
    return {"error": {"type": code, "code": code, "message": message, "param": param}}


_UNPARSEABLE = {"json_invalid", "json_type"}


def install_error_handlers(app: FastAPI) -> None:
    """Map ParleyError, request validation and routing errors to the error body."""

    @app.exception_handler(ParleyError)
    async def _parley(_: Request, exc: ParleyError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
        if isinstance(exc, RateLimitError):
            headers = {"Retry-After": retry_after_header(exc.retry_after)}
        return JSONResponse(
            error_body(exc.code, exc.message, exc.param), exc.http_status, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        if first.get("type") in _UNPARSEABLE:
            detail = first.get("ctx", {}).get("error") or first.get("msg")
            return JSONResponse(
                error_body("validation_error", f"the request body is not valid JSON: {detail}"),
                400,
            )
        # past "body", "query" or "path"; a tool's type is not part of its path
        error = first_error(exc, skip=1, tags=frozenset(TOOL_TYPES))
        return JSONResponse(error_body("validation_error", error.message, error.param), 422)

    allow_table: list[tuple[re.Pattern[str], str]] = []

    def allowed_methods(path: str) -> str | None:
        """Every method the API documents for ``path`` (routers may hold one method each)."""
        if not allow_table:
            for template, operations in app.openapi().get("paths", {}).items():
                regex = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
                methods = ", ".join(sorted(operations)).upper()
                allow_table.append((re.compile(f"^{regex}$"), methods))
        return next((methods for regex, methods in allow_table if regex.match(path)), None)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = exc.headers
        if exc.status_code == 405:
            allow = allowed_methods(request.url.path)
            headers = {"Allow": allow} if allow else headers
        code = {
            400: "validation_error",
            404: "not_found_error",
            405: "validation_error",
            413: "validation_error",
            415: "validation_error",
        }.get(exc.status_code, "internal_error")
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", exc_info=exc, extra={"path": request.url.path})
        return JSONResponse(error_body("internal_error", "internal server error"), 500)
