"""What the health endpoints compute, and the readiness verdict each worker keeps current for itself.

`rag_ready` is one gauge per process (under gunicorn, the lowest of the live workers'). A probe reaches
one worker at a time, so each worker also evaluates its own readiness at start and every
READINESS_CHECK_SECONDS (`refresh_ready`, run by the scheduler), skipped when a probe has just done it;
a drain sets it to 0 at once (`kit/shutdown.py`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from anyio import to_thread
from sqlalchemy import text

from src.db.migrations import schema_state
from src.health.deps import Probed
from src.kit.metrics import READY
from src.retrieval.passage import PASSAGE_FORMAT
from src.retrieval.store.base import VectorStoreUnavailable

CHECK_TIMEOUT = 2.0


class _Evaluated:
    """When this process last set `rag_ready` (per process, like the gauge)."""

    at: float | None = None


async def _database(probed: Probed) -> dict[str, Any]:
    backend = "sqlite" if probed.settings.is_sqlite else "postgresql"
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            async with probed.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            schema = await schema_state(probed.engine, probed.migrations_head)
    except Exception as exc:  # noqa: BLE001 - any failure to reach the database is "down", reported by type
        return {"status": "down", "backend": backend, "error": type(exc).__name__}
    # A schema ahead of this release serves it when the newer release's migrations were expand steps.
    status = {"current": "up", "ahead_compatible": "up", "ahead_incompatible": "incompatible"}.get(
        schema, "not_migrated"
    )
    return {"status": status, "backend": backend, "schema": schema, "pending_messages": len(probed.recorder.pending)}


async def _vector_store(probed: Probed) -> dict[str, Any]:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await to_thread.run_sync(probed.store_state.store.ping)
    except (VectorStoreUnavailable, TimeoutError) as exc:
        return {"status": "down", "backend": probed.store_state.store.kind, "error": type(exc).__name__}
    return {
        "status": "up" if probed.store_state.ready else "down",
        "backend": probed.store_state.store.kind,
        "collection": probed.settings.collection_name,
    }


async def _passages(probed: Probed) -> dict[str, Any]:
    """The passage format of what is stored: chunks written before the current one answer as they were
    indexed, without the blocks (code, tables, figures) it keeps, until the book is re-indexed."""
    if probed.outline is None or probed.cache is None:
        return {"format": PASSAGE_FORMAT}
    version = await probed.cache.index_version()
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            counted = await to_thread.run_sync(probed.outline.older_format, version)
    except (VectorStoreUnavailable, TimeoutError) as exc:
        return {"format": PASSAGE_FORMAT, "error": type(exc).__name__}
    if counted is None:  # the outline of this version is still being read, or the index is too large to read
        return {"format": PASSAGE_FORMAT, "chunks": None, "older_format_chunks": None, "reindex_needed": None}
    older, chunks = counted
    return {"format": PASSAGE_FORMAT, "chunks": chunks, "older_format_chunks": older, "reindex_needed": older > 0}


async def _cache(probed: Probed) -> dict[str, Any]:
    if not probed.redis.configured:
        return {"status": "up", "backend": "in-process"}
    up = await probed.redis.ping()
    return {"status": "up" if up else "degraded", "backend": "redis" if up else "in-process (redis down)"}


async def services(probed: Probed, required_only: bool = False) -> dict[str, dict[str, Any]]:
    """Each dependency's state; `required_only`: those readiness needs (the database and the vector store), not
    the cache, whose ping would count and log a Redis outage of its own."""
    if required_only:
        database, vector_store = await asyncio.gather(_database(probed), _vector_store(probed))
        return {"database": database, "vector_store": vector_store}
    database, vector_store, cache = await asyncio.gather(_database(probed), _vector_store(probed), _cache(probed))
    if vector_store["status"] == "up":
        vector_store["passages"] = await _passages(probed)
    return {
        "database": database,
        "vector_store": vector_store,
        "cache": cache,
        "embedder": {"status": "up", "model": probed.embedder.model_id},
    }


def required_up(found: dict[str, dict[str, Any]]) -> bool:
    return bool(found["database"]["status"] == "up" and found["vector_store"]["status"] == "up")


async def evaluate_readiness(probed: Probed, required_only: bool = False) -> dict[str, Any]:
    """The readiness body (`ready` says the verdict), and `rag_ready` set to it. `required_only`: the body lists
    only the dependencies the verdict rests on (see `services`)."""
    if probed.in_flight.draining:
        body: dict[str, Any] = {"status": "draining", "ready": False}
    else:
        found = await services(probed, required_only)
        ready = required_up(found)
        body = {"status": "ready" if ready else "not_ready", "ready": ready, "services": found}
        if probed.access is not None and not required_only:
            # Shown, not part of the verdict: a typo in a keys file refuses its line, and must not take every
            # instance out of the load balancer while students read (the alert on rag_access_reload_failed tells).
            body["access"] = probed.access.status()
    # A drain that began while the checks ran has set 0 already (kit/shutdown.py): it stands.
    READY.set(1 if body["ready"] and not probed.in_flight.draining else 0)
    _Evaluated.at = time.monotonic()
    return body


async def refresh_ready(probed: Probed, max_age_seconds: float | None = None) -> None:
    """This worker's own check: readiness evaluated, unless it was (by a probe) within `max_age_seconds`."""
    last = _Evaluated.at
    if max_age_seconds is None or last is None or time.monotonic() - last >= max_age_seconds:
        await evaluate_readiness(probed, required_only=True)
