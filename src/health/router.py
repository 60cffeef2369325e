"""Liveness, health and readiness, apart; and Prometheus metrics (`metrics_router`, on the main port unless
METRICS_PORT gives them a port of their own).

- `/health`: liveness, 200 while the process runs (cheap, touches nothing).
- `/api/v1/health`: each dependency's state; 200 when healthy or degraded, 503 when unhealthy.
- `/api/v1/health/ready`: 503 until migrations are applied and the index is open, while a
  required dependency (database, vector store) is down, and from the moment shutdown begins. Each
  evaluation sets the `rag_ready` gauge, which the readiness alert watches; each worker also
  evaluates it by itself (`health/service.py`), so the gauge does not depend on where probes land.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from src.health.deps import ProbedDep
from src.health.service import evaluate_readiness, required_up, services
from src.kit.metrics import render_metrics
from src.kit.settings import VERSION

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness")
async def liveness() -> dict[str, str]:
    return {"status": "alive"}


@router.get(
    "/api/v1/health",
    responses={503: {"description": "A required dependency is down (the same body, status unhealthy)"}},
    summary="Health of each dependency",
)
async def health(probed: ProbedDep) -> JSONResponse:
    found = await services(probed)
    status = "unhealthy" if not required_up(found) else ("degraded" if found["cache"]["status"] != "up" else "healthy")
    unhealthy = status == "unhealthy"
    return JSONResponse(
        {"status": status, "services": found, "version": VERSION},
        status_code=503 if unhealthy else 200,
        headers={"Retry-After": "5"} if unhealthy else {},
    )


@router.get(
    "/api/v1/health/ready",
    responses={503: {"description": "Not ready: starting, draining, or a required dependency is down"}},
    summary="Readiness",
)
async def readiness(probed: ProbedDep) -> JSONResponse:
    body = await evaluate_readiness(probed)
    ready = bool(body["ready"])
    return JSONResponse(body, status_code=200 if ready else 503, headers={} if ready else {"Retry-After": "5"})


# Included by the app only while METRICS_PORT is unset; with it set the metrics are served on that port alone
# (kit/metrics_server.py) and the public port answers /metrics with 404.
metrics_router = APIRouter(tags=["health"])


@metrics_router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics() -> Response:
    body, content_type = render_metrics()
    return Response(body, media_type=content_type)
