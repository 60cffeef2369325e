"""Session retention on real SQLite and real PostgreSQL: old sessions (by last activity) go with their
messages and feedback, through the LoggingAgent (sync, async, inside an event loop), the runbook's
one-liner and the CLI's `cleanup` command."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from src.agent.logging_agent import LoggingAgent
from src.kit.db import create_engine, session_factory
from tests.conftest import REPO
from tests.db.helpers import clean_env, remaining, seed_ages, settings_for, sqlite_url

RUNBOOK_CLEANUP = (
    "from src.agent.logging_agent import LoggingAgent; print(LoggingAgent().cleanup_old_sessions(days=30))"
)


def test_cleanup_sync_sqlite(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    kept = asyncio.run(seed_ages(url, tmp_path))
    agent = LoggingAgent(settings=settings_for(tmp_path, url))
    assert agent.cleanup_old_sessions(days=30) == 3
    ids, n = asyncio.run(remaining(url, tmp_path))
    assert ids == kept
    assert n == {
        "user_sessions": 4,
        "messages": 6,
        "feedback": 6,
    }  # the old sessions' messages and feedback went with them
    assert agent.cleanup_old_sessions(days=30) == 0


def test_cleanup_sync_postgresql(pg_url: str, tmp_path: Path) -> None:
    kept = asyncio.run(seed_ages(pg_url, tmp_path))
    agent = LoggingAgent(settings=settings_for(tmp_path, pg_url))
    assert agent.cleanup_old_sessions(days=30) == 3
    ids, n = asyncio.run(remaining(pg_url, tmp_path))
    assert ids == kept and n["messages"] == 6 and n["feedback"] == 6
    assert agent.cleanup_old_sessions(days=2) == 1  # new-29d
    assert asyncio.run(remaining(pg_url, tmp_path))[0] == {"new-1d", "new-0d", "long-lived"}


async def test_cleanup_sync_from_inside_an_event_loop(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    kept = await seed_ages(url, tmp_path)
    assert LoggingAgent(settings=settings_for(tmp_path, url)).cleanup_old_sessions(days=30) == 3
    assert (await remaining(url, tmp_path))[0] == kept


async def test_cleanup_async_postgresql(pg_url: str, tmp_path: Path) -> None:
    kept = await seed_ages(pg_url, tmp_path)
    settings = settings_for(tmp_path, pg_url)
    engine = create_engine(settings)
    try:
        agent = LoggingAgent(session_factory(engine), settings)
        assert await agent.cleanup_old_sessions_async(days=30) == 3
        assert await agent.cleanup_old_sessions_async(days=30) == 0
    finally:
        await engine.dispose()
    assert (await remaining(pg_url, tmp_path))[0] == kept
    # Without a factory it opens (and closes) its own engine; the default retention comes from settings.
    assert (
        await LoggingAgent(
            settings=settings.model_copy(update={"session_retention_days": 2})
        ).cleanup_old_sessions_async()
        == 1
    )


async def test_cleanup_async_sqlite(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    kept = await seed_ages(url, tmp_path)
    assert await LoggingAgent(settings=settings_for(tmp_path, url)).cleanup_old_sessions_async(30) == 3
    assert (await remaining(url, tmp_path))[0] == kept


def test_runbook_cleanup_command(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    url = f"sqlite+aiosqlite:///{data_dir / 'app.db'}"
    data_dir.mkdir()
    kept = asyncio.run(seed_ages(url, tmp_path))
    env = clean_env(DATA_DIR=str(data_dir), LOG_DIR=str(tmp_path / "logs"))
    run = subprocess.run(
        [sys.executable, "-c", RUNBOOK_CLEANUP],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert lines[-1] == "3", run.stdout
    assert lines == ["3"], f"logging must not reach stdout: {run.stdout!r}"
    assert "SESSION_CLEANUP" in run.stderr  # the log line goes to stderr (and the log file)
    assert "SESSION_CLEANUP" in (tmp_path / "logs" / "app.log").read_text()
    assert asyncio.run(remaining(url, tmp_path))[0] == kept

    again = subprocess.run(
        [sys.executable, "-c", RUNBOOK_CLEANUP],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert again.returncode == 0 and again.stdout.strip().splitlines() == ["0"], again.stdout + again.stderr


def test_cli_cleanup_command(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    asyncio.run(seed_ages(f"sqlite+aiosqlite:///{data_dir / 'app.db'}", tmp_path))
    env = clean_env(DATA_DIR=str(data_dir), LOG_DIR=str(tmp_path / "logs"))
    run = subprocess.run(
        [sys.executable, "-m", "src.cli", "cleanup", "--days", "30"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines() == ["Cleaned up 3 old sessions"], run.stdout
