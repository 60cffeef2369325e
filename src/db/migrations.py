"""Alembic, from the code: the head revision this release ships, applying migrations (under a file
lock for the embedded SQLite database), and the revision a database is at."""

from __future__ import annotations

import fcntl
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine

from src.kit.settings import Settings

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


def _config() -> Config:
    return Config(str(ALEMBIC_INI))


def alembic_head() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:  # pragma: no cover - the repository always ships migrations
        raise RuntimeError("no Alembic migrations found")
    return head


def run_migrations(database_url: str | None = None) -> None:
    cfg = _config()
    cfg.attributes["skip_logging_config"] = True
    if database_url:
        cfg.attributes["database_url"] = database_url
    command.upgrade(cfg, "head")


def migrate_once(settings: Settings) -> None:
    """Apply migrations to the embedded SQLite database under a file lock: workers starting together
    (gunicorn -w N with QDRANT_URL set) would otherwise race on alembic_version and one would fail."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with (settings.data_dir / ".migrate.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        run_migrations(settings.sqlalchemy_url)


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        try:
            row = (await conn.execute(text("SELECT version_num FROM alembic_version"))).first()
        except (OperationalError, ProgrammingError) as exc:
            if "alembic_version" in str(exc):  # the table is missing: not migrated yet
                return None
            raise
    return str(row[0]) if row else None


async def is_migrated(engine: AsyncEngine, head: str) -> bool:
    return await current_revision(engine) == head
