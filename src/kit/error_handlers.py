"""Every error is rendered here, into one shape (`ErrorBody`), whichever layer raised it: the app's
own errors (AppError and its subclasses), malformed payloads (422), the framework's HTTP errors, a
database that cannot be reached (503 with Retry-After, never a 500), and anything unexpected (500).
`describe` gives the same rendering for a stream that has already started (an SSE `error` event)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from src.kit.errors import STATUS_NAMES, AppError, error_body
from src.kit.logging import get_logger
from src.kit.request_context import client_address, request_id_of

log = get_logger(__name__)
DATABASE_ERRORS = (OperationalError, DBAPIError, PoolTimeout, ConnectionRefusedError)
DATABASE_DOWN = "The database is unavailable; retry shortly."


@dataclass(frozen=True)
class Described:
    status: int
    error: str
    details: Any
    headers: dict[str, str] = field(default_factory=dict)


def describe(exc: BaseException) -> Described | None:
    """The status and body for an expected failure; None for one that is a bug (rendered as a 500)."""
    if isinstance(exc, AppError):
        return Described(exc.status_code, exc.error, exc.shown_details, dict(exc.headers))
    if isinstance(exc, DATABASE_ERRORS):
        return Described(503, "service_unavailable", DATABASE_DOWN, {"Retry-After": "5"})
    return None


def error_response(
    request: Request, status: int, error: str, details: Any, headers: dict[str, str] | None = None
) -> JSONResponse:
    rid = request_id_of(request)
    return JSONResponse(
        error_body(rid, error, details),
        status_code=status,
        headers={**(headers or {}), "X-Request-ID": rid, "Cache-Control": "no-store"},
    )


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Never echo the offending input back: it may be huge, binary or hostile.
    return [
        {"loc": [str(p) for p in err.get("loc", ())], "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]


def _log_rejected_input(request: Request, **fields: Any) -> None:
    log.warning(
        "INPUT_VALIDATION_FAILURE",
        path=request.url.path,
        client=client_address(request),
        request_id=request_id_of(request),
        **fields,
    )


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    if exc.status_code in (413, 422):
        # Every rejected input is logged here, whichever layer raised it (router, parser, service).
        _log_rejected_input(request, reason=exc.error, message=exc.message[:200])
    if exc.log_event:
        log.warning(exc.log_event, path=request.url.path, error=exc.message[:200])
    return error_response(request, exc.status_code, exc.error, exc.shown_details, exc.headers)


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = _validation_details(exc)
    _log_rejected_input(request, fields=[".".join(d["loc"]) for d in details][:10])
    return error_response(request, 422, "validation_error", details)


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    error = STATUS_NAMES.get(exc.status_code, "http_error")
    if exc.status_code == 400:  # a body the framework could not decode (binary, not UTF-8): a rejected input too
        _log_rejected_input(request, reason=error)
    return error_response(request, exc.status_code, error, exc.detail, dict(exc.headers or {}))


async def _database_down(request: Request, exc: Exception) -> JSONResponse:
    log.warning("DATABASE_UNAVAILABLE", path=request.url.path, error=type(exc).__name__)
    return error_response(request, 503, "service_unavailable", DATABASE_DOWN, {"Retry-After": "5"})


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("UNHANDLED_EXCEPTION", path=request.url.path, request_id=request_id_of(request), exc_info=exc)
    return error_response(
        request, 500, "internal_error", "An unexpected error occurred; the request id identifies it in the logs."
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    for exc_type in DATABASE_ERRORS:
        app.add_exception_handler(exc_type, _database_down)
    app.add_exception_handler(Exception, _unexpected)
