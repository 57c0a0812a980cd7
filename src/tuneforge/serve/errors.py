"""HTTP errors: every error response is {"error": {"code", "message"}} with the right status."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

# Status code -> error code for errors raised by the framework itself (unknown route, ...).
_FRAMEWORK_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


class ApiError(Exception):
    """An error response: status, a stable machine-readable code and a human message."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def describe_validation_errors(errors: Any) -> str:
    """`inputs.3: Input should be a valid string`-style summary of pydantic errors (no input
    values: they may hold the customer's text)."""
    parts = []
    for error in list(errors)[:5]:
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        parts.append(f"{location or 'body'}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI, on_error: Any) -> None:
    """Route every exception to a JSON error; `on_error(code)` counts it."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError) -> JSONResponse:
        on_error(error.code)
        return error_response(error.status, error.code, error.message, error.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
        on_error("invalid_request")
        return error_response(422, "invalid_request", describe_validation_errors(error.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = _FRAMEWORK_CODES.get(error.status_code, f"http_{error.status_code}")
        on_error(code)
        return error_response(
            error.status_code, code, str(error.detail), getattr(error, "headers", None)
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        # A bug, not user input: logged with its traceback, answered without internals.
        import logging

        logging.getLogger("tuneforge.serve").exception("unhandled error")
        on_error("internal_error")
        return error_response(500, "internal_error", "internal server error (see the server log)")
