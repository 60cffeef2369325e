"""The in-process cache (used without Redis, and while Redis is down) is bounded in bytes as well as in
entries, least recently used first out: answers differ in size a hundredfold (a k=50 answer about a long
selection is tens of kilobytes), so a count of entries alone let a full cache reach a gigabyte per worker."""

from __future__ import annotations

import os
from pathlib import Path

from src.kit.cache import ENTRY_OVERHEAD_BYTES, Cache, LocalTTLCache
from src.kit.redis_link import RedisLink
from tests.conftest import make_settings, running_app
from tests.security.test_rate_limits import QUESTIONS, index_chapter

KIB = 1024


def test_large_values_stay_within_the_byte_bound_least_recently_used_first_out() -> None:
    bound = 1024 * KIB
    cache = LocalTTLCache(max_entries=10_000, max_bytes=bound)
    values = {f"rag:answer:{n:04d}": os.urandom(100 * KIB) for n in range(50)}
    for n, (key, value) in enumerate(values.items()):
        cache.set(key, value, ttl=3600)
        assert cache.size_bytes <= bound
        if n == 3:
            assert cache.get("rag:answer:0000") is not None  # read: the most recently used now
    fits = bound // (100 * KIB + len("rag:answer:0000") + ENTRY_OVERHEAD_BYTES)
    assert len(cache) == fits
    kept = [key for key in values if cache.get(key) is not None]
    assert kept == list(values)[-fits:]  # the newest; the one read early went with the others of its age
    assert cache.size_bytes == sum(len(k) + len(values[k]) + ENTRY_OVERHEAD_BYTES for k in kept)


def test_a_value_larger_than_the_bound_is_not_kept_nor_is_the_one_it_replaces() -> None:
    cache = LocalTTLCache(max_entries=100, max_bytes=64 * KIB)
    cache.set("small", b"x" * KIB, ttl=60)
    cache.set("small", os.urandom(65 * KIB), ttl=60)
    assert cache.get("small") is None and cache.size_bytes == 0
    cache.set("a", b"1" * KIB, ttl=60)
    cache.set("a", b"2" * (2 * KIB), ttl=60)  # replaced, not counted twice
    assert cache.size_bytes == len("a") + 2 * KIB + ENTRY_OVERHEAD_BYTES
    cache.clear()
    assert cache.size_bytes == 0 and len(cache) == 0


async def test_the_entry_bound_still_holds() -> None:
    cache = Cache(RedisLink(None, 0.5, 2.0), max_entries=3, max_bytes=64 * KIB)
    for n in range(5):
        await cache.set("query", str(n), b"v", ttl=60)
    assert [await cache.get("query", str(n)) for n in range(5)] == [None, None, b"v", b"v", b"v"]


async def test_the_service_cache_stays_within_cache_max_bytes(tmp_path: Path) -> None:
    """Real answers (k=50: every passage of the chapter, tens of kilobytes each) fill the service's cache
    past CACHE_MAX_BYTES: it keeps within it, with fewer answers than were asked."""
    bound = 128 * KIB
    settings = make_settings(tmp_path, cache_max_bytes=bound)
    async with running_app(settings) as (app, client):
        await index_chapter(client)
        sizes = []
        for question in QUESTIONS:
            response = await client.post("/api/v1/answer", json={"question": question, "k": 50})
            assert response.status_code == 200, response.text
            sizes.append(len(response.content))
        local = app.state.container.cache.local
        assert sum(sizes) > 2 * bound  # the answers alone would have held twice the bound
        assert 0 < local.size_bytes <= bound
        answers = [key for key in local._data if key.startswith("rag:answer:")]
        assert 0 < len(answers) < len(QUESTIONS)
