"""One pure ASGI middleware for every request: request id, body limit, no-store, metrics, access log.

Pure ASGI (not BaseHTTPMiddleware) so streamed responses are not buffered and a client that
disconnects does not cancel the handler mid-write.
"""

from __future__ import annotations

import json
import time

import anyio
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from src.kit.errors import PayloadTooLarge, error_body
from src.kit.logging import get_logger
from src.kit.metrics import REQUEST_LATENCY, REQUESTS
from src.kit.request_context import client_address_of_scope, new_request_id

log = get_logger("src.access")
_QUIET_PATHS = {"/health", "/metrics", "/api/v1/health/ready"}


class InFlight:
    """Counts requests in flight, so shutdown can drain them and readiness can report draining."""

    def __init__(self) -> None:
        self.count = 0
        self.draining = False


DISCARD_MAX_BYTES = 256 * 1024 * 1024  # past these, the connection is closed on the rest
DISCARD_MAX_SECONDS = 30.0


async def _discard_body(receive: Receive) -> None:
    budget = DISCARD_MAX_BYTES
    with anyio.move_on_after(DISCARD_MAX_SECONDS):
        while budget > 0:
            message = await receive()
            if message["type"] != "http.request":
                return
            budget -= len(message.get("body", b""))
            if not message.get("more_body", False):
                return


class RequestMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int, trust_forwarded_for: bool, in_flight: InFlight) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.trust_forwarded_for = trust_forwarded_for
        self.in_flight = in_flight

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        rid = new_request_id(headers.get("x-request-id"))
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        state["trust_forwarded_for"] = self.trust_forwarded_for
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=rid)
        started = time.perf_counter()
        status_holder = {"status": 500, "started": False}
        method = scope.get("method", "GET")

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = True
                raw = list(message.get("headers", []))
                names = {k.lower() for k, _ in raw}
                if b"x-request-id" not in names:
                    raw.append((b"x-request-id", rid.encode()))
                if b"cache-control" not in names:
                    raw.append((b"cache-control", b"no-store"))
                raw.append((b"x-content-type-options", b"nosniff"))
                message["headers"] = raw
            await send(message)

        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            await self._reject_too_large(scope, send_wrapper, rid, declared[:20], receive, headers)
            self._observe(method, scope, 413, started)
            return

        # A body without Content-Length (chunked) is counted as it arrives. Past the limit, reading
        # fails; whatever the framework makes of that failure (FastAPI turns it into a 400), the
        # client gets the 413 this middleware sends in place of the app's response.
        received = 0
        overflow = {"hit": False, "sent": False}

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    overflow["hit"] = True
                    raise PayloadTooLarge("Request body too large.", {"max_bytes": self.max_body_bytes})
            return message

        async def send_guarded(message: Message) -> None:
            if overflow["hit"] and not status_holder["started"]:
                if message["type"] == "http.response.start":
                    overflow["sent"] = True
                    await self._reject_too_large(
                        scope, send_wrapper, rid, f"more than {self.max_body_bytes}", receive, headers
                    )
                return
            if overflow["sent"]:
                return  # the app's own response to the aborted read is replaced by the 413
            await send_wrapper(message)

        self.in_flight.count += 1
        try:
            try:
                await self.app(scope, receive_limited, send_guarded)
            except Exception:
                if not overflow["hit"] or status_holder["started"]:
                    raise
            if overflow["hit"] and not status_holder["started"]:
                await self._reject_too_large(
                    scope, send_wrapper, rid, f"more than {self.max_body_bytes}", receive, headers
                )
        finally:
            self.in_flight.count -= 1
            self._observe(method, scope, int(status_holder["status"]), started)

    async def _reject_too_large(
        self, scope: Scope, send: Send, rid: str, declared: str, receive: Receive, headers: dict[str, str]
    ) -> None:
        """The 413 and its error body, then the rest of the upload read and discarded (up to a bound)
        before the connection closes: closing on unread bytes resets the connection, and most
        clients, still writing, would report that reset instead of the 413."""
        log.warning(
            "INPUT_VALIDATION_FAILURE",
            reason="body_too_large",
            path=scope.get("path"),
            client=client_address_of_scope(scope),
            request_id=rid,
            declared_bytes=declared,
            max_bytes=self.max_body_bytes,
        )
        body = json.dumps(error_body(rid, "payload_too_large", {"max_bytes": self.max_body_bytes})).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body, "more_body": True})
        if headers.get("expect", "").lower() != "100-continue":  # such a client sends nothing unasked
            await _discard_body(receive)
        await send({"type": "http.response.body", "body": b""})

    def _observe(self, method: str, scope: Scope, status: int, started: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        elapsed = time.perf_counter() - started
        REQUESTS.labels(method, template, str(status)).inc()
        REQUEST_LATENCY.labels(method, template, str(status)).observe(elapsed)
        path = scope.get("path", "")
        if path not in _QUIET_PATHS:
            log.info(
                "request",
                method=method,
                route=template,
                status=status,
                ms=round(elapsed * 1000, 2),
                client=client_address_of_scope(scope),
            )
