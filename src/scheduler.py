"""The app's scheduled jobs, started with the container: session retention every
CLEANUP_INTERVAL_SECONDS; every couple of seconds the turns that wait for the database are
written and a vector store that was down is opened again; and this worker's readiness gauge
(`rag_ready`) evaluated at start and every READINESS_CHECK_SECONDS, so it is current whether or not
probes reach this worker. A job that fails is logged and tried at its next time; it never stops the
schedule."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from src.container import Container
from src.health.deps import Probed
from src.health.service import refresh_ready
from src.kit.logging import get_logger
from src.sessions.retention import cleanup_old_sessions_async

log = get_logger(__name__)
PENDING_FLUSH_SECONDS = 2.0
Job = Callable[[Container], Awaitable[object]]


async def _run(job: Job, container: Container) -> None:
    try:
        await job(container)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - a scheduled job must survive its own failures; it is logged
        log.error(
            "SCHEDULED_JOB_FAILED",
            job=getattr(job, "__name__", "job"),
            error=type(exc).__name__,
            message=str(exc)[:200],
        )


async def every(seconds: float, job: Job, container: Container, first: Job | None = None) -> None:
    """`job` every `seconds`; `first`, if given, at once."""
    if first is not None:
        await _run(first, container)
    while True:
        await asyncio.sleep(seconds)
        await _run(job, container)


async def cleanup_sessions(container: Container) -> None:
    await cleanup_old_sessions_async(container.settings, container.settings.session_retention_days, container.db)


async def flush_and_heal(container: Container) -> None:
    if container.recorder.pending:
        await container.recorder.flush_pending()
    if not container.store_ready:
        await container.ensure_store()


async def check_readiness(container: Container) -> None:
    await refresh_ready(Probed.of(container))


async def refresh_readiness(container: Container) -> None:
    # A probe that reached this worker within half the interval has just set the gauge: it is current enough.
    await refresh_ready(Probed.of(container), container.settings.readiness_check_seconds / 2)


def start_jobs(container: Container) -> None:
    readiness_seconds = container.settings.readiness_check_seconds
    container.tasks = [
        asyncio.create_task(
            every(container.settings.cleanup_interval_seconds, cleanup_sessions, container), name="session-cleanup"
        ),
        asyncio.create_task(every(PENDING_FLUSH_SECONDS, flush_and_heal, container), name="pending-flush"),
        asyncio.create_task(
            every(readiness_seconds, refresh_readiness, container, first=check_readiness), name="readiness-gauge"
        ),
    ]
