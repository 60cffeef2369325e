"""Retention: sessions idle for longer than SESSION_RETENTION_DAYS are removed, with their messages
and feedback (cascade). The app's scheduler calls `cleanup_old_sessions_async` every
CLEANUP_INTERVAL_SECONDS; operators call the synchronous `cleanup_old_sessions` from cron or
`python -c` and read the number it returns (so its logging goes to stderr, never stdout)."""

from __future__ import annotations

import asyncio
import concurrent.futures
from datetime import timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.db.models import utcnow
from src.kit.db import create_engine, session_factory, transaction
from src.kit.logging import configure_logging, get_logger
from src.kit.settings import Settings
from src.sessions.repository import SessionRepository

log = get_logger(__name__)


async def cleanup_old_sessions_async(
    settings: Settings, days: int | None = None, factory: async_sessionmaker[AsyncSession] | None = None
) -> int:
    """Remove sessions whose last activity is more than `days` ago; return how many. Without the app's
    session `factory`, an engine is opened for the call and closed after."""
    if days is None:
        days = settings.session_retention_days
    if days < 0:
        raise ValueError("days must not be negative")
    if factory is not None:
        return await _cleanup(factory, days)
    engine = create_engine(settings)
    try:
        return await _cleanup(session_factory(engine), days)
    finally:
        await engine.dispose()


async def _cleanup(factory: async_sessionmaker[AsyncSession], days: int) -> int:
    cutoff = utcnow() - timedelta(days=days)
    async with transaction(factory) as db:
        removed = await SessionRepository(db).delete_inactive_since(cutoff)
    log.info("SESSION_CLEANUP", removed=removed, retention_days=days)
    return removed


def cleanup_old_sessions(settings: Settings, days: int | None = None) -> int:
    """Synchronous, for operators and cron: remove sessions idle for more than `days`; return how many."""
    if not structlog.is_configured():
        # structlog's default logger prints to stdout, where the caller reads the number from.
        configure_logging(
            settings.log_level,
            settings.log_dir,
            settings.log_json,
            settings.log_file_max_bytes,
            settings.log_file_backups,
        )
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(cleanup_old_sessions_async(settings, days))
    # Called from inside an event loop: run on a fresh loop in a worker thread.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, cleanup_old_sessions_async(settings, days)).result()
