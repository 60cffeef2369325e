"""A Redis connection that may go away: callers fall back to in-process state while it is down and
use Redis again as soon as it answers (checked at most every REDIS_RETRY_SECONDS).

Every operation is bounded by REDIS_TIMEOUT_SECONDS; while Redis is down, one request per retry
period pays that (a refused connection costs nothing), the others skip Redis. Recovery is noticed by
the first operation or health check that succeeds, and logged (REDIS_RECOVERED)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from src.kit.logging import get_logger
from src.kit.metrics import DEPENDENCY_ERRORS

log = get_logger(__name__)
T = TypeVar("T")
REDIS_FAULTS = (RedisError, OSError, TimeoutError)


class RedisLink:
    def __init__(self, url: str | None, timeout: float, retry_seconds: float) -> None:
        self.url = url
        self.retry_seconds = retry_seconds
        self.client: aioredis.Redis | None = (
            aioredis.Redis.from_url(
                url, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=30
            )
            if url
            else None
        )
        self._down_since: float | None = None
        self._next_try = 0.0

    @property
    def configured(self) -> bool:
        return self.client is not None

    @property
    def available(self) -> bool:
        """Whether to try Redis now: configured, and not inside the back-off after a failure."""
        return self.client is not None and (self._down_since is None or time.monotonic() >= self._next_try)

    @property
    def is_down(self) -> bool:
        return self._down_since is not None

    async def run(self, op: Callable[[aioredis.Redis], Awaitable[T]]) -> T | None:
        """Run `op` on Redis; None when Redis is not configured, backing off, or failing now."""
        if not self.available or self.client is None:
            return None
        try:
            result = await op(self.client)
        except REDIS_FAULTS as exc:
            self._mark_down(exc)
            return None
        self._mark_up()
        return result

    def _mark_down(self, exc: BaseException) -> None:
        DEPENDENCY_ERRORS.labels("redis").inc()
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
            log.warning("REDIS_UNAVAILABLE", error=type(exc).__name__, fallback="in-process cache and rate limits")
        self._next_try = now + self.retry_seconds

    def _mark_up(self) -> None:
        if self._down_since is not None:
            log.warning("REDIS_RECOVERED", down_seconds=round(time.monotonic() - self._down_since, 2))
            self._down_since = None

    async def ping(self) -> bool:
        """Ask Redis now, back-off or not (health checks): a success ends an outage, a failure starts one."""
        if self.client is None:
            return False
        try:
            await self.client.ping()
        except REDIS_FAULTS as exc:
            self._mark_down(exc)
            return False
        self._mark_up()
        return True

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()
