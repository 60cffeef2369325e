"""Typed dependencies of security: the rate limiter (routes charge a request's tokens to it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Request

from src.kit.deps import from_state
from src.security.ratelimit import RateLimiter


async def charge_tokens(request: Request, limiter: RateLimiter, tokens: int) -> None:
    """Count a finished answer's tokens against its client's per-minute budget."""
    client = request.scope.get("state", {}).get("rate_limit_client")
    if client:
        await limiter.charge_tokens(client, tokens)


RateLimiterDep = Annotated[RateLimiter, from_state("limiter")]
