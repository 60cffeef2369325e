"""The turn recorder: writes every answered turn (question, answer, citations, latency) under its session.

Recording never fails or stalls an answer. When the database is unreachable the turn waits in a
bounded buffer (`pending`) and is written once the database is back: by `flush_pending`, which the
app runs every couple of seconds. After a failed write, answers stop trying the database inline for
a short back-off (the scheduled flush keeps probing), so an outage costs each answer nothing, and
every attempt is bounded by DB_TIMEOUT_SECONDS. Writes are idempotent (a message id is inserted at
most once), so a turn whose commit succeeded but whose acknowledgement was lost is not duplicated.

Each write is its own unit of work and opens its own transaction: it runs after the answer is sent,
outside any request. The buffer's length is the `rag_unrecorded_turns` gauge, kept current on every change.

The recorder also says which session a new turn goes under (`session_for`): session ids are capabilities
the service makes (128 random bits), so an id a client sends is kept only when it names a session, recorded
or waiting in this buffer; any other gets a new id, and a client cannot make up `student1` and share it.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.db.models import utcnow
from src.kit.db import transaction
from src.kit.logging import get_logger
from src.kit.metrics import UNRECORDED_TURNS
from src.kit.settings import Settings, get_settings
from src.retrieval.passage import Citation
from src.sessions.repository import SessionRepository

log = get_logger(__name__)
MAX_PENDING = 10_000
# Past this many turns waiting for the database, new answers are refused (503, Retry-After) rather than
# acknowledged and then lost: every answer a student was given is recorded once the database is back.
ACCEPT_LIMIT = 5_000
FLUSH_BATCH = 200  # turns written per transaction while a backlog drains
RETRY_AFTER_FAILURE_SECONDS = 2.0  # inline writes pause this long after a failure; the scheduled flush still probes
INLINE_BACKLOG = 32  # more queued than this: an answer leaves the writing to the scheduled flush
MAX_REJECTED_ATTEMPTS = 3  # a turn the database rejects (not merely unreachable) is dropped after this many tries
# The reports group turns by page and chapter, from indexes: what is recorded of them fits an index entry.
PAGE_CHARS = 300
PLACE_CHARS = 200
SESSION_ID_BYTES = 16  # 128 random bits: a session id is the capability to read, extend and erase its conversation
MADE_SESSION_ID = re.compile(r"^[0-9a-f]{32}$")  # the shape of the ids new_session_id makes
Reader = TypeVar("Reader")


def new_session_id() -> str:
    return secrets.token_hex(SESSION_ID_BYTES)


def rejected(exc: BaseException) -> bool:
    """The database refused this row (bad data, a violated constraint): it is reachable, and retrying the
    same row will not help forever. Anything else (unreachable, timed out, not migrated) is worth waiting out."""
    if isinstance(exc, (IntegrityError, DataError)):
        return True
    if isinstance(exc, DBAPIError) and not exc.connection_invalidated:
        # asyncpg's errors reach SQLAlchemy as plain DBAPIError; the SQLSTATE class says what happened:
        # 22 data exception (e.g. a value too long), 23 integrity constraint violation.
        code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        return isinstance(code, str) and code[:2] in ("22", "23")
    return False


def _cut(text: str | None, limit: int) -> str | None:
    return text[:limit] if text else text


def page_key(page: str | None) -> str | None:
    """The page as the reports group it: without its query string or fragment (a tracking parameter or an
    anchor is the same page), cut to PAGE_CHARS."""
    if not page:
        return None
    return _cut(page.split("#", 1)[0].split("?", 1)[0] or page, PAGE_CHARS)


@dataclass
class Turn:
    answer_id: str
    session_id: str
    question: str
    answer: str
    citations: list[Citation]
    provider: str
    latency_ms: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    refused: bool = False
    confidence: float = 0.0
    standalone_question: str | None = None
    page: str | None = None
    route: str = "book"  # a src.answering.routes.Route (a str: sessions sits below answering, which owns it)
    selection_mode: str | None = None
    degraded: bool = False
    top_source_file: str | None = None
    top_chapter: str | None = None
    top_section: str | None = None
    top_url: str | None = None
    question_vector: bytes | None = None
    created_at: datetime = field(default_factory=utcnow)
    rejected_attempts: int = field(default=0, compare=False)

    def row(self) -> dict[str, Any]:
        return {
            "id": self.answer_id,
            "session_id": self.session_id,
            "question": self.question,
            "answer": self.answer,
            "citations": [c.model_dump() for c in self.citations],
            "provider": self.provider,
            "latency_ms": self.latency_ms,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "refused": self.refused,
            "confidence": self.confidence,
            "standalone_question": self.standalone_question,
            "page": page_key(self.page),
            "route": self.route,
            "selection_mode": self.selection_mode,
            "degraded": self.degraded,
            "top_source_file": self.top_source_file,
            "top_chapter": _cut(self.top_chapter, PLACE_CHARS),
            "top_section": _cut(self.top_section, PLACE_CHARS),
            "top_url": _cut(self.top_url, 2048),
            "question_vector": self.question_vector,
            "created_at": self.created_at,
        }


class TurnRecorder:
    def __init__(
        self, factory: async_sessionmaker[AsyncSession] | None = None, settings: Settings | None = None
    ) -> None:
        self.settings = settings or get_settings()
        self._factory = factory
        self.pending: deque[Turn] = deque()
        self._flush_lock = asyncio.Lock()
        self._retry_at = 0.0
        self.dropped = 0
        # Connect + statements + commit, each bounded by the engine; this bounds the whole write.
        self.write_timeout = self.settings.db_timeout_seconds * 4

    @property
    def saturated(self) -> bool:
        """Too many turns wait for the database to take another answer."""
        return len(self.pending) >= ACCEPT_LIMIT

    @property
    def backing_off(self) -> bool:
        return time.monotonic() < self._retry_at

    async def session_for(self, requested: str | None, history: Reader | None = None) -> tuple[str, Reader | None]:
        """The session a new turn goes under, and `history` (what reads the requested session's turns) if
        that session is kept: `requested` when it names a session, recorded or with a turn waiting in this
        buffer (issued here, not written yet); otherwise a new id, and no history, so nothing is read under
        an id the client made up. While the database cannot be read, an id of the shape the service makes
        is kept (it was issued, most likely; and a client that picks one learns nothing it did not choose);
        any other is replaced."""
        if requested is None:
            return new_session_id(), None
        if any(turn.session_id == requested for turn in self.pending):
            return requested, history
        known = await self._session_known(requested)
        if known or (known is None and MADE_SESSION_ID.match(requested)):
            return requested, history
        # The id itself is not logged: it may be a capability someone else holds.
        log.info("SESSION_ID_REPLACED", reason="unknown" if known is False else "unverified")
        return new_session_id(), None

    async def _session_known(self, session_id: str) -> bool | None:
        """Whether the database holds the session; None when it cannot say now (unreachable, backing off)."""
        if self._factory is None or self.backing_off:
            return None
        try:
            async with asyncio.timeout(self.settings.db_timeout_seconds), transaction(self._factory) as db:
                return await SessionRepository(db).exists(session_id)
        except (DBAPIError, OSError, TimeoutError) as exc:
            # As after a failed write: the next answers do not wait on the database either, for a moment.
            self._retry_at = time.monotonic() + RETRY_AFTER_FAILURE_SECONDS
            log.warning("SESSION_LOOKUP_FAILED", error=type(exc).__name__)
            return None

    async def record(self, turn: Turn) -> bool:
        """Write the turn now, or keep it for later. True if it is written. Never raises for a database fault,
        and waits at most DB_TIMEOUT_SECONDS."""
        if self._factory is None:
            raise RuntimeError("TurnRecorder.record needs the app's session factory")
        if len(self.pending) >= MAX_PENDING:
            self.pending.popleft()
            self.dropped += 1
            log.error("MESSAGE_DROPPED", reason="pending buffer full", max_pending=MAX_PENDING, dropped=self.dropped)
        self.pending.append(turn)
        UNRECORDED_TURNS.set(len(self.pending))
        # During an outage (back-off) or while a backlog drains, the scheduled flush writes it: the answer
        # must not wait on a database that is not there.
        if self.backing_off or len(self.pending) > INLINE_BACKLOG:
            return False
        try:
            async with asyncio.timeout(self.settings.db_timeout_seconds):
                await self.flush_pending(inline=True)
        except TimeoutError:
            self._retry_at = time.monotonic() + RETRY_AFTER_FAILURE_SECONDS
            log.warning("MESSAGE_RECORD_DEFERRED", pending=len(self.pending), error="TimeoutError")
        return all(t is not turn for t in self.pending)

    async def flush_pending(self, inline: bool = False) -> bool:
        """Write buffered turns in order; stop at the first database fault. True if none are left.

        `inline` (an answer waiting): give up at once if a fault happened meanwhile."""
        if self._factory is None or not self.pending:
            return not self.pending
        async with self._flush_lock:
            while self.pending:
                if inline and self.backing_off:
                    return False
                if len(self.pending) > 1 and not inline:
                    batch = list(self.pending)[:FLUSH_BATCH]
                    try:
                        async with asyncio.timeout(self.write_timeout):
                            await self._write_many(batch)
                    except Exception as exc:  # noqa: BLE001 - sorted as below
                        if not rejected(exc):
                            self._retry_at = time.monotonic() + RETRY_AFTER_FAILURE_SECONDS
                            log.warning("MESSAGE_RECORD_DEFERRED", pending=len(self.pending), error=type(exc).__name__)
                            return False
                        # One turn of the batch is refused: write them one by one to find it.
                    else:
                        for turn in batch:
                            self._discard(turn)
                        self._retry_at = 0.0
                        continue
                turn = self.pending[0]
                try:
                    async with asyncio.timeout(self.write_timeout):
                        await self._write(turn)
                except Exception as exc:  # noqa: BLE001 - unreachable, timed out, not migrated, rejected: sorted below
                    if not rejected(exc):
                        self._retry_at = time.monotonic() + RETRY_AFTER_FAILURE_SECONDS
                        log.warning("MESSAGE_RECORD_DEFERRED", pending=len(self.pending), error=type(exc).__name__)
                        return False
                    turn.rejected_attempts += 1
                    if turn.rejected_attempts < MAX_REJECTED_ATTEMPTS:
                        log.warning(
                            "MESSAGE_RECORD_REJECTED",
                            answer_id=turn.answer_id,
                            attempt=turn.rejected_attempts,
                            error=type(exc).__name__,
                        )
                        self._retry_at = time.monotonic() + RETRY_AFTER_FAILURE_SECONDS
                        return False
                    self._discard(turn)
                    self.dropped += 1
                    log.error(
                        "MESSAGE_RECORD_FAILED",
                        answer_id=turn.answer_id,
                        session_id=turn.session_id,
                        error=type(exc).__name__,
                        message=str(exc)[:300],
                    )
                    continue
                self._discard(turn)
                self._retry_at = 0.0
        return True

    @asynccontextmanager
    async def erasing(self, session_id: str) -> AsyncIterator[int]:
        """Hold the writes while a session is erased: none of its turns is being written, and those still
        waiting are dropped (written after the erasure, one would bring the conversation back). Yields how
        many were dropped."""
        async with self._flush_lock:
            kept = deque(t for t in self.pending if t.session_id != session_id)
            dropped = len(self.pending) - len(kept)
            self.pending = kept
            UNRECORDED_TURNS.set(len(self.pending))
            yield dropped

    def _discard(self, turn: Turn) -> None:
        """Remove this turn (normally still first; `record` may have dropped it meanwhile when the buffer was full)."""
        if self.pending and self.pending[0] is turn:
            self.pending.popleft()
        else:
            for i, queued in enumerate(self.pending):
                if queued is turn:
                    del self.pending[i]
                    break
        UNRECORDED_TURNS.set(len(self.pending))

    async def _write_many(self, turns: list[Turn]) -> None:
        """Several turns in one transaction: a backlog drains at the database's pace, not one commit per turn."""
        assert self._factory is not None
        async with transaction(self._factory) as db:
            repo = SessionRepository(db)
            for turn in turns:
                await repo.touch(turn.session_id, turn.created_at)
                await repo.add_message(turn.row())

    async def _write(self, turn: Turn) -> None:
        await self._write_many([turn])
