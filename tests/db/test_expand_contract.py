"""Expand and contract (src/db/migrations.py): every migration says which it is, an expand step may not
break the previous release, and a release stays ready on a schema a newer release has expanded, on
real PostgreSQL, while a schema it cannot run on, or one that is behind, is reported as such."""

from __future__ import annotations

import ast
import asyncio
import importlib.util
from pathlib import Path
from types import ModuleType

from alembic import command
from sqlalchemy import text

from src.db.migrations import COMPATIBILITY_TABLE, alembic_head, compatible_heads, migrate_once, run_migrations, schema_state
from src.kit.db import create_engine
from tests.conftest import REPO, running_app
from tests.db.helpers import settings_for, sqlite_url
from tests.db.test_migrations import alembic_config

VERSIONS = REPO / "migrations" / "versions"
# Operations that remove or change what a running release reads or writes.
BREAKING = {
    "drop_column",
    "drop_table",
    "rename_table",
    "alter_column",
    "drop_constraint",
    "create_unique_constraint",
    "create_check_constraint",
    "create_foreign_key",
}
FUTURE = "f0f0f0f0f0f0"  # a revision this release does not ship: a newer release's migration


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def breaking_operations(source: str) -> list[str]:
    """The breaking calls in a migration's upgrade(): BREAKING ones, and a NOT NULL column added
    without a server default (the previous release's inserts would fail)."""
    tree = ast.parse(source)
    upgrade = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "upgrade")
    found = []
    for node in ast.walk(upgrade):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr in BREAKING:
            found.append(node.func.attr)
        if node.func.attr == "add_column":
            column = next((a for a in node.args if isinstance(a, ast.Call)), None)
            keywords = {k.arg: k.value for k in column.keywords} if column else {}
            not_null = isinstance(keywords.get("nullable"), ast.Constant) and keywords["nullable"].value is False  # type: ignore[union-attr]
            if not_null and "server_default" not in keywords:
                found.append("add_column NOT NULL without server_default")
    return found


def test_every_expand_step_keeps_the_previous_release_working() -> None:
    for path in sorted(VERSIONS.glob("*.py")):
        module = load(path)
        assert getattr(module, "phase", None) in ("expand", "contract"), f"{path.name}: declare phase = 'expand' or 'contract'"
        if module.phase == "contract":
            continue
        reviewed = getattr(module, "reviewed", {})
        unreviewed = [op for op in breaking_operations(path.read_text()) if op not in reviewed]
        assert not unreviewed, f"{path.name} is an expand step but {unreviewed} would break the previous release: mark it phase = 'contract'"


def test_the_check_refuses_a_breaking_expand_step() -> None:
    source = """
def upgrade():
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("page")
        batch.add_column(sa.Column("kind", sa.String(8), nullable=False))
        batch.add_column(sa.Column("fine", sa.String(8), nullable=False, server_default="x"))
        batch.add_column(sa.Column("also_fine", sa.Text(), nullable=True))
"""
    assert breaking_operations(source) == ["drop_column", "add_column NOT NULL without server_default"]


def test_compatible_heads_follow_expand_steps_back() -> None:
    heads = compatible_heads(alembic_head())
    assert heads[0] == alembic_head()
    assert heads[-1] == "5684c229a784"  # every step so far is an expand step: back to the first schema
    assert len(heads) == len(list(VERSIONS.glob("*.py")))


async def test_a_release_serves_on_a_schema_a_newer_release_expanded(pg_url: str, tmp_path: Path) -> None:
    await asyncio.to_thread(run_migrations, pg_url)
    head = alembic_head()
    engine = create_engine(settings_for(tmp_path, pg_url))
    try:
        assert await schema_state(engine, head) == "current"
        rows = set(await _compat(engine))
        assert rows == set(compatible_heads(head))
        # A newer release ran an expand step: its revision is unknown here, and it lists this head.
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": FUTURE})
            await conn.execute(text(f"INSERT INTO {COMPATIBILITY_TABLE} (revision) VALUES (:r)"), {"r": FUTURE})
        assert await schema_state(engine, head) == "ahead_compatible"
        async with running_app(settings_for(tmp_path, pg_url)) as (_, client):
            ready = await client.get("/api/v1/health/ready")
            assert ready.status_code == 200, ready.text
            assert ready.json()["services"]["database"] == ready.json()["services"]["database"] | {"status": "up", "schema": "ahead_compatible"}
        # A contract step that dropped what this release uses no longer lists it.
        async with engine.begin() as conn:
            await conn.execute(text(f"DELETE FROM {COMPATIBILITY_TABLE} WHERE revision <> :r"), {"r": FUTURE})
        assert await schema_state(engine, head) == "ahead_incompatible"
        async with running_app(settings_for(tmp_path, pg_url)) as (_, client):
            ready = await client.get("/api/v1/health/ready")
            assert ready.status_code == 503
            assert ready.json()["services"]["database"]["status"] == "incompatible"
        # Rolled back by the newer release's own checkout (it has the file): this release is current again.
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": head})
        await asyncio.to_thread(command.stamp, alembic_config(pg_url), head)
        assert await schema_state(engine, head) == "current"
        # Behind: the database lacks this release's last step.
        previous = compatible_heads(head)[1]
        await asyncio.to_thread(command.downgrade, alembic_config(pg_url), previous)
        assert await schema_state(engine, head) == "behind"
        assert set(await _compat(engine)) == set(compatible_heads(previous))
    finally:
        await engine.dispose()


async def _compat(engine: object) -> list[str]:
    async with engine.connect() as conn:  # type: ignore[attr-defined]
        return list((await conn.execute(text(f"SELECT revision FROM {COMPATIBILITY_TABLE}"))).scalars().all())


async def test_the_embedded_database_ahead_of_this_release_is_left_alone(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    settings = settings_for(tmp_path, url)
    await asyncio.to_thread(migrate_once, settings)
    engine = create_engine(settings)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": FUTURE})
            await conn.execute(text(f"INSERT INTO {COMPATIBILITY_TABLE} (revision) VALUES (:r)"), {"r": FUTURE})
        await asyncio.to_thread(migrate_once, settings)  # a restart of this release: no "Can't locate revision"
        assert await schema_state(engine, alembic_head()) == "ahead_compatible"
    finally:
        await engine.dispose()
