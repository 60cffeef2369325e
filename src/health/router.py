"""Liveness, health and readiness, apart; and Prometheus metrics.

- `/health`: liveness, 200 while the process runs (cheap, touches nothing).
- `/api/v1/health`: each dependency's state; 200 when healthy or degraded, 503 when unhealthy.
- `/api/v1/health/ready`: 503 until migrations are applied and the index is open, while a
  required dependency (database, vector store) is down, and from the moment shutdown begins.
"""

from __future__ import annotations

import asyncio
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from src.kit.deps import ResourcesDep
from src.kit.metrics import render_metrics
from src.kit.resources import Resources
from src.kit.settings import VERSION
from src.retrieval.store.base import VectorStoreUnavailable

router = APIRouter(tags=["health"])
CHECK_TIMEOUT = 2.0


async def _database(resources: Resources) -> dict[str, Any]:
    backend = "sqlite" if resources.settings.is_sqlite else "postgresql"
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            async with resources.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            migrated = await resources.migrated()
    except Exception as exc:  # noqa: BLE001 - any failure to reach the database is "down", reported by type
        return {"status": "down", "backend": backend, "error": type(exc).__name__}
    return {"status": "up" if migrated else "not_migrated", "backend": backend, "pending_messages": len(resources.logging_agent.pending)}


async def _vector_store(resources: Resources) -> dict[str, Any]:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await to_thread.run_sync(resources.store.ping)
    except (VectorStoreUnavailable, TimeoutError) as exc:
        return {"status": "down", "backend": resources.store.kind, "error": type(exc).__name__}
    return {"status": "up" if resources.store_ready else "down", "backend": resources.store.kind, "collection": resources.settings.collection_name}


async def _cache(resources: Resources) -> dict[str, Any]:
    if not resources.redis.configured:
        return {"status": "up", "backend": "in-process"}
    up = await resources.redis.ping()
    return {"status": "up" if up else "degraded", "backend": "redis" if up else "in-process (redis down)"}


async def _services(resources: Resources) -> dict[str, dict[str, Any]]:
    database, vector_store, cache = await asyncio.gather(_database(resources), _vector_store(resources), _cache(resources))
    return {"database": database, "vector_store": vector_store, "cache": cache, "embedder": {"status": "up", "model": resources.embedder.model_id}}


@router.get("/health", summary="Liveness")
async def liveness() -> dict[str, str]:
    return {"status": "alive"}


@router.get("/api/v1/health", responses={503: {"description": "A required dependency is down"}}, summary="Health of each dependency")
async def health(resources: ResourcesDep) -> JSONResponse:
    services = await _services(resources)
    required_down = services["database"]["status"] != "up" or services["vector_store"]["status"] != "up"
    status = "unhealthy" if required_down else ("degraded" if services["cache"]["status"] != "up" else "healthy")
    return JSONResponse({"status": status, "services": services, "version": VERSION}, status_code=503 if status == "unhealthy" else 200)


@router.get("/api/v1/health/ready", responses={503: {"description": "Not ready: starting, draining, or a required dependency is down"}}, summary="Readiness")
async def readiness(resources: ResourcesDep) -> JSONResponse:
    if resources.in_flight.draining:
        return JSONResponse({"status": "draining", "ready": False}, status_code=503, headers={"Retry-After": "5"})
    services = await _services(resources)
    ready = services["database"]["status"] == "up" and services["vector_store"]["status"] == "up"
    body = {"status": "ready" if ready else "not_ready", "ready": ready, "services": services}
    return JSONResponse(body, status_code=200 if ready else 503, headers={} if ready else {"Retry-After": "5"})


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics() -> Response:
    body, content_type = render_metrics()
    return Response(body, media_type=content_type)
