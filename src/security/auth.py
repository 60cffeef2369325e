"""Bearer INDEXING_API_KEY for the authoring endpoints, compared in constant time."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from src.kit.deps import ResourcesDep
from src.kit.errors import Unauthorized
from src.kit.logging import get_logger
from src.kit.request_context import client_address, request_id_of

log = get_logger(__name__)
_bearer = HTTPBearer(auto_error=False, description="INDEXING_API_KEY")


async def require_indexing_key(
    request: Request,
    resources: ResourcesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    supplied = credentials.credentials if credentials and credentials.scheme.lower() == "bearer" else ""
    if not supplied or not hmac.compare_digest(supplied.encode(), resources.api_key.encode()):
        log.warning(
            "AUTHENTICATION_FAILURE",
            reason="missing_key" if not supplied else "invalid_key",
            client=client_address(request),
            path=request.url.path,
            method=request.method,
            request_id=request_id_of(request),
        )
        raise Unauthorized(
            "A valid API key is required: send 'Authorization: Bearer <INDEXING_API_KEY>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )


IndexingKey = Depends(require_indexing_key)
