"""The app's scheduled jobs, started with the container: session retention every
CLEANUP_INTERVAL_SECONDS, and every couple of seconds the turns that wait for the database are
written and a vector store that was down is opened again. A job that fails is logged and tried at
its next time; it never stops the schedule."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from src.container import Container
from src.kit.logging import get_logger
from src.sessions.retention import cleanup_old_sessions_async

log = get_logger(__name__)
PENDING_FLUSH_SECONDS = 2.0
Job = Callable[[Container], Awaitable[object]]


async def every(seconds: float, job: Job, container: Container) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await job(container)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a scheduled job must survive its own failures; it is logged
            log.error("SCHEDULED_JOB_FAILED", job=getattr(job, "__name__", "job"), error=type(exc).__name__, message=str(exc)[:200])


async def cleanup_sessions(container: Container) -> None:
    await cleanup_old_sessions_async(container.settings, container.settings.session_retention_days, container.db)


async def flush_and_heal(container: Container) -> None:
    if container.recorder.pending:
        await container.recorder.flush_pending()
    if not container.store_ready:
        await container.ensure_store()


def start_jobs(container: Container) -> None:
    container.tasks = [
        asyncio.create_task(every(container.settings.cleanup_interval_seconds, cleanup_sessions, container), name="session-cleanup"),
        asyncio.create_task(every(PENDING_FLUSH_SECONDS, flush_and_heal, container), name="pending-flush"),
    ]
