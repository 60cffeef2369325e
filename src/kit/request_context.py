"""Who sent a request and which request it is: the request id and the client address."""

from __future__ import annotations

import re
import uuid

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.types import Scope

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def new_request_id(incoming: str | None) -> str:
    """Keep a well-formed incoming X-Request-ID (so traces join up); otherwise make one."""
    if incoming and _SAFE_ID.match(incoming):
        return incoming
    return uuid.uuid4().hex


def request_id_of(conn: HTTPConnection) -> str:
    rid = conn.scope.get("state", {}).get("request_id")
    return str(rid) if rid else new_request_id(None)


def client_address(conn: HTTPConnection) -> str:
    return client_address_of_scope(conn.scope)


def client_address_of_scope(scope: Scope) -> str:
    """The peer address; the first X-Forwarded-For hop only when TRUST_FORWARDED_FOR is set."""
    if scope.get("state", {}).get("trust_forwarded_for"):
        forwarded = Headers(scope=scope).get("x-forwarded-for")
        if forwarded:
            return forwarded.split(",")[0].strip()[:64]
    client = scope.get("client")
    return str(client[0]) if client else "unknown"
