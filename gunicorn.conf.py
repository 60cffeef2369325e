"""Gunicorn settings and server hooks, read automatically when gunicorn runs from the repository root.

The runbook's command works as written:

    gunicorn src.api.main:app -w 4 -k uvicorn.workers.UvicornWorker --bind 0.0.0.0:8000

(the default worker class here is `src.api.worker.UvicornWorker`: the maintained `uvicorn_worker.UvicornWorker`
with uvicorn's proxy-header handling off). What this file adds:

- Graceful shutdown. On SIGTERM each worker reports not ready at once (the app's SIGTERM handler, see
  `src/app.py`) and lets in-flight requests finish for up to SHUTDOWN_GRACE_SECONDS (default 30).
  `graceful_timeout` is that plus CLEANUP_SECONDS, so the worker can still flush buffered answers and
  close its stores before the master would SIGKILL it. The uvicorn worker does not hand gunicorn's
  graceful timeout to uvicorn (its `timeout_graceful_shutdown` stays None); `post_worker_init` does.
- One worker with the embedded vector store. The embedded store (used when QDRANT_URL is unset) is
  opened by one process only, so the master refuses to start more than one worker without QDRANT_URL.
- The client address is the service's business. uvicorn would rewrite it from X-Forwarded-For for peers in
  FORWARDED_ALLOW_IPS (loopback by default); the app decides it from TRUSTED_PROXIES instead, so every uvicorn
  worker class runs with `proxy_headers` off (the default class sets it, `post_worker_init` sets it for one
  named with -k, such as the runbook's `uvicorn.workers.UvicornWorker`).
- Prometheus multiprocess mode. `/metrics` must sum every worker: the master creates a fresh
  PROMETHEUS_MULTIPROC_DIR before forking (unless the operator set one, which is emptied instead) and
  removes a process's files when it exits. With METRICS_PORT set, the master itself serves them on that port
  (`when_ready`), and the workers' public port has no /metrics.

The app is imported in each worker after the fork (no `preload_app`): prometheus_client picks its
multiprocess mode when imported, so it must see PROMETHEUS_MULTIPROC_DIR, and the embedded store must
be opened in the worker that serves it.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
MULTIPROC_PREFIX = "rag-backend-prometheus-"
DEFAULT_GRACE_SECONDS = 30
CLEANUP_SECONDS = 5  # after the request drain: flush buffered answers, close the database pool, Redis and the vector store
MULTIPLE_WORKERS_MESSAGE = (
    "Refusing to start {workers} workers: QDRANT_URL is not set, so the service would use the embedded vector store, "
    "which one process only can open. Set QDRANT_URL (and QDRANT_API_KEY) to a Qdrant server to run several workers, "
    "or run a single worker (-w 1)."
)


def _settings() -> Any:
    """The service's own Settings (environment and `.env`), or None when they do not validate: the worker then
    fails to boot and logs the validation error, which names the variable to fix."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    try:
        from src.kit.settings import Settings

        return Settings()
    except Exception:  # noqa: BLE001 - reported by the worker, with the validation details
        return None


def _grace_seconds(settings: Any) -> int:
    if settings is not None:
        return int(settings.shutdown_grace_seconds)
    try:
        return int(os.environ.get("SHUTDOWN_GRACE_SECONDS", DEFAULT_GRACE_SECONDS))
    except ValueError:
        return DEFAULT_GRACE_SECONDS


def _qdrant_url(settings: Any) -> str | None:
    if settings is not None:
        return settings.qdrant_url or None
    return os.environ.get("QDRANT_URL") or None


_SETTINGS = _settings()
GRACE_SECONDS = _grace_seconds(_SETTINGS)

# The app, when the command line names none (`gunicorn` alone also works).
wsgi_app = "src.api.main:app"
worker_class = "src.api.worker.UvicornWorker"
# Requests get GRACE_SECONDS after SIGTERM; the worker gets CLEANUP_SECONDS more to close its stores.
graceful_timeout = GRACE_SECONDS + CLEANUP_SECONDS
# Imported in each worker after the fork (see the module docstring).
preload_app = False
# The app logs one line per request itself (with the request id); gunicorn's access log would duplicate it.
accesslog = None
# `workers` is not set here: -w on the command line, else WEB_CONCURRENCY, else 1.


def on_starting(server: Any) -> None:
    """In the master, before anything is forked."""
    _remember_env_file()
    _refuse_several_workers_without_qdrant(server, server.cfg.workers)
    _prepare_prometheus_multiproc_dir(server)


def _refuse_several_workers_without_qdrant(server: Any, workers: int) -> None:
    settings = _settings()
    if workers > 1 and not _qdrant_url(settings):
        message = MULTIPLE_WORKERS_MESSAGE.format(workers=workers)
        server.log.error(message)
        if server.pidfile is not None:
            server.pidfile.unlink()
        raise RuntimeError(message)  # gunicorn prints "Error: <message>" and exits 1


def _prepare_prometheus_multiproc_dir(server: Any) -> None:
    if server.cfg.preload_app:
        server.log.warning("preload_app is on: the app (and prometheus_client) was imported before PROMETHEUS_MULTIPROC_DIR was set")
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if configured:
        # An operator's directory: it must not carry the counters of a previous run.
        os.makedirs(configured, exist_ok=True)
        for stale in glob.glob(os.path.join(configured, "*.db")):
            os.remove(stale)
        server.log.info("PROMETHEUS_MULTIPROC_DIR=%s (emptied)", configured)
        return
    created = tempfile.mkdtemp(prefix=MULTIPROC_PREFIX)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = created
    server.log.info("PROMETHEUS_MULTIPROC_DIR=%s (created)", created)


def _created_multiproc_dir() -> str | None:
    """The directory on_starting created, if it did. Known by its name, not a module global: a reload (HUP)
    executes this file again."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    parent, name = os.path.split(os.path.abspath(path)) if path else ("", "")
    return path if name.startswith(MULTIPROC_PREFIX) and parent == os.path.abspath(tempfile.gettempdir()) else None


def when_ready(server: Any) -> None:
    """In the master, listening, before the first worker forks: with METRICS_PORT set, /metrics is served from
    here, summing every worker (src/kit/metrics_server.py). A port in use stops gunicorn, as a taken bind does."""
    settings = _settings()
    if settings is None or settings.metrics_port is None:
        return
    from src.kit.metrics_server import MetricsPortUnavailable, serve_from_master

    try:
        served = serve_from_master(settings.metrics_host, settings.metrics_port)
    except MetricsPortUnavailable as exc:
        server.log.error(str(exc))
        if server.pidfile is not None:
            server.pidfile.unlink()
        on_exit(server)
        raise  # gunicorn prints "Error: <message>" and exits 1
    if served is not None:
        server.log.info("Metrics at: http://%s/metrics", served.address)


def nworkers_changed(server: Any, new_value: int, old_value: int | None) -> None:
    """TTIN (one more worker) with the embedded store would start a worker that cannot open it, and a worker
    that fails to boot stops the whole server: keep the current number instead."""
    if old_value is None or new_value <= 1 or new_value <= old_value or _qdrant_url(_settings()):
        return
    server.log.error(MULTIPLE_WORKERS_MESSAGE.format(workers=new_value) + f" Keeping {old_value}.")
    server._num_workers = old_value


ENV_FILE_KEYS = "RAG_BACKEND_ENV_FILE_KEYS"  # the names the environment file set in this master (survives a HUP)


def _env_file() -> Path:
    """RAG_ENV_FILE, as the backup script names it (ENV_FILE, its earlier name, still works)."""
    return Path(os.environ.get("RAG_ENV_FILE") or os.environ.get("ENV_FILE") or ROOT / ".env")


def _remember_env_file() -> None:
    """The names of the variables the environment file holds, as systemd's EnvironmentFile put them in the
    master's environment (where they win over `.env` in every worker, so a reload must refresh them)."""
    from dotenv import dotenv_values

    path = _env_file()
    values = {k: v for k, v in dotenv_values(path).items() if v is not None} if path.is_file() else {}
    if os.environ.get("RAG_ENV_FILE") or os.environ.get("ENV_FILE"):
        # A file named by RAG_ENV_FILE is the configuration, as EnvironmentFile makes it under systemd, also when
        # gunicorn is started by hand (the workers read only ./.env themselves). A variable set in the
        # environment still wins, as it does over EnvironmentFile with Environment=.
        for name, value in values.items():
            os.environ.setdefault(name, value)
    os.environ[ENV_FILE_KEYS] = ",".join(sorted(values))


def _reload_env_file(server: Any) -> None:
    """On HUP, before the new workers fork: the environment file's current values replace the ones the master
    started with, and a variable removed from the file is removed from the environment. The new workers then
    read the new configuration; the master's own settings (bind address, worker class) need a restart."""
    from dotenv import dotenv_values

    path = _env_file()
    if not path.is_file():
        return
    fresh = {k: v for k, v in dotenv_values(path).items() if v is not None}
    before = [n for n in os.environ.get(ENV_FILE_KEYS, "").split(",") if n]
    changed = sorted({k for k, v in fresh.items() if os.environ.get(k) != v} | {k for k in before if k not in fresh and k in os.environ})
    for name in before:
        if name not in fresh:
            os.environ.pop(name, None)
    os.environ.update(fresh)
    os.environ[ENV_FILE_KEYS] = ",".join(sorted(fresh))
    # Names only: values may be secrets.
    server.log.info('{"event": "CONFIG_RELOADED", "file": "%s", "changed": %s}', path, json.dumps(changed))


def on_reload(server: Any) -> None:
    """HUP (`systemctl reload`): the environment file is read again (see _reload_env_file), then new workers
    start with it. HUP starts the new workers before stopping the old ones. With the embedded store the
    new worker could not open it, and a worker that fails to boot halts gunicorn: stop the old workers first
    (they drain as on SIGTERM). The listening socket stays open meanwhile, so new connections wait in its
    backlog for the new worker instead of being refused."""
    _reload_env_file(server)
    if _qdrant_url(_settings()) or not server.WORKERS:
        return
    server.log.info("Reload with the embedded vector store: stopping the current worker before starting the new one")
    server.kill_workers(signal.SIGTERM)
    deadline = time.monotonic() + server.cfg.graceful_timeout
    while server.WORKERS and time.monotonic() < deadline:
        server.reap_workers()
        time.sleep(0.1)
    if server.WORKERS:
        server.kill_workers(signal.SIGKILL)
        time.sleep(0.2)
        server.reap_workers()


def post_worker_init(worker: Any) -> None:
    """Hand the drain time to uvicorn: without it uvicorn waits for connections without limit and the master's
    SIGKILL at graceful_timeout would cut the worker's cleanup short. The app's SIGTERM handler lowers it to
    what is left of the grace period when it stops accepting (see `src/app.py`).

    And uvicorn's proxy headers off, whichever uvicorn worker class runs (see the module docstring): uvicorn
    reads the setting when the server starts, after this hook."""
    config = getattr(worker, "config", None)
    if config is not None and hasattr(config, "timeout_graceful_shutdown"):
        config.timeout_graceful_shutdown = GRACE_SECONDS
    if config is not None and hasattr(config, "proxy_headers"):
        config.proxy_headers = False


def child_exit(server: Any, worker: Any) -> None:
    """In the master, after a worker exited: drop its live-gauge files (its counters stay summed)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    created = _created_multiproc_dir()
    if created:
        shutil.rmtree(created, ignore_errors=True)
