"""Erasing a session takes its messages and their feedback with it, on real SQLite and real PostgreSQL:
through the repository and through a raw DELETE (the cascade is the database's rule)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select, text

from src.db.migrations import run_migrations
from src.db.models import Feedback, Message
from src.kit.db import create_engine, session_factory, transaction
from src.sessions.repository import SessionRepository
from tests.db.helpers import counts, seed, settings_for, sqlite_url


async def check_cascade(url: str, tmp_path: Path) -> None:
    await asyncio.to_thread(run_migrations, url)
    engine = create_engine(settings_for(tmp_path, url))
    try:
        now = datetime.now(UTC)
        await seed(engine, "cascade-doomed", now, messages=3)
        kept = await seed(engine, "cascade-kept", now, messages=2)
        assert await counts(engine) == {"user_sessions": 2, "messages": 5, "feedback": 5}

        async with transaction(session_factory(engine)) as db:
            assert await SessionRepository(db).delete_session("cascade-doomed")
        assert await counts(engine) == {"user_sessions": 1, "messages": 2, "feedback": 2}
        async with engine.connect() as conn:
            left = {r[0] for r in await conn.execute(select(Message.id))}
            fb = {r[0] for r in await conn.execute(select(Feedback.message_id))}
        assert left == set(kept) == fb

        async with transaction(session_factory(engine)) as db:  # a raw DELETE cascades too: it is the database's rule
            await db.execute(text("DELETE FROM user_sessions WHERE id = 'cascade-kept'"))
        assert await counts(engine) == {"user_sessions": 0, "messages": 0, "feedback": 0}
        async with transaction(session_factory(engine)) as db:
            assert not await SessionRepository(db).delete_session("cascade-kept")
    finally:
        await engine.dispose()


async def test_cascade_sqlite(tmp_path: Path) -> None:
    await check_cascade(sqlite_url(tmp_path), tmp_path)


async def test_cascade_postgresql(pg_url: str, tmp_path: Path) -> None:
    await check_cascade(pg_url, tmp_path)
