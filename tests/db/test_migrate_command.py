"""`python -m src.cli migrate`, the migrate command every start path runs (the image, the systemd unit,
`make migrate`), on real PostgreSQL that a newer release has migrated: after an expand step this
checkout's command changes nothing, says it skipped, and exits 0, so a rolled-back release starts; after
a contract step it exits 1 with the reason and the way out (downgrade from the newer checkout), and
again changes nothing. The newer release is tests/db/releases.py's copy of this checkout with one more
migration."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text

from src.db.migrations import COMPATIBILITY_TABLE, alembic_head, current_revision, run_migrations
from src.kit.db import create_engine
from tests.conftest import REPO
from tests.db.helpers import settings_for
from tests.db.releases import NEW_COLUMN, NEW_REVISION, alembic_by_hand, migrate, new_release, run_module


@dataclass(frozen=True)
class Schema:
    revision: str | None
    compatible: frozenset[str]
    columns: frozenset[tuple[str, str, str]]  # (table, column, type) of every table


async def schema(tmp_path: Path, database_url: str) -> Schema:
    engine = create_engine(settings_for(tmp_path, database_url))
    try:
        async with engine.connect() as conn:
            compatible = (await conn.execute(text(f"SELECT revision FROM {COMPATIBILITY_TABLE}"))).scalars().all()
            columns = await conn.execute(
                text(
                    "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'public'"
                )
            )
            listed = frozenset((str(t), str(c), str(d)) for t, c, d in columns)
        return Schema(await current_revision(engine), frozenset(compatible), listed)
    finally:
        await engine.dispose()


def logged(stderr: str, event: str) -> dict[str, Any]:
    """The JSON log line of `event` the command wrote to stderr."""
    for line in stderr.splitlines():
        if line.startswith("{") and json.loads(line).get("event") == event:
            found: dict[str, Any] = json.loads(line)
            return found
    raise AssertionError(f"no {event} in:\n{stderr}")


def output(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit {done.returncode}\n--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}"


async def test_a_release_starts_on_a_schema_a_newer_release_expanded(pg_url: str, tmp_path: Path) -> None:
    head = alembic_head()
    first = await asyncio.to_thread(migrate, tmp_path, REPO, pg_url)
    assert first.returncode == 0, output(first)
    assert f"migrate: the database is at {head}, this release's head" in first.stdout
    new_tree = new_release(tmp_path / "new-release", head, "expand")
    await asyncio.to_thread(alembic_by_hand, tmp_path, new_tree, pg_url, "upgrade", "head")
    expanded = await schema(tmp_path, pg_url)
    assert expanded.revision == NEW_REVISION and head in expanded.compatible
    assert ("messages", NEW_COLUMN, "text") in expanded.columns

    # What the start paths ran before: Alembic alone cannot start from a revision it does not ship.
    bare = await asyncio.to_thread(run_module, tmp_path, REPO, pg_url, "alembic", "upgrade", "head")
    assert bare.returncode != 0 and f"Can't locate revision identified by '{NEW_REVISION}'" in bare.stderr, output(bare)

    # The rollback: this (older) checkout's start path migrates first.
    again = await asyncio.to_thread(migrate, tmp_path, REPO, pg_url)
    assert again.returncode == 0, output(again)
    event = logged(again.stderr, "MIGRATION_SKIPPED")
    assert (event["database_revision"], event["head"], event["schema"]) == (NEW_REVISION, head, "ahead_compatible"), (
        event
    )
    assert f"migrate: skipped (ahead_compatible): the database is at {NEW_REVISION}" in again.stdout
    assert await schema(tmp_path, pg_url) == expanded

    # The newer release's own start path finds its head: nothing to do either.
    forward = await asyncio.to_thread(migrate, tmp_path, new_tree, pg_url)
    assert forward.returncode == 0, output(forward)
    assert f"migrate: the database is at {NEW_REVISION}, this release's head" in forward.stdout
    assert await schema(tmp_path, pg_url) == expanded


async def test_a_release_refuses_a_schema_a_contract_step_changed(pg_url: str, tmp_path: Path) -> None:
    head = alembic_head()
    await asyncio.to_thread(run_migrations, pg_url)
    contract_tree = new_release(tmp_path / "contract-release", head, "contract")
    await asyncio.to_thread(alembic_by_hand, tmp_path, contract_tree, pg_url, "upgrade", "head")
    contracted = await schema(tmp_path, pg_url)
    assert (contracted.revision, contracted.compatible) == (NEW_REVISION, frozenset({NEW_REVISION}))

    refused = await asyncio.to_thread(migrate, tmp_path, REPO, pg_url)
    assert refused.returncode == 1, output(refused)
    event = logged(refused.stderr, "SCHEMA_INCOMPATIBLE")
    assert (event["database_revision"], event["head"], event["schema"]) == (NEW_REVISION, head, "ahead_incompatible"), (
        event
    )
    assert (
        f"this release (head {head}) cannot run on this database, which a newer release migrated to {NEW_REVISION}"
        in refused.stderr
    )
    assert (
        f"downgrade from the newer release's checkout, which has the migration files: `python -m alembic downgrade {head}`"
        in refused.stderr
    )
    assert "Traceback" not in refused.stderr
    assert await schema(tmp_path, pg_url) == contracted

    # What the message says to do, and then this release's start path goes through.
    await asyncio.to_thread(alembic_by_hand, tmp_path, contract_tree, pg_url, "downgrade", head)
    after = await asyncio.to_thread(migrate, tmp_path, REPO, pg_url)
    assert after.returncode == 0, output(after)
    assert (await schema(tmp_path, pg_url)).revision == head


def test_every_start_path_runs_the_migrate_command() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    (command,) = re.findall(r"^CMD (\[.*\])$", dockerfile, re.MULTILINE)
    assert json.loads(command)[-1].startswith("python -m src.cli migrate && exec gunicorn "), command
    unit = (REPO / "deploy" / "rag-backend.service").read_text()
    assert re.findall(r"^ExecStartPre=(.*)$", unit, re.MULTILINE) == [
        "/opt/rag-backend/.venv/bin/python -m src.cli migrate"
    ]
    recipe = re.search(r"^migrate:.*\n((?:\t.*\n)+)", (REPO / "Makefile").read_text(), re.MULTILINE)
    assert recipe and recipe.group(1).split() == ["$(BIN)/python", "-m", "src.cli", "migrate"], recipe
    # The swarm stack and the Kubernetes Deployment run the image's command; nothing there calls Alembic itself.
    shipped = [REPO / "Dockerfile", *(p for p in (REPO / "deploy").rglob("*") if p.is_file())]
    runs = [
        f"{p.name}: {line}"
        for p in shipped
        for line in p.read_text().splitlines()
        if not line.lstrip().startswith("#") and "-m alembic" in line
    ]
    assert not runs, runs


async def test_pods_starting_together_migrate_one_at_a_time(pg_url: str, tmp_path: Path) -> None:
    """Several instances of a release starting at once on an empty PostgreSQL database (a Deployment's
    replicas, a swarm update) each run the migrate command: an advisory lock in migrations/env.py makes
    them take turns, so every one exits 0 and the schema is migrated once."""
    starts = 4
    runs = [asyncio.to_thread(migrate, tmp_path / f"pod-{n}", REPO, pg_url) for n in range(starts)]
    done = await asyncio.gather(*runs)
    failed = [output(d) for d in done if d.returncode != 0]
    assert not failed, "\n\n".join(failed)
    migrated = await schema(tmp_path, pg_url)
    assert migrated.revision == alembic_head()
    assert alembic_head() in migrated.compatible
