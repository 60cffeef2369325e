"""Prometheus metrics: requests per route and status, request latency, each stage's latency, readiness
and the turns waiting to be recorded. `deploy/prometheus/alerts.yml` alerts on them.

Under gunicorn, `gunicorn.conf.py` sets PROMETHEUS_MULTIPROC_DIR so `/metrics` sums every worker (the
gauges say how: readiness is the lowest of the live workers', the backlog their sum). With METRICS_PORT
set they are served on that port only (`kit/metrics_server.py`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from src.kit.metrics_server import metrics_registry

REQUESTS = Counter("rag_http_requests_total", "HTTP requests", ["method", "route", "status"])
REQUEST_LATENCY = Histogram(
    "rag_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route", "status"],
    # 0.3 s (/query) and 2 s (/answer) are the runbook's p95 targets: as bucket bounds, a p95 alert at either is exact.
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0),
)
STAGE_LATENCY = Histogram(
    "rag_stage_duration_seconds",
    "Latency of one pipeline stage (embedding, search, answer, index)",
    ["stage"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0),
)
CACHE_EVENTS = Counter("rag_cache_events_total", "Cache hits and misses", ["kind", "outcome"])
RATE_LIMITED = Counter("rag_rate_limited_total", "Requests refused by a rate limit", ["limit"])
ANSWERS_SHED = Counter(
    "rag_answers_shed_total", "Answers refused with 503: the worker had ANSWERS_MAX_IN_FLIGHT answers in flight"
)
QUERY_EMBEDDINGS = Counter(
    "rag_query_embeddings_total",
    "Questions embedded, and the model calls that embedded them (micro-batching)",
    ["kind"],
)
DEPENDENCY_ERRORS = Counter("rag_dependency_errors_total", "Failed calls to a dependency", ["dependency"])
# Set by each readiness evaluation (health/service.py): a probe's, and each worker's own at start and every
# READINESS_CHECK_SECONDS, so a worker no probe reaches is current too; 0 from the start of a drain (kit/shutdown.py).
READY = Gauge(
    "rag_ready",
    "1 if the last readiness check passed, 0 if not (starting, draining, a required dependency down)",
    multiprocess_mode="livemin",
)
# Set by the turn recorder whenever its buffer changes.
UNRECORDED_TURNS = Gauge(
    "rag_unrecorded_turns", "Answered turns waiting for the database to be written", multiprocess_mode="livesum"
)
# Set by each load of the access rules (security/access.py), per source (INDEXING_API_KEYS_FILE,
# BLOCKED_CLIENTS_FILE, settings): under gunicorn the highest of the live workers', so one worker that read a bad file shows.
ACCESS_RELOAD_FAILED = Gauge(
    "rag_access_reload_failed",
    "1 while the last load of an access source failed or refused entries (a keys or blocklist file missing, unreadable or with bad lines)",
    ["source"],
    multiprocess_mode="livemax",
)


@contextmanager
def stage(name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        STAGE_LATENCY.labels(name).observe(time.perf_counter() - started)


def render_metrics() -> tuple[bytes, str]:
    return generate_latest(metrics_registry()), CONTENT_TYPE_LATEST
