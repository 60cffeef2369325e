"""Migrations on real SQLite and real PostgreSQL, both ways: through the API (`run_migrations`, alembic's
command module) and through the alembic command line; an upgrade keeps the rows already stored."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.exc import DBAPIError

from src.db.migrations import alembic_head, include_name, run_migrations
from src.db.models import Base
from src.kit.db import create_engine, session_factory, transaction
from src.sessions.repository import SessionRepository
from tests.conftest import REPO
from tests.db.helpers import clean_env, counts, seed, settings_for, sqlite_url

TABLES = {"user_sessions", "messages", "feedback", "indexed_documents"}


def alembic_config(url: str) -> Config:
    cfg = Config(str(REPO / "alembic.ini"))
    cfg.attributes["skip_logging_config"] = True
    cfg.attributes["database_url"] = url
    return cfg


def downgrade(url: str, target: str = "base") -> None:
    command.downgrade(alembic_config(url), target)


async def schema_state(url: str, tmp_path: Path) -> tuple[set[str], str | None, list[Any]]:
    """(tables, alembic revision, differences between the migrated schema and the models)."""
    engine = create_engine(settings_for(tmp_path, url))
    try:
        async with engine.connect() as conn:

            def inspect_sync(sync_conn: Any) -> tuple[set[str], str | None, list[Any]]:
                tables = set(inspect(sync_conn).get_table_names())
                revision = MigrationContext.configure(sync_conn).get_current_revision()
                diff = (
                    compare_metadata(
                        MigrationContext.configure(sync_conn, opts={"include_name": include_name}), Base.metadata
                    )
                    if tables - {"alembic_version"}
                    else []
                )
                return tables, revision, diff

            return await conn.run_sync(inspect_sync)
    finally:
        await engine.dispose()


async def check_migrations_round_trip(url: str, tmp_path: Path) -> None:
    head = alembic_head()
    await asyncio.to_thread(run_migrations, url)
    tables, revision, diff = await schema_state(url, tmp_path)
    assert tables >= TABLES
    assert revision == head
    assert diff == [], f"the migrated schema differs from src/db/models.py: {diff}"

    await asyncio.to_thread(downgrade, url)
    tables, revision, _ = await schema_state(url, tmp_path)
    assert not (TABLES & tables), tables
    assert revision is None

    await asyncio.to_thread(run_migrations, url)
    await asyncio.to_thread(run_migrations, url)  # a second upgrade is a no-op
    tables, revision, diff = await schema_state(url, tmp_path)
    assert tables >= TABLES and revision == head and diff == []


async def test_migrations_round_trip_sqlite(tmp_path: Path) -> None:
    await check_migrations_round_trip(sqlite_url(tmp_path), tmp_path)


async def test_migrations_round_trip_postgresql(pg_url: str, tmp_path: Path) -> None:
    await check_migrations_round_trip(pg_url, tmp_path)


FIRST_REVISION = "5684c229a784"


async def check_upgrade_keeps_data(url: str, tmp_path: Path) -> None:
    """Upgrading a database that already holds sessions keeps every row (on SQLite the later migration
    rebuilds tables, which with foreign keys on would cascade-delete the messages)."""
    await asyncio.to_thread(lambda: command.upgrade(alembic_config(url), FIRST_REVISION))
    engine = create_engine(settings_for(tmp_path, url))
    try:
        await seed(engine, "before-upgrade", datetime.now(UTC), messages=3)
        before = await counts(engine)
    finally:
        await engine.dispose()
    await asyncio.to_thread(run_migrations, url)
    _, revision, diff = await schema_state(url, tmp_path)
    assert revision == alembic_head() and diff == []
    engine = create_engine(settings_for(tmp_path, url))
    try:
        assert await counts(engine) == before == {"user_sessions": 1, "messages": 3, "feedback": 3}
        await seed(engine, "x" * 64, datetime.now(UTC), messages=1)  # the longest id the API accepts
        async with transaction(session_factory(engine)) as db:  # and the cascade still holds after the rebuild
            assert await SessionRepository(db).delete_session("before-upgrade")
        assert await counts(engine) == {"user_sessions": 1, "messages": 1, "feedback": 1}
        if url.startswith("postgresql"):  # a 64-character id does not fit the old schema: the downgrade refuses
            with pytest.raises(DBAPIError, match="too long"):
                await asyncio.to_thread(downgrade, url, FIRST_REVISION)
        async with transaction(session_factory(engine)) as db:
            assert await SessionRepository(db).delete_session("x" * 64)
    finally:
        await engine.dispose()
    await asyncio.to_thread(downgrade, url, FIRST_REVISION)
    assert (await schema_state(url, tmp_path))[1] == FIRST_REVISION


async def test_upgrade_keeps_data_sqlite(tmp_path: Path) -> None:
    await check_upgrade_keeps_data(sqlite_url(tmp_path), tmp_path)


async def test_upgrade_keeps_data_postgresql(pg_url: str, tmp_path: Path) -> None:
    await check_upgrade_keeps_data(pg_url, tmp_path)


def alembic_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_alembic_cli_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    env = clean_env(DATABASE_URL=pg_url, DATA_DIR=str(tmp_path / "data"))
    up = await asyncio.to_thread(alembic_cli, "upgrade", "head", env=env)
    assert up.returncode == 0, up.stderr
    tables, revision, diff = await schema_state(pg_url, tmp_path)
    assert tables >= TABLES and revision == alembic_head() and diff == []
    assert not (tmp_path / "data" / "app.db").exists(), "DATABASE_URL must win over the embedded SQLite default"

    current = await asyncio.to_thread(alembic_cli, "current", env=env)
    assert current.returncode == 0 and alembic_head() in current.stdout, current.stdout + current.stderr
    down = await asyncio.to_thread(alembic_cli, "downgrade", "base", env=env)
    assert down.returncode == 0, down.stderr
    assert not (TABLES & (await schema_state(pg_url, tmp_path))[0])
    again = await asyncio.to_thread(alembic_cli, "upgrade", "head", env=env)
    assert again.returncode == 0, again.stderr
    assert (await schema_state(pg_url, tmp_path))[1] == alembic_head()


async def test_alembic_cli_defaults_to_sqlite_in_data_dir(tmp_path: Path) -> None:
    env = clean_env(DATA_DIR=str(tmp_path / "data"))
    up = await asyncio.to_thread(alembic_cli, "upgrade", "head", env=env)
    assert up.returncode == 0, up.stderr
    db_file = tmp_path / "data" / "app.db"
    assert db_file.exists()
    tables, revision, _ = await schema_state(f"sqlite+aiosqlite:///{db_file}", tmp_path)
    assert tables >= TABLES and revision == alembic_head()
