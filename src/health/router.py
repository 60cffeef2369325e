"""Liveness, health and readiness, apart; and Prometheus metrics.

- `/health`: liveness, 200 while the process runs (cheap, touches nothing).
- `/api/v1/health`: each dependency's state; 200 when healthy or degraded, 503 when unhealthy.
- `/api/v1/health/ready`: 503 until migrations are applied and the index is open, while a
  required dependency (database, vector store) is down, and from the moment shutdown begins. Each
  evaluation sets the `rag_ready` gauge, which the readiness alert watches.
"""

from __future__ import annotations

import asyncio
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from src.db.migrations import schema_state
from src.health.deps import Probed, ProbedDep
from src.kit.metrics import READY, render_metrics
from src.kit.settings import VERSION
from src.retrieval.store.base import VectorStoreUnavailable

router = APIRouter(tags=["health"])
CHECK_TIMEOUT = 2.0


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
    status = {"current": "up", "ahead_compatible": "up", "ahead_incompatible": "incompatible"}.get(schema, "not_migrated")
    return {"status": status, "backend": backend, "schema": schema, "pending_messages": len(probed.recorder.pending)}


async def _vector_store(probed: Probed) -> dict[str, Any]:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await to_thread.run_sync(probed.store_state.store.ping)
    except (VectorStoreUnavailable, TimeoutError) as exc:
        return {"status": "down", "backend": probed.store_state.store.kind, "error": type(exc).__name__}
    return {"status": "up" if probed.store_state.ready else "down", "backend": probed.store_state.store.kind, "collection": probed.settings.collection_name}


async def _cache(probed: Probed) -> dict[str, Any]:
    if not probed.redis.configured:
        return {"status": "up", "backend": "in-process"}
    up = await probed.redis.ping()
    return {"status": "up" if up else "degraded", "backend": "redis" if up else "in-process (redis down)"}


async def _services(probed: Probed) -> dict[str, dict[str, Any]]:
    database, vector_store, cache = await asyncio.gather(_database(probed), _vector_store(probed), _cache(probed))
    return {"database": database, "vector_store": vector_store, "cache": cache, "embedder": {"status": "up", "model": probed.embedder.model_id}}


@router.get("/health", summary="Liveness")
async def liveness() -> dict[str, str]:
    return {"status": "alive"}


@router.get(
    "/api/v1/health", responses={503: {"description": "A required dependency is down (the same body, status unhealthy)"}}, summary="Health of each dependency"
)
async def health(probed: ProbedDep) -> JSONResponse:
    services = await _services(probed)
    required_down = services["database"]["status"] != "up" or services["vector_store"]["status"] != "up"
    status = "unhealthy" if required_down else ("degraded" if services["cache"]["status"] != "up" else "healthy")
    return JSONResponse({"status": status, "services": services, "version": VERSION}, status_code=503 if status == "unhealthy" else 200)


@router.get("/api/v1/health/ready", responses={503: {"description": "Not ready: starting, draining, or a required dependency is down"}}, summary="Readiness")
async def readiness(probed: ProbedDep) -> JSONResponse:
    if probed.in_flight.draining:
        READY.set(0)
        return JSONResponse({"status": "draining", "ready": False}, status_code=503, headers={"Retry-After": "5"})
    services = await _services(probed)
    ready = services["database"]["status"] == "up" and services["vector_store"]["status"] == "up"
    READY.set(1 if ready else 0)
    body = {"status": "ready" if ready else "not_ready", "ready": ready, "services": services}
    return JSONResponse(body, status_code=200 if ready else 503, headers={} if ready else {"Retry-After": "5"})


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics() -> Response:
    body, content_type = render_metrics()
    return Response(body, media_type=content_type)
