"""Failed key attempts, throttled per client: after AUTH_FAILURE_LIMIT failures within
AUTH_FAILURE_WINDOW_SECONDS of the first, every attempt is refused with 429 and Retry-After, a right
key included, until the window ends. Counted in Redis when configured (every worker shares the count),
in process otherwise and while Redis is down, as the rate limiter does.

The key is compared first; then one atomic step (`attempt`) both says whether the client is locked out
and, for a wrong key, counts it. So however many attempts a client has in flight at once, on however
many workers, at most AUTH_FAILURE_LIMIT wrong keys get a 401 per window: reading the count and
counting in two steps let every attempt in flight through the read. A right key counts nothing.

Failures are counted per client as the rate limits count it: an IPv6 address by its network
(RATE_LIMIT_IPV6_PREFIX), so the addresses of one /64 share one count instead of each trying anew."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import redis.asyncio as aioredis

from src.kit.redis_link import RedisLink
from src.kit.request_context import client_key

_LOCAL_MAX_CLIENTS = 100_000  # past these, expired entries are swept

# KEYS[1] the client's count; ARGV: the limit, the window, 1 to count this attempt as a failure.
# Returns {failures, seconds the window has left, admitted}.
_ATTEMPT = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count >= tonumber(ARGV[1]) then
  return {count, redis.call('TTL', KEYS[1]), 0}
end
if ARGV[3] == '1' then
  redis.call('SET', KEYS[1], 0, 'EX', ARGV[2], 'NX')
  count = redis.call('INCR', KEYS[1])
end
return {count, redis.call('TTL', KEYS[1]), 1}
"""


@dataclass(frozen=True)
class Attempt:
    admitted: bool  # False: locked out, refuse (429) whatever the key
    count: int  # failures in the window, this attempt's included
    retry_after: int  # seconds until the window ends


class AuthThrottle:
    def __init__(self, redis: RedisLink, limit: int, window_seconds: int, ipv6_prefix: int = 64) -> None:
        self.redis = redis
        self.limit = limit
        self.window = window_seconds
        self.ipv6_prefix = ipv6_prefix
        self._local: dict[str, tuple[int, float]] = {}  # client -> (failures, end of its window on the monotonic clock)

    @staticmethod
    def _key(client: str) -> str:
        return f"rag:authfail:{client}"

    async def attempt(self, client: str, failed: bool) -> Attempt:
        """Whether the client may be answered, with `failed` (a wrong key) counted when it may."""
        if not self.limit:
            return Attempt(True, 0, 0)
        client = client_key(client, self.ipv6_prefix)
        key = self._key(client)

        async def op(r: aioredis.Redis) -> list[int]:
            return await r.eval(_ATTEMPT, 1, key, self.limit, self.window, int(failed))  # type: ignore[no-any-return]

        found = await self.redis.run(op)
        if found is None:
            return self._local_attempt(client, failed)
        count, ttl, admitted = (int(v) for v in found)
        return Attempt(bool(admitted), count, max(1, ttl))

    def _local_attempt(self, client: str, failed: bool) -> Attempt:
        now = time.monotonic()
        if len(self._local) > _LOCAL_MAX_CLIENTS:
            self._local = {c: v for c, v in self._local.items() if v[1] > now}
        count, ends = self._local.get(client, (0, 0.0))
        if ends <= now:
            count, ends = 0, now + self.window
        retry_after = max(1, math.ceil(ends - now))
        if count >= self.limit:
            return Attempt(False, count, retry_after)
        if failed:
            count += 1
            self._local[client] = (count, ends)
        return Attempt(True, count, retry_after)
