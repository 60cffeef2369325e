"""Prometheus metrics on a port of their own (METRICS_PORT, on METRICS_HOST), apart from the public API port.

- Under gunicorn the master serves them (`serve_from_master`, from gunicorn.conf.py's `when_ready`): it
  outlives every worker and reads all their files in PROMETHEUS_MULTIPROC_DIR, so one scrape sums them
  whichever worker answered, died or was replaced. It marks its environment (MASTER_MARK) before the
  workers fork, so their lifespans leave the port to it.
- Under uvicorn alone the app's lifespan serves them from a thread (`serve_in_process`).

With METRICS_PORT set the main port has no /metrics route at all (src/app.py), so it answers 404.

This module must not import src/kit/metrics.py: imported in gunicorn's master, its gauges would create the
master's own value files (a `rag_ready` of 0 that the live-minimum would then report for every scrape).
"""

from __future__ import annotations

import asyncio
import os
import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

from src.kit.logging import get_logger

log = get_logger(__name__)

# Set by the gunicorn master that serves METRICS_PORT, to "host:port": its workers (forked after) do not.
MASTER_MARK = "RAG_BACKEND_METRICS_SERVED_BY_MASTER"
_master_server: MetricsServer | None = None  # the master's, kept across a reload (HUP runs gunicorn.conf.py again)


def metrics_registry() -> CollectorRegistry:
    """What a scrape reads: every process's files in multiprocess mode (gunicorn), else this process's metrics."""
    multiproc_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if multiproc_dir and os.path.isdir(multiproc_dir):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # prometheus_client leaves it unannotated
        return registry
    return REGISTRY


class MetricsPortUnavailable(RuntimeError):
    """METRICS_PORT could not be bound: the start stops here rather than run without its metrics."""


class MetricsServer:
    """prometheus_client's HTTP server (a daemon thread), answering the exposition format on every path."""

    def __init__(self, host: str, port: int) -> None:
        self.address = f"{host}:{port}"
        try:
            self._server: WSGIServer
            self._thread: threading.Thread
            self._server, self._thread = start_http_server(port, addr=host, registry=metrics_registry())
        except OSError as exc:
            raise MetricsPortUnavailable(
                f"cannot serve the metrics on METRICS_HOST:METRICS_PORT={self.address}: {exc.strerror or exc}"
            ) from exc

    def release_inherited_socket(self) -> None:
        self._server.socket.close()

    def close(self) -> None:
        self._server.shutdown()  # waits for serve_forever to return (it polls every 0.5 s)
        self._server.server_close()
        self._thread.join(timeout=5)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)


def serve_from_master(host: str, port: int | None) -> MetricsServer | None:
    """In gunicorn's master, before the first worker forks; None when METRICS_PORT is unset. A reload keeps
    the server it has (METRICS_HOST and METRICS_PORT change with a restart, like the bind address)."""
    global _master_server
    if port is None:
        return None
    if _master_server is None:
        _master_server = MetricsServer(host, port)
        os.environ[MASTER_MARK] = _master_server.address
    return _master_server


def serve_in_process(host: str, port: int | None) -> MetricsServer | None:
    """For the app's lifespan: METRICS_PORT served from this process (its `aclose` at shutdown), unless it is
    unset or a gunicorn master serves it for every worker. A bind and a thread start: quick."""
    if port is None or os.environ.get(MASTER_MARK):
        if _master_server is not None:
            # A gunicorn worker, forked holding the master's listening socket: only the master answers on it.
            _master_server.release_inherited_socket()
        return None
    server = MetricsServer(host, port)
    log.info("METRICS_SERVING", address=server.address)
    return server
