"""Cache for embeddings, query results and answers: Redis when configured (shared by all workers),
in process otherwise or while Redis is down. Keys carry the index version, so a re-index makes
every cached result unreachable at once.

The shared version lives in Redis (`rag:index_version`). If it is missing (a fresh or restarted
Redis, or evicted) it is re-created from the clock, so it can never repeat a version some worker
cached results under before. A re-index while Redis is unreachable is remembered and applied to
the shared version as soon as Redis answers again, so no worker keeps serving the old index."""

from __future__ import annotations

import time
from collections import OrderedDict

import redis.asyncio as aioredis

from src.kit.metrics import CACHE_EVENTS
from src.kit.redis_link import RedisLink

_PREFIX = "rag:"
_VERSION_KEY = _PREFIX + "index_version"


# What an entry costs besides its key's and value's own bytes: the bytes and str objects' headers, the
# (expiry, value) tuple, the float and the ordered dict's node (about 200 bytes on CPython 3.11), rounded up.
ENTRY_OVERHEAD_BYTES = 256


class LocalTTLCache:
    """A bounded LRU with per-entry expiry; one process only. Bounded both in entries and in bytes
    (keys, values and ENTRY_OVERHEAD_BYTES each): answers differ in size by a hundredfold, so a count
    alone bounds nothing."""

    def __init__(self, max_entries: int, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.size_bytes = 0
        self._data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._data)

    @staticmethod
    def _cost(key: str, value: bytes) -> int:
        return len(key) + len(value) + ENTRY_OVERHEAD_BYTES

    def _drop(self, key: str) -> None:
        item = self._data.pop(key, None)
        if item is not None:
            self.size_bytes -= self._cost(key, item[1])

    def get(self, key: str) -> bytes | None:
        item = self._data.get(key)
        if item is None:
            return None
        expires, value = item
        if expires < time.monotonic():
            self._drop(key)
            return None
        self._data.move_to_end(key)
        return value

    def set(self, key: str, value: bytes, ttl: int) -> None:
        self._drop(key)  # a value that does not fit must not leave the older one behind
        cost = self._cost(key, value)
        if self.max_entries <= 0 or ttl <= 0 or cost > self.max_bytes:
            return
        self._data[key] = (time.monotonic() + ttl, value)
        self.size_bytes += cost
        while len(self._data) > self.max_entries or self.size_bytes > self.max_bytes:
            oldest, (_, dropped) = self._data.popitem(last=False)
            self.size_bytes -= self._cost(oldest, dropped)

    def clear(self) -> None:
        self._data.clear()
        self.size_bytes = 0


class Cache:
    def __init__(self, redis: RedisLink, max_entries: int, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.redis = redis
        self.local = LocalTTLCache(max_entries, max_bytes)
        self._local_version = 0
        self._bump_pending = False

    async def get(self, kind: str, key: str) -> bytes | None:
        full = f"{_PREFIX}{kind}:{key}"
        value = _as_bytes(await self.redis.run(lambda r: r.get(full))) if self.redis.available else None
        if not self.redis.configured or self.redis.is_down:
            value = self.local.get(full)
        CACHE_EVENTS.labels(kind, "hit" if value is not None else "miss").inc()
        return value

    async def set(self, kind: str, key: str, value: bytes, ttl: int) -> None:
        if ttl <= 0:
            return
        full = f"{_PREFIX}{kind}:{key}"
        stored = await self.redis.run(lambda r: r.set(full, value, ex=ttl)) if self.redis.available else None
        if stored is None:
            self.local.set(full, value, ttl)

    async def index_version(self) -> str:
        remote = await self.redis.run(self._shared_version) if self.redis.available else None
        if remote is not None:
            return f"r{remote}"
        return f"l{self._local_version}"

    async def _shared_version(self, r: aioredis.Redis) -> int:
        if self._bump_pending:  # a re-index happened while Redis was unreachable
            await self._bump_shared(r)
            self._bump_pending = False
        value = await r.get(_VERSION_KEY)
        if value is None:
            await r.set(_VERSION_KEY, _fresh_version(), nx=True)
            value = await r.get(_VERSION_KEY)
        return int(_as_bytes(value) or 0)

    @staticmethod
    async def _bump_shared(r: aioredis.Redis) -> int:
        """A new shared version: past the current one, or (key missing) one from the clock, never reused."""
        if await r.set(_VERSION_KEY, _fresh_version(), nx=True):
            return int(_as_bytes(await r.get(_VERSION_KEY)) or 0)
        return int(await r.incr(_VERSION_KEY))

    async def bump_index_version(self) -> None:
        """Called after every change to the index: cached results of the old version become unreachable."""
        self._local_version += 1
        self.local.clear()
        if self.redis.configured and await self.redis.run(self._bump_shared) is None:
            self._bump_pending = True  # applied to the shared version once Redis answers


def _fresh_version() -> int:
    """Milliseconds since the epoch: larger than any version counted up from an earlier seed."""
    return time.time_ns() // 1_000_000


def _as_bytes(value: bytes | str | None) -> bytes | None:
    """A Redis reply as bytes (the client is not opened with decode_responses, so it already is)."""
    return value.encode() if isinstance(value, str) else value
