"""The app's scheduler: the session-cleanup job the running app schedules, and a job that fails once
does not stop the ones after it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from src.scheduler import cleanup_sessions, every
from tests.conftest import make_settings, running_app
from tests.db.helpers import remaining, seed_ages, sqlite_url


async def test_scheduled_cleanup_job(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path, "sched.db")
    kept = await seed_ages(url, tmp_path)
    settings = make_settings(
        tmp_path, database_url=url, auto_migrate=False, session_retention_days=30, cleanup_interval_seconds=60
    )
    async with running_app(settings) as (app, _):
        resources = app.state.container
        names = {t.get_name(): t for t in resources.tasks}
        assert not names["session-cleanup"].done() and not names["pending-flush"].done()
        await cleanup_sessions(resources)
        assert (await remaining(url, tmp_path))[0] == kept
        await cleanup_sessions(resources)  # idempotent
        assert (await remaining(url, tmp_path))[0] == kept
        log = (settings.log_dir / "app.log").read_text()
        assert '"removed": 3' in log and '"retention_days": 30' in log


async def test_scheduler_survives_a_failing_job() -> None:
    runs: list[int] = []

    async def job(_: object) -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("the first run fails")

    task = asyncio.create_task(every(0.01, job, object()))  # type: ignore[arg-type]
    try:
        for _ in range(500):
            if len(runs) >= 3:
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(runs) >= 3
