"""Bearer INDEXING_API_KEY for the authoring endpoints, compared in constant time.

The key is checked before FastAPI reads the body (`IndexingKeyRoute`), so a caller without the key
gets 401 whatever it sent, malformed JSON included, and learns nothing about the body's schema.
The dependency stays on the router too: it documents the scheme in OpenAPI.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from src.kit.errors import Unauthorized
from src.kit.logging import get_logger
from src.kit.request_context import client_address, request_id_of

log = get_logger(__name__)
_bearer = HTTPBearer(auto_error=False, description="INDEXING_API_KEY")


def verify_indexing_key(request: Request, expected: str, supplied: str) -> None:
    """Raise Unauthorized (logged as AUTHENTICATION_FAILURE, without the supplied value) unless the key matches."""
    if supplied and expected and hmac.compare_digest(supplied.encode(), expected.encode()):
        return
    log.warning(
        "AUTHENTICATION_FAILURE",
        reason="missing_key" if not supplied else "invalid_key",
        client=client_address(request),
        path=request.url.path,
        method=request.method,
        request_id=request_id_of(request),
    )
    raise Unauthorized("A valid API key is required: send 'Authorization: Bearer <INDEXING_API_KEY>'.")


def _bearer_token(request: Request) -> str:
    scheme, credentials = get_authorization_scheme_param(request.headers.get("authorization"))
    return credentials if scheme.lower() == "bearer" else ""


def expected_key(request: Request) -> str:
    key: str = request.app.state.api_key
    return key


async def require_indexing_key(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    supplied = credentials.credentials if credentials and credentials.scheme.lower() == "bearer" else ""
    verify_indexing_key(request, expected_key(request), supplied)


class IndexingKeyRoute(APIRoute):
    """A route that checks the Bearer key before the body is read, parsed or validated."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            verify_indexing_key(request, expected_key(request), _bearer_token(request))
            return await handler(request)

        return guarded


IndexingKey = Depends(require_indexing_key)
