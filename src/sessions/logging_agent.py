"""The LoggingAgent: records every answered turn and removes sessions past their retention.

Recording never fails an answer: when the database is unreachable the turn waits in a bounded
buffer and is written once the database is back (`flush_pending`, also run on a schedule).

`cleanup_old_sessions(days)` is synchronous for operators (the runbook calls it from
`python -c`); the app's scheduler uses `cleanup_old_sessions_async`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.db.models import utcnow
from src.kit.db import create_engine, session_factory, transaction
from src.kit.logging import get_logger
from src.kit.settings import Settings, get_settings
from src.sessions.repository import SessionRepository

log = get_logger(__name__)
DB_UNAVAILABLE = (OperationalError, DBAPIError, PoolTimeout, OSError, asyncio.TimeoutError, ConnectionError)
MAX_PENDING = 10_000


@dataclass
class Turn:
    answer_id: str
    session_id: str
    question: str
    answer: str
    citations: list[dict[str, Any]]
    provider: str
    latency_ms: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    refused: bool = False
    confidence: float = 0.0
    created_at: datetime = field(default_factory=utcnow)

    def row(self) -> dict[str, Any]:
        return {
            "id": self.answer_id,
            "session_id": self.session_id,
            "question": self.question,
            "answer": self.answer,
            "citations": self.citations,
            "provider": self.provider,
            "latency_ms": self.latency_ms,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "refused": self.refused,
            "confidence": self.confidence,
            "created_at": self.created_at,
        }


class LoggingAgent:
    def __init__(self, factory: async_sessionmaker[AsyncSession] | None = None, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self._factory = factory
        self.pending: deque[Turn] = deque(maxlen=MAX_PENDING)
        self._flush_lock = asyncio.Lock()

    async def record(self, turn: Turn) -> bool:
        """Write the turn now, or keep it for later if the database is unreachable. True if written."""
        if self._factory is None:
            raise RuntimeError("LoggingAgent.record needs the app's session factory")
        self.pending.append(turn)
        return await self.flush_pending()

    async def flush_pending(self) -> bool:
        """Write buffered turns in order; stop at the first database fault. True if none are left."""
        if self._factory is None or not self.pending:
            return not self.pending
        async with self._flush_lock:
            while self.pending:
                turn = self.pending[0]
                try:
                    async for db in transaction(self._factory):
                        repo = SessionRepository(db)
                        await repo.touch(turn.session_id, turn.created_at)
                        await repo.add_message(turn.row())
                except DB_UNAVAILABLE as exc:
                    log.warning("MESSAGE_RECORD_DEFERRED", pending=len(self.pending), error=type(exc).__name__)
                    return False
                self.pending.popleft()
        return True

    async def cleanup_old_sessions_async(self, days: int | None = None) -> int:
        days = days or self.settings.session_retention_days
        cutoff = utcnow() - timedelta(days=days)
        if self._factory is not None:
            return await self._cleanup(self._factory, cutoff, days)
        engine = create_engine(self.settings)
        try:
            return await self._cleanup(session_factory(engine), cutoff, days)
        finally:
            await engine.dispose()

    async def _cleanup(self, factory: async_sessionmaker[AsyncSession], cutoff: datetime, days: int) -> int:
        removed = 0
        async for db in transaction(factory):
            removed = await SessionRepository(db).delete_inactive_since(cutoff)
        log.info("SESSION_CLEANUP", removed=removed, retention_days=days)
        return removed

    def cleanup_old_sessions(self, days: int | None = None) -> int:
        """Synchronous, for operators and cron: remove sessions idle for more than `days`; return how many."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(LoggingAgent(settings=self.settings).cleanup_old_sessions_async(days))
        # Called from inside an event loop: run on a fresh loop in a worker thread.
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, LoggingAgent(settings=self.settings).cleanup_old_sessions_async(days)).result()
