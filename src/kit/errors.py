"""One error base class and one handler: every error body is `{error, details, request_id}`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from src.kit.logging import get_logger
from src.kit.request_context import client_address, request_id_of

log = get_logger(__name__)


class AppError(Exception):
    status_code = 500
    error = "internal_error"

    def __init__(self, message: str, details: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers or {}


class NotFound(AppError):
    status_code = 404
    error = "not_found"


class Unauthorized(AppError):
    status_code = 401
    error = "unauthorized"


class PayloadTooLarge(AppError):
    status_code = 413
    error = "payload_too_large"


class InvalidInput(AppError):
    status_code = 422
    error = "validation_error"


class RateLimited(AppError):
    status_code = 429
    error = "rate_limited"


class ServiceUnavailable(AppError):
    status_code = 503
    error = "service_unavailable"

    def __init__(self, message: str, details: Any = None, retry_after: int = 5) -> None:
        super().__init__(message, details, {"Retry-After": str(retry_after)})


_STATUS_NAMES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "service_unavailable",
}


def error_body(request_id: str, error: str, details: Any) -> dict[str, Any]:
    return {"error": error, "details": details, "request_id": request_id}


def error_response(request: Request, status: int, error: str, details: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    rid = request_id_of(request)
    return JSONResponse(
        error_body(rid, error, details),
        status_code=status,
        headers={**(headers or {}), "X-Request-ID": rid, "Cache-Control": "no-store"},
    )


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    details = []
    for err in exc.errors():
        # Never echo the offending input back: it may be huge, binary or hostile.
        details.append({"loc": [str(p) for p in err.get("loc", ())], "msg": err.get("msg", ""), "type": err.get("type", "")})
    return details


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        if exc.status_code in (413, 422):
            # Every rejected input is logged here, whichever layer raised it (router, parser, service).
            log.warning(
                "INPUT_VALIDATION_FAILURE",
                reason=exc.error,
                message=exc.message[:200],
                path=request.url.path,
                client=client_address(request),
                request_id=request_id_of(request),
            )
        return error_response(request, exc.status_code, exc.error, exc.details if exc.details is not None else exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = _validation_details(exc)
        log.warning(
            "INPUT_VALIDATION_FAILURE",
            path=request.url.path,
            client=client_address(request),
            request_id=request_id_of(request),
            fields=[".".join(d["loc"]) for d in details][:10],
        )
        return error_response(request, 422, "validation_error", details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        error = _STATUS_NAMES.get(exc.status_code, "http_error")
        headers = dict(exc.headers or {})
        if exc.status_code == 400:  # a body the framework could not decode (binary, not UTF-8): a rejected input too
            log.warning("INPUT_VALIDATION_FAILURE", reason=error, path=request.url.path, client=client_address(request), request_id=request_id_of(request))
        return error_response(request, exc.status_code, error, exc.detail, headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("UNHANDLED_EXCEPTION", path=request.url.path, request_id=request_id_of(request), exc_info=exc)
        return error_response(request, 500, "internal_error", "An unexpected error occurred; the request id identifies it in the logs.")
