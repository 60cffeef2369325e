"""Bearer indexing keys, and their scopes, for the authoring endpoints: /api/v1/index* needs a key with the
`index` scope, /api/v1/analytics* one with `analytics`; `admin` (every key without scopes, and
INDEXING_API_KEY) may do both. Each router says which (`IndexingKeyRoute.requiring("index")`).

The key is checked before FastAPI reads the body (`IndexingKeyRoute`), so a caller without a key (or
without the scope) gets 401 (or 403) whatever it sent, malformed JSON included, and learns nothing about
the body's schema. The dependency stays on the router too: it documents the scheme in OpenAPI, and checks
only a request the route has not checked already (asking for `admin`, the most a key can have).

Keys are named (security/keys.py); the name of the key that authenticated is logged (AUTHENTICATED), or
refused for want of a scope (AUTHORIZATION_FAILURE: 403), the key never is. Failed attempts are counted
per client (security/throttle.py), in the same atomic step that reads the count, so attempts in flight at
once cannot overshoot: past AUTH_FAILURE_LIMIT, 429 with Retry-After, even for a right key, until the
window ends. A right key without the scope is not a failed attempt: it guessed nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any, ClassVar, cast

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from src.kit.errors import Forbidden, RateLimited, Unauthorized, error_responses
from src.kit.logging import get_logger
from src.kit.metrics import RATE_LIMITED
from src.kit.request_context import client_address, request_id_of
from src.kit.settings import SCOPES, Scope
from src.security.access import AccessControl
from src.security.throttle import AuthThrottle

log = get_logger(__name__)
_bearer = HTTPBearer(
    auto_error=False, description="INDEXING_API_KEY (or one of INDEXING_API_KEYS), with the scope the route needs"
)
_CHECKED = "indexing_key_name"


async def verify_indexing_key(request: Request, supplied: str, scope: Scope) -> str:
    """The name of the key `supplied` is, when it has `scope`. Raise RateLimited while the client is
    throttled, Unauthorized (logged as AUTHENTICATION_FAILURE with the running count, without the value) for
    a missing or wrong key, and Forbidden (AUTHORIZATION_FAILURE) for a key without the scope."""
    access: AccessControl = request.app.state.access
    throttle: AuthThrottle = request.app.state.auth_throttle
    client = client_address(request)
    where = {"client": client, "path": request.url.path, "method": request.method, "request_id": request_id_of(request)}
    grant = access.current().keys.match(supplied)
    attempt = await throttle.attempt(client, failed=grant is None)
    if not attempt.admitted:
        RATE_LIMITED.labels("authentication_failures").inc()
        log.warning(
            "AUTHENTICATION_THROTTLED",
            failures=attempt.count,
            limit=throttle.limit,
            retry_after_seconds=attempt.retry_after,
            **where,
        )
        details = {
            "limit": "authentication_failures",
            "allowed": throttle.limit,
            "retry_after_seconds": attempt.retry_after,
        }
        raise RateLimited(
            "Too many failed key attempts from this client.", details, {"Retry-After": str(attempt.retry_after)}
        )
    if grant is None:
        log.warning(
            "AUTHENTICATION_FAILURE",
            reason="missing_key" if not supplied else "invalid_key",
            failures=attempt.count,
            limit=throttle.limit,
            window_seconds=throttle.window,
            **where,
        )
        raise Unauthorized("A valid API key is required: send 'Authorization: Bearer <INDEXING_API_KEY>'.")
    if not grant.allows(scope):
        log.warning("AUTHORIZATION_FAILURE", key_name=grant.name, scope=scope, key_scopes=sorted(grant.scopes), **where)
        raise Forbidden(f"This key may not use {request.url.path}: it needs the '{scope}' scope (or 'admin').")
    request.state.indexing_key_name = grant.name
    log.info("AUTHENTICATED", key_name=grant.name, scope=scope, **where)
    return grant.name


def _bearer_token(request: Request) -> str:
    scheme, credentials = get_authorization_scheme_param(request.headers.get("authorization"))
    return credentials if scheme.lower() == "bearer" else ""


async def require_indexing_key(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    if getattr(request.state, _CHECKED, None) is not None:
        return  # IndexingKeyRoute checked it before the body was read
    supplied = credentials.credentials if credentials and credentials.scheme.lower() == "bearer" else ""
    await verify_indexing_key(request, supplied, "admin")


class IndexingKeyRoute(APIRoute):
    """A route that checks the Bearer key, and its scope, before the body is read, parsed or validated.
    This class asks for `admin`; `requiring(scope)` gives the class for a narrower scope. Each route
    documents the 403 of a key without the scope."""

    scope: ClassVar[Scope] = "admin"

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        responses = dict(kwargs.pop("responses", None) or {})
        responses.setdefault(
            403, error_responses(403, s403=f"A blocked client, or a key without the '{self.scope}' scope")[403]
        )
        super().__init__(path, endpoint, responses=responses, **kwargs)

    @classmethod
    def requiring(cls, scope: Scope) -> type[IndexingKeyRoute]:
        return _SCOPED[scope]

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        scope = self.scope

        async def guarded(request: Request) -> Response:
            await verify_indexing_key(request, _bearer_token(request), scope)
            return await handler(request)

        return guarded


# One class per scope, made once: FastAPI makes every route of a router with its route class.
_SCOPED = {
    scope: cast(type[IndexingKeyRoute], type(f"IndexingKeyRoute[{scope}]", (IndexingKeyRoute,), {"scope": scope}))
    for scope in SCOPES
}

IndexingKey = Depends(require_indexing_key)
