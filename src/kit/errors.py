"""One error base class carrying its status, and the one body every error has:
`{"error", "details", "request_id"}`. The handlers that render them live in `error_handlers.py`."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    """The body of every error response, whatever raised it."""

    error: str = Field(description="A stable, machine-readable name: not_found, validation_error, rate_limited, ...")
    details: Any = Field(description="What went wrong: a message, or a list of field errors for validation_error")
    request_id: str = Field(description="The X-Request-ID of the request, to find it in the logs")


# Each status the service answers with: its stable error name, and how OpenAPI describes it.
STATUSES: dict[int, tuple[str, str]] = {
    400: ("bad_request", "Malformed request body"),
    401: ("unauthorized", "Missing or invalid API key"),
    403: ("forbidden", "Client blocked"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    413: ("payload_too_large", "Request body too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
    422: ("validation_error", "Invalid input"),
    429: ("rate_limited", "Rate limited"),
    503: ("service_unavailable", "A store is unavailable; retry after Retry-After seconds"),
}
STATUS_NAMES = {status: name for status, (name, _) in STATUSES.items()}


class AppError(Exception):
    """An expected failure: a subclass names its status (`class NotFound(AppError, status=404)`), and
    its error name comes from STATUSES. One handler renders every AppError as an ErrorBody."""

    status_code: ClassVar[int] = 500
    error: ClassVar[str] = "internal_error"
    log_event: ClassVar[str | None] = None  # logged as a warning when set (e.g. VECTOR_STORE_UNAVAILABLE)
    public_details: ClassVar[str | None] = None  # shown instead of the message (which may hold internal detail)

    def __init_subclass__(cls, status: int | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status_code, cls.error = status, STATUS_NAMES[status]

    def __init__(self, message: str, details: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers or {}

    @property
    def shown_details(self) -> Any:
        if self.details is not None:
            return self.details
        return self.public_details if self.public_details is not None else self.message


class Unauthorized(AppError, status=401):
    """Sent with `WWW-Authenticate: Bearer`, as RFC 6750 asks."""

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(AppError, status=403): ...


class NotFound(AppError, status=404): ...


class PayloadTooLarge(AppError, status=413): ...


class InvalidInput(AppError, status=422): ...


class RateLimited(AppError, status=429): ...


class ServiceUnavailable(AppError, status=503):
    def __init__(self, message: str, details: Any = None, retry_after: int = 5) -> None:
        super().__init__(message, details, {"Retry-After": str(retry_after)})


def error_body(request_id: str, error: str, details: Any) -> dict[str, Any]:
    return {"error": error, "details": details, "request_id": request_id}


def error_responses(*statuses: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: each status documented with the ErrorBody model. A description can
    be given per status as `s404="No such job"`."""
    return {s: {"model": ErrorBody, "description": descriptions.get(f"s{s}", STATUSES[s][1])} for s in statuses}
