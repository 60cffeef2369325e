"""Database helpers shared by the tests of tests/db, tests/sessions, tests/app and tests/test_scheduler.py:
a SQLite URL in the test's folder, settings for a given database, an operator's shell environment,
and sessions seeded with messages and feedback (at chosen ages, for retention)."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import JSON, DateTime, column, insert, select, table, text
from sqlalchemy.ext.asyncio import AsyncEngine

from src.db.migrations import run_migrations
from src.db.models import Feedback, UserSession
from src.kit.db import create_engine, session_factory, transaction
from src.kit.settings import Settings
from tests.conftest import make_settings


def sqlite_url(tmp_path: Path, name: str = "app.db") -> str:
    return f"sqlite+aiosqlite:///{tmp_path / name}"


def settings_for(tmp_path: Path, url: str) -> Settings:
    return make_settings(tmp_path, database_url=url, auto_migrate=False)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of an operator's shell: no database, cache or vector store configured unless given."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("NEON_", "DATABASE_URL", "QDRANT_", "REDIS_", "DATA_DIR", "LOG_DIR"))
    }
    env["HF_HUB_OFFLINE"] = "1"
    env.update(extra)
    return env


FIRST_MESSAGES = table(
    "messages",
    *(
        column(name)
        for name in (
            "id",
            "session_id",
            "question",
            "answer",
            "provider",
            "latency_ms",
            "prompt_tokens",
            "completion_tokens",
            "refused",
            "confidence",
        )
    ),
    column("citations", JSON),
    column("created_at", DateTime(timezone=True)),
)


async def seed(engine: AsyncEngine, session_id: str, last_active: datetime, messages: int = 2) -> list[str]:
    ids = []
    async with transaction(session_factory(engine)) as db:
        db.add(UserSession(id=session_id, created_at=last_active, last_active_at=last_active))
        await db.flush()
        for i in range(messages):
            mid = uuid.uuid4().hex
            ids.append(mid)
            # Only the columns every revision has (no model defaults for later ones): the seed also writes
            # to databases at older revisions.
            await db.execute(
                insert(FIRST_MESSAGES).values(
                    id=mid,
                    session_id=session_id,
                    question=f"q{i}",
                    answer=f"a{i}",
                    citations=[{"id": 1, "chunk_id": "c", "quote": "x"}],
                    provider="extractive",
                    latency_ms=1.5,
                    prompt_tokens=0,
                    completion_tokens=0,
                    refused=False,
                    confidence=0.0,
                    created_at=last_active,
                )
            )
            await db.flush()
            db.add(Feedback(message_id=mid, rating="up", comment="thanks"))
        await db.flush()
    return ids


async def counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return {
            t: int((await conn.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one())
            for t in ("user_sessions", "messages", "feedback")
        }


async def seed_ages(url: str, tmp_path: Path) -> set[str]:
    """Sessions idle 400, 45 and 31 days (old) and 29 days, 1 day and now (kept); returns the kept ids."""
    await asyncio.to_thread(run_migrations, url)
    engine = create_engine(settings_for(tmp_path, url))
    now = datetime.now(UTC)
    try:
        for days in (400, 45, 31):
            await seed(engine, f"old-{days}d", now - timedelta(days=days))
        for days in (29, 1, 0):
            await seed(engine, f"new-{days}d", now - timedelta(days=days))
        # Created long ago but active yesterday: kept (retention counts from the last activity).
        async with transaction(session_factory(engine)) as db:
            db.add(
                UserSession(
                    id="long-lived", created_at=now - timedelta(days=90), last_active_at=now - timedelta(days=1)
                )
            )
    finally:
        await engine.dispose()
    return {"new-29d", "new-1d", "new-0d", "long-lived"}


async def remaining(url: str, tmp_path: Path) -> tuple[set[str], dict[str, int]]:
    engine = create_engine(settings_for(tmp_path, url))
    try:
        async with engine.connect() as conn:
            ids = {r[0] for r in await conn.execute(select(UserSession.id))}
        return ids, await counts(engine)
    finally:
        await engine.dispose()
