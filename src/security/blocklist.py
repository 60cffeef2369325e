"""BLOCKED_CLIENTS and BLOCKED_CLIENTS_FILE: clients in these networks get 403 on every path, with the
error body and a CLIENT_BLOCKED log line naming the address and the network. The client is the address
TRUSTED_PROXIES picks (kit/request_context.py), the one rate limits use."""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from src.kit.errors import error_body
from src.kit.logging import get_logger
from src.kit.request_context import client_address_of_scope
from src.security.access import AccessControl
from src.security.ratelimit import drain_body

log = get_logger(__name__)


class BlockMiddleware:
    """Inside the request middleware (which gives the request its id), outside the rate limiter:
    a blocked client spends no one's budget."""

    def __init__(self, app: ASGIApp, access_getter: Callable[[], AccessControl | None]) -> None:
        self.app = app
        self._access_getter = access_getter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        access = self._access_getter() if scope["type"] == "http" else None
        if access is None:
            await self.app(scope, receive, send)
            return
        client = client_address_of_scope(scope)
        network = access.current().blocked_by(client)
        if network is None:
            await self.app(scope, receive, send)
            return
        rid = str(scope.get("state", {}).get("request_id", ""))
        log.warning(
            "CLIENT_BLOCKED",
            client=client,
            cidr=str(network),
            path=scope.get("path"),
            method=scope.get("method"),
            request_id=rid,
        )
        await drain_body(receive)  # answered before the upload is read, the client would see a reset, not the 403
        body = json.dumps(error_body(rid, "forbidden", "This client is blocked.")).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 403, "headers": headers})
        await send({"type": "http.response.body", "body": body})
