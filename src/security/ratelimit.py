"""Per-client rate limits: requests per minute, tokens (question, selection and answer) per minute, and requests
in flight. Shared by all workers through Redis when configured; in process otherwise, and while
Redis is down. A refused request gets 429 with Retry-After and RateLimit headers, never a 500.

A client is counted by its address, an IPv6 one by its network (RATE_LIMIT_IPV6_PREFIX, a /64 by
default: a subscriber is handed a whole /64 and may use any address in it); log lines name the full
address. The API (LIMITED_PREFIXES) has every limit; the reading pages (`/` and `/read/...`) count
against the same requests per minute, and nothing else.

Besides, each worker answers at most ANSWERS_MAX_IN_FLIGHT answers at once, all clients together: an
answer is CPU work on a small machine, and past that many a new one would only make every answer in
flight late. The next gets 503 with Retry-After (ANSWERS_AT_CAPACITY), not a place in a queue.

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

from src.kit.errors import ServiceUnavailable, error_body
from src.kit.logging import get_logger
from src.kit.metrics import ANSWERS_SHED, RATE_LIMITED
from src.kit.redis_link import RedisLink
from src.kit.request_context import client_address_of_scope, client_key

log = get_logger(__name__)
_WINDOW = 60
_CONCURRENCY_TTL = 120  # a crashed worker's slots expire instead of blocking a client forever
LIMITED_PREFIXES = ("/api/v1/query", "/api/v1/answer", "/api/v1/feedback", "/api/v1/sessions")
_EXEMPT_SUFFIX = "/health"
# The reading pages: each one reads the database, and nothing else stood in the way of a flood of them.
PAGE_PATH = "/"
PAGE_PREFIX = "/read/"
ANSWER_PATHS = frozenset({"/api/v1/answer", "/api/v1/answer/stream"})
ANSWERS_RETRY_AFTER_SECONDS = (
    2  # an answer takes tens of milliseconds (a model's, ANSWER_TIMEOUT_SECONDS at most): slots free up by then
)
ANSWERS_BUSY = "The service is answering as many questions as it can; retry shortly."
# A slot is given back only while the count is above zero: a count that expired or was evicted under a
# request in flight must not go negative and hand its client extra slots.
_RELEASE_SLOT = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > 0 then
  return redis.call('DECR', KEYS[1])
end
return 0
"""


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit_name: str
    limit: int
    remaining: int
    reset_seconds: int


class RateLimiter:
    def __init__(
        self,
        redis: RedisLink,
        requests_per_minute: int,
        tokens_per_minute: int,
        concurrent: int,
        ipv6_prefix: int = 64,
        answers_max_in_flight: int = 0,
    ) -> None:
        self.redis = redis
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self.concurrent = concurrent
        self.ipv6_prefix = ipv6_prefix
        self.answers_max_in_flight = answers_max_in_flight
        self.answers_in_flight = 0  # this worker's, all clients together
        self._local_counts: dict[str, int] = defaultdict(int)
        self._local_window = 0
        self._local_in_flight: dict[str, int] = defaultdict(int)

    def key_of(self, client: str) -> str:
        """Whom `client`'s limits are counted for (an IPv6 address: its network)."""
        return client_key(client, self.ipv6_prefix)

    def take_answer_slot(self) -> bool:
        """One of this worker's answer slots; False when all are taken. release_answer_slot() must follow a True."""
        if self.answers_max_in_flight and self.answers_in_flight >= self.answers_max_in_flight:
            return False
        self.answers_in_flight += 1
        return True

    def release_answer_slot(self) -> None:
        self.answers_in_flight = max(0, self.answers_in_flight - 1)

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

    async def acquire_page(self, client: str) -> Verdict:
        """Count one request for a reading page: requests per minute only (a page spends no tokens, and is quick)."""
        window, reset = self._window()
        if not self.requests_per_minute:
            return Verdict(True, "requests", 0, 0, reset)
        count = await self._incr(f"rl:req:{client}:{window}", window, 1)
        allowed = count <= self.requests_per_minute
        return Verdict(allowed, "requests", self.requests_per_minute, max(0, self.requests_per_minute - count), reset)

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
        await self.redis.run(lambda r: r.eval(_RELEASE_SLOT, 1, key))


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


def _kind_of(path: str) -> str | None:
    """Which limits a path has: "api" (every one), "page" (requests per minute only) or None."""
    if path == PAGE_PATH or path.startswith(PAGE_PREFIX):
        return "page"
    if path.startswith(LIMITED_PREFIXES) and not path.endswith(_EXEMPT_SUFFIX):
        return "api"
    return None


async def _send_error(send: Send, status: int, body: dict[str, object], headers: list[tuple[bytes, bytes]]) -> None:
    encoded = json.dumps(body).encode()
    start = [(b"content-type", b"application/json"), (b"content-length", str(len(encoded)).encode()), *headers]
    await send({"type": "http.response.start", "status": status, "headers": start})
    await send({"type": "http.response.body", "body": encoded})


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, limiter_getter: Callable[[], RateLimiter | None]) -> None:
        self.app = app
        self._limiter_getter = limiter_getter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        limiter: RateLimiter | None = self._limiter_getter() if scope["type"] == "http" else None
        kind = _kind_of(path) if limiter is not None else None
        if limiter is None or kind is None:
            await self.app(scope, receive, send)
            return
        client = client_address_of_scope(scope)
        key = limiter.key_of(client)
        answer = path in ANSWER_PATHS and scope.get("method") == "POST"
        if answer and not limiter.take_answer_slot():
            await drain_body(receive)
            await self._shed(scope, send, client, limiter)
            return
        try:
            verdict = await (limiter.acquire_page(key) if kind == "page" else limiter.acquire(key))
            if not verdict.allowed:
                await drain_body(receive)
                await self._refuse(scope, send, client, key, verdict)
                return
            scope.setdefault("state", {})["rate_limit_client"] = key

            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = list(message.get("headers", [])) + rate_limit_headers(verdict)
                await send(message)

            try:
                await self.app(scope, receive, send_with_headers)
            finally:
                if kind == "api":
                    await limiter.release(key)
        finally:
            if answer:
                limiter.release_answer_slot()

    async def _refuse(self, scope: Scope, send: Send, client: str, key: str, verdict: Verdict) -> None:
        RATE_LIMITED.labels(verdict.limit_name).inc()
        rid = str(scope.get("state", {}).get("request_id", ""))
        log.warning(
            "RATE_LIMIT_EXCEEDED",
            limit=verdict.limit_name,
            client=client,
            client_key=key,
            path=scope.get("path"),
            request_id=rid,
        )
        details = {"limit": verdict.limit_name, "allowed": verdict.limit, "retry_after_seconds": verdict.reset_seconds}
        headers = [(b"retry-after", str(verdict.reset_seconds).encode()), *rate_limit_headers(verdict)]
        await _send_error(send, 429, error_body(rid, "rate_limited", details), headers)

    async def _shed(self, scope: Scope, send: Send, client: str, limiter: RateLimiter) -> None:
        """All of this worker's answer slots are taken: 503 with Retry-After, as the app renders ServiceUnavailable."""
        ANSWERS_SHED.inc()
        rid = str(scope.get("state", {}).get("request_id", ""))
        log.warning(
            "ANSWERS_AT_CAPACITY",
            in_flight=limiter.answers_in_flight,
            limit=limiter.answers_max_in_flight,
            client=client,
            path=scope.get("path"),
            request_id=rid,
        )
        refused = ServiceUnavailable(ANSWERS_BUSY, retry_after=ANSWERS_RETRY_AFTER_SECONDS)
        headers = [(name.lower().encode(), value.encode()) for name, value in refused.headers.items()]
        await _send_error(send, refused.status_code, error_body(rid, refused.error, refused.shown_details), headers)
