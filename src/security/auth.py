"""Bearer indexing keys for the authoring endpoints (/api/v1/index*, /api/v1/analytics*).

The key is checked before FastAPI reads the body (`IndexingKeyRoute`), so a caller without a key gets
401 whatever it sent, malformed JSON included, and learns nothing about the body's schema. The
dependency stays on the router too: it documents the scheme in OpenAPI, and checks only a request
the route has not checked already.

Keys are named (security/keys.py); the name of the key that authenticated is logged
(AUTHENTICATED), the key never is. Failed attempts are counted per client (security/throttle.py),
in the same atomic step that reads the count, so attempts in flight at once cannot overshoot:
past AUTH_FAILURE_LIMIT, 429 with Retry-After, even for a right key, until the window ends.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from src.kit.errors import RateLimited, Unauthorized
from src.kit.logging import get_logger
from src.kit.metrics import RATE_LIMITED
from src.kit.request_context import client_address, request_id_of
from src.security.access import AccessControl
from src.security.throttle import AuthThrottle

log = get_logger(__name__)
_bearer = HTTPBearer(auto_error=False, description="INDEXING_API_KEY (or one of INDEXING_API_KEYS)")
_CHECKED = "indexing_key_name"


async def verify_indexing_key(request: Request, supplied: str) -> str:
    """The name of the key `supplied` is. Raise RateLimited while the client is throttled, and
    Unauthorized (logged as AUTHENTICATION_FAILURE with the running count, without the value) otherwise."""
    access: AccessControl = request.app.state.access
    throttle: AuthThrottle = request.app.state.auth_throttle
    client = client_address(request)
    where = {"client": client, "path": request.url.path, "method": request.method, "request_id": request_id_of(request)}
    name = access.current().keys.match(supplied)
    attempt = await throttle.attempt(client, failed=name is None)
    if not attempt.admitted:
        RATE_LIMITED.labels("authentication_failures").inc()
        log.warning("AUTHENTICATION_THROTTLED", failures=attempt.count, limit=throttle.limit, retry_after_seconds=attempt.retry_after, **where)
        details = {"limit": "authentication_failures", "allowed": throttle.limit, "retry_after_seconds": attempt.retry_after}
        raise RateLimited("Too many failed key attempts from this client.", details, {"Retry-After": str(attempt.retry_after)})
    if name is not None:
        request.state.indexing_key_name = name
        log.info("AUTHENTICATED", key_name=name, **where)
        return name
    log.warning(
        "AUTHENTICATION_FAILURE",
        reason="missing_key" if not supplied else "invalid_key",
        failures=attempt.count,
        limit=throttle.limit,
        window_seconds=throttle.window,
        **where,
    )
    raise Unauthorized("A valid API key is required: send 'Authorization: Bearer <INDEXING_API_KEY>'.")


def _bearer_token(request: Request) -> str:
    scheme, credentials = get_authorization_scheme_param(request.headers.get("authorization"))
    return credentials if scheme.lower() == "bearer" else ""


async def require_indexing_key(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    if getattr(request.state, _CHECKED, None) is not None:
        return  # IndexingKeyRoute checked it before the body was read
    supplied = credentials.credentials if credentials and credentials.scheme.lower() == "bearer" else ""
    await verify_indexing_key(request, supplied)


class IndexingKeyRoute(APIRoute):
    """A route that checks the Bearer key before the body is read, parsed or validated."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            await verify_indexing_key(request, _bearer_token(request))
            return await handler(request)

        return guarded


IndexingKey = Depends(require_indexing_key)
