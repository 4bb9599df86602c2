"""One JSON error body for every REST response."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from parley.errors import ParleyError


def error_body(code: str, message: str, param: str | None = None) -> dict[str, object]:
    """``{"error": {"type", "code", "message", "param"}}``."""
    return {"error": {"type": code, "code": code, "message": message, "param": param}}


def install_error_handlers(app: FastAPI) -> None:
    """Map ParleyError, request validation and routing errors to the error body."""

    @app.exception_handler(ParleyError)
    async def _parley(_: Request, exc: ParleyError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
        return JSONResponse(
            error_body(exc.code, exc.message, exc.param), exc.http_status, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
        param = ".".join(loc) or None
        message = f"{param}: {first.get('msg')}" if param else str(first.get("msg"))
        return JSONResponse(error_body("validation_error", message, param), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found_error", 405: "validation_error"}.get(
            exc.status_code, "internal_error"
        )
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code)
