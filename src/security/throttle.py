"""Failed key attempts, throttled per client: after AUTH_FAILURE_LIMIT failures within
AUTH_FAILURE_WINDOW_SECONDS of the first, every attempt is refused with 429 and Retry-After, a right
key included, until the window ends. Counted in Redis when configured (every worker shares the count),
in process otherwise and while Redis is down, as the rate limiter does."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import redis.asyncio as aioredis

from src.kit.redis_link import RedisLink

_LOCAL_MAX_CLIENTS = 100_000  # past these, expired entries are swept


@dataclass(frozen=True)
class Failures:
    count: int
    retry_after: int  # seconds until the window ends


class AuthThrottle:
    def __init__(self, redis: RedisLink, limit: int, window_seconds: int) -> None:
        self.redis = redis
        self.limit = limit
        self.window = window_seconds
        self._local: dict[str, tuple[int, float]] = {}  # client -> (failures, end of its window on the monotonic clock)

    @staticmethod
    def _key(client: str) -> str:
        return f"rag:authfail:{client}"

    async def locked(self, client: str) -> Failures | None:
        """The client's failures when it may not try again yet, else None."""
        if not self.limit:
            return None
        key = self._key(client)

        async def op(r: aioredis.Redis) -> tuple[int, int]:
            pipe = r.pipeline(transaction=True)
            pipe.get(key)
            pipe.ttl(key)
            count, ttl = await pipe.execute()
            return int(count or 0), int(ttl)

        found = await self.redis.run(op)
        count, ttl = found if found is not None else self._local_read(client)
        return Failures(count, max(1, ttl)) if count >= self.limit else None

    async def fail(self, client: str) -> Failures:
        """Count one failure; the window starts at a client's first."""
        key = self._key(client)

        async def op(r: aioredis.Redis) -> tuple[int, int]:
            pipe = r.pipeline(transaction=True)
            pipe.set(key, 0, ex=self.window, nx=True)
            pipe.incr(key)
            pipe.ttl(key)
            _, count, ttl = await pipe.execute()
            return int(count), int(ttl)

        found = await self.redis.run(op)
        count, ttl = found if found is not None else self._local_incr(client)
        return Failures(count, max(1, ttl))

    def _local_read(self, client: str) -> tuple[int, int]:
        count, ends = self._local.get(client, (0, 0.0))
        left = ends - time.monotonic()
        return (count, math.ceil(left)) if left > 0 else (0, 0)

    def _local_incr(self, client: str) -> tuple[int, int]:
        now = time.monotonic()
        if len(self._local) > _LOCAL_MAX_CLIENTS:
            self._local = {c: v for c, v in self._local.items() if v[1] > now}
        count, ends = self._local.get(client, (0, 0.0))
        if ends <= now:
            count, ends = 0, now + self.window
        self._local[client] = (count + 1, ends)
        return count + 1, math.ceil(ends - now)
