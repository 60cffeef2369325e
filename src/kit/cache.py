"""Cache for embeddings, query results and answers: Redis when configured (shared by all workers),
in process otherwise or while Redis is down. Keys carry the index version, so a re-index makes
every cached result unreachable at once."""

from __future__ import annotations

import time
from collections import OrderedDict

from src.kit.metrics import CACHE_EVENTS
from src.kit.redis_link import RedisLink

_PREFIX = "rag:"
_VERSION_KEY = _PREFIX + "index_version"


class LocalTTLCache:
    """A bounded LRU with per-entry expiry; one process only."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def get(self, key: str) -> bytes | None:
        item = self._data.get(key)
        if item is None:
            return None
        expires, value = item
        if expires < time.monotonic():
            self._data.pop(key, None)
            return None
        self._data.move_to_end(key)
        return value

    def set(self, key: str, value: bytes, ttl: int) -> None:
        if self.max_entries <= 0 or ttl <= 0:
            return
        self._data[key] = (time.monotonic() + ttl, value)
        self._data.move_to_end(key)
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)

    def clear(self) -> None:
        self._data.clear()


class Cache:
    def __init__(self, redis: RedisLink, max_entries: int) -> None:
        self.redis = redis
        self.local = LocalTTLCache(max_entries)
        self._local_version = 0

    async def get(self, kind: str, key: str) -> bytes | None:
        full = f"{_PREFIX}{kind}:{key}"
        value = await self.redis.run(lambda r: r.get(full)) if self.redis.available else None
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
        remote = await self.redis.run(lambda r: r.get(_VERSION_KEY)) if self.redis.available else None
        if remote is not None:
            return f"r{int(remote)}"
        return f"l{self._local_version}"

    async def bump_index_version(self) -> None:
        """Called after every change to the index: cached results of the old version become unreachable."""
        self._local_version += 1
        self.local.clear()
        await self.redis.run(lambda r: r.incr(_VERSION_KEY))
