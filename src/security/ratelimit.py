"""Per-client rate limits: requests per minute, tokens (question + answer) per minute, and requests
in flight. Shared by all workers through Redis when configured; in process otherwise, and while
Redis is down. A refused request gets 429 with Retry-After and RateLimit headers, never a 500.

Windows are fixed calendar minutes, so exactly RATE_LIMIT_REQUESTS_PER_MINUTE requests succeed in
each minute and Retry-After says when the next minute starts.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from src.kit.errors import error_body
from src.kit.logging import get_logger
from src.kit.metrics import RATE_LIMITED
from src.kit.redis_link import RedisLink
from src.kit.request_context import client_address_of_scope

log = get_logger(__name__)
_WINDOW = 60
_CONCURRENCY_TTL = 120  # a crashed worker's slots expire instead of blocking a client forever
LIMITED_PREFIXES = ("/api/v1/query", "/api/v1/answer", "/api/v1/feedback", "/api/v1/sessions")
_EXEMPT_SUFFIX = "/health"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit_name: str
    limit: int
    remaining: int
    reset_seconds: int


class RateLimiter:
    def __init__(self, redis: RedisLink, requests_per_minute: int, tokens_per_minute: int, concurrent: int) -> None:
        self.redis = redis
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self.concurrent = concurrent
        self._local_counts: dict[str, int] = defaultdict(int)
        self._local_window = 0
        self._local_in_flight: dict[str, int] = defaultdict(int)

    @staticmethod
    def _window() -> tuple[int, int]:
        now = time.time()
        window = int(now // _WINDOW)
        reset = max(1, math.ceil((window + 1) * _WINDOW - now))
        return window, reset

    def _local_roll(self, window: int) -> None:
        if window != self._local_window:
            self._local_counts.clear()
            self._local_window = window

    async def acquire(self, client: str) -> Verdict:
        """Count one request and take one concurrency slot; release() must follow when allowed."""
        window, reset = self._window()
        if self.tokens_per_minute:
            used_tokens = await self._read_counter(f"rl:tok:{client}:{window}", window)
            if used_tokens >= self.tokens_per_minute:
                return Verdict(False, "tokens", self.tokens_per_minute, 0, reset)
        if self.requests_per_minute:
            count = await self._incr(f"rl:req:{client}:{window}", window, 1)
            if count > self.requests_per_minute:
                return Verdict(False, "requests", self.requests_per_minute, 0, reset)
            remaining = self.requests_per_minute - count
        else:
            remaining = 0
        if self.concurrent:
            in_flight = await self._take_slot(client)
            if in_flight > self.concurrent:
                await self._release_slot(client)
                return Verdict(False, "concurrency", self.concurrent, 0, 1)
        return Verdict(True, "requests", self.requests_per_minute, remaining, reset)

    async def release(self, client: str) -> None:
        if self.concurrent:
            await self._release_slot(client)

    async def charge_tokens(self, client: str, tokens: int) -> None:
        if self.tokens_per_minute and tokens > 0:
            window, _ = self._window()
            await self._incr(f"rl:tok:{client}:{window}", window, tokens)

    async def _incr(self, key: str, window: int, amount: int) -> int:
        async def op(r: aioredis.Redis) -> int:
            pipe = r.pipeline(transaction=True)
            pipe.incrby("rag:" + key, amount)
            pipe.expire("rag:" + key, _WINDOW + 5)
            return int((await pipe.execute())[0])

        value = await self.redis.run(op)
        if value is not None:
            return int(value)
        self._local_roll(window)
        self._local_counts[key] += amount
        return self._local_counts[key]

    async def _read_counter(self, key: str, window: int) -> int:
        value = await self.redis.run(lambda r: r.get("rag:" + key))
        if value is not None or (self.redis.configured and not self.redis.is_down):
            return int(value or 0)
        self._local_roll(window)
        return self._local_counts.get(key, 0)

    async def _take_slot(self, client: str) -> int:
        key = f"rag:rl:conc:{client}"

        async def op(r: aioredis.Redis) -> int:
            pipe = r.pipeline(transaction=True)
            pipe.incr(key)
            pipe.expire(key, _CONCURRENCY_TTL)
            return int((await pipe.execute())[0])

        value = await self.redis.run(op)
        if value is not None:
            return int(value)
        self._local_in_flight[client] += 1
        return self._local_in_flight[client]

    async def _release_slot(self, client: str) -> None:
        if self._local_in_flight.get(client, 0) > 0:
            self._local_in_flight[client] -= 1
            if not self._local_in_flight[client]:
                del self._local_in_flight[client]
            return
        key = f"rag:rl:conc:{client}"
        await self.redis.run(lambda r: r.decr(key))


def rate_limit_headers(verdict: Verdict) -> list[tuple[bytes, bytes]]:
    return [
        (b"ratelimit-limit", str(verdict.limit).encode()),
        (b"ratelimit-remaining", str(max(0, verdict.remaining)).encode()),
        (b"ratelimit-reset", str(verdict.reset_seconds).encode()),
        (b"ratelimit-policy", f"{verdict.limit};w={_WINDOW if verdict.limit_name != 'concurrency' else 1}".encode()),
    ]


DRAIN_LIMIT_BYTES = 1024 * 1024
DRAIN_TIMEOUT_SECONDS = 1.0


async def drain_body(receive: Receive) -> None:
    """Read (and drop) a refused request's body, bounded in size and time: a server that answers and
    closes while the client is still sending resets the connection, and the client never sees the 429."""
    read = 0
    try:
        async with asyncio.timeout(DRAIN_TIMEOUT_SECONDS):
            while read <= DRAIN_LIMIT_BYTES:
                message = await receive()
                read += len(message.get("body", b""))
                if message["type"] != "http.request" or not message.get("more_body", False):
                    return
    except TimeoutError:
        return


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, limiter_getter: Callable[[], RateLimiter | None]) -> None:
        self.app = app
        self._limiter_getter = limiter_getter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        limiter: RateLimiter | None = self._limiter_getter() if scope["type"] == "http" else None
        if limiter is None or not path.startswith(LIMITED_PREFIXES) or path.endswith(_EXEMPT_SUFFIX):
            await self.app(scope, receive, send)
            return
        client = client_address_of_scope(scope)
        verdict = await limiter.acquire(client)
        if not verdict.allowed:
            await drain_body(receive)
            await self._refuse(scope, send, client, verdict)
            return
        scope.setdefault("state", {})["rate_limit_client"] = client

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + rate_limit_headers(verdict)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            await limiter.release(client)

    async def _refuse(self, scope: Scope, send: Send, client: str, verdict: Verdict) -> None:
        RATE_LIMITED.labels(verdict.limit_name).inc()
        rid = str(scope.get("state", {}).get("request_id", ""))
        log.warning("RATE_LIMIT_EXCEEDED", limit=verdict.limit_name, client=client, path=scope.get("path"), request_id=rid)
        details = {"limit": verdict.limit_name, "allowed": verdict.limit, "retry_after_seconds": verdict.reset_seconds}
        body = json.dumps(error_body(rid, "rate_limited", details)).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(verdict.reset_seconds).encode()),
            *rate_limit_headers(verdict),
        ]
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": body})
