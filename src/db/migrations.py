"""Alembic, from the code: the head revision this release ships, applying migrations (under a file
lock for the embedded SQLite database), the revision a database is at, and whether this release can
run on it.

Expand and contract: every migration declares `phase = "expand"` (it only adds what the previous
release neither reads nor needs: that release keeps working on the new schema) or `phase =
"contract"` (it removes or changes what an earlier release uses). After each upgrade or downgrade
the database records, in `schema_compatibility`, the release heads that can run on it: its own
revision and every earlier head reached through expand steps only. A release whose head is listed
is ready on a schema that is ahead of it, so the old pool keeps serving while the new one starts;
tests/db/test_expand_contract.py refuses a migration that breaks the previous release unless it is
marked as a contract step.

Every start path migrates through `migrate_once` (`python -m src.cli migrate`, and the app itself on
the embedded SQLite database), so a rolled-back release starts on the schema a newer one left
behind when that schema lists it, and is refused with the reason when it does not."""

from __future__ import annotations

import asyncio
import fcntl
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine

from src.kit.db import create_engine
from src.kit.logging import get_logger
from src.kit.settings import Settings

log = get_logger(__name__)

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


def _config() -> Config:
    return Config(str(ALEMBIC_INI))


COMPATIBILITY_TABLE = "schema_compatibility"
SchemaState = Literal["current", "ahead_compatible", "ahead_incompatible", "behind", "missing"]


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def alembic_head() -> str:
    head = _script().get_current_head()
    if head is None:  # pragma: no cover - the repository always ships migrations
        raise RuntimeError("no Alembic migrations found")
    return head


def run_migrations(database_url: str | None = None) -> None:
    cfg = _config()
    cfg.attributes["skip_logging_config"] = True
    if database_url:
        cfg.attributes["database_url"] = database_url
    command.upgrade(cfg, "head")


@dataclass(frozen=True)
class Migrated:
    """What `migrate_once` left: the database's revision and where it stands for this release (`current`
    once upgraded; `ahead_compatible` or `ahead_incompatible` when a newer release had migrated it)."""

    state: SchemaState
    revision: str | None
    head: str


def migrate_once(settings: Settings) -> Migrated:
    """`upgrade head`, except on a database a newer release has migrated (a revision this release does
    not ship, which Alembic cannot upgrade from): that one is left as it is, and the result says whether
    its `schema_compatibility` lists this release. The embedded SQLite database is migrated under a file
    lock: workers starting together (gunicorn -w N with QDRANT_URL set) would otherwise race on
    alembic_version and one would fail."""
    if not settings.is_sqlite:
        return _upgrade(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with (settings.data_dir / ".migrate.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _upgrade(settings)


def _upgrade(settings: Settings) -> Migrated:
    head = alembic_head()
    try:
        run_migrations(settings.sqlalchemy_url)
    except CommandError:
        # A revision Alembic cannot locate stops the run before any step: a newer release migrated the
        # database, and it is left as it is. Any other failure is raised as it came.
        revision, state = asyncio.run(_where(settings, head))
        if state == "ahead_compatible":
            log.info("MIGRATION_SKIPPED", database_revision=revision, head=head, schema=state)
        elif state == "ahead_incompatible":
            log.error(
                "SCHEMA_INCOMPATIBLE",
                database_revision=revision,
                head=head,
                schema=state,
                fix="downgrade to this head from the newer release's checkout",
            )
        else:
            raise
        return Migrated(state, revision, head)
    return Migrated("current", head, head)


async def _where(settings: Settings, head: str) -> tuple[str | None, SchemaState]:
    engine = create_engine(settings)
    try:
        return await current_revision(engine), await schema_state(engine, head)
    finally:
        await engine.dispose()


def compatible_heads(revision: str) -> list[str]:
    """The release heads that can run on a schema at `revision`: itself, then each earlier revision
    for as long as the steps after it are expand steps."""
    script = _script()
    heads = [revision]
    current = script.get_revision(revision)
    while (
        current is not None
        and getattr(current.module, "phase", None) == "expand"
        and isinstance(current.down_revision, str)
    ):
        heads.append(current.down_revision)
        current = script.get_revision(current.down_revision)
    return heads


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's comparison skips schema_compatibility: record_compatibility writes it, no model does."""
    return not (type_ == "table" and name == COMPATIBILITY_TABLE)


def record_compatibility(connection: Connection, revision: str | None) -> None:
    """Write `schema_compatibility` for the schema at `revision` (migrations/env.py, after each run)."""
    connection.execute(text(f"CREATE TABLE IF NOT EXISTS {COMPATIBILITY_TABLE} (revision VARCHAR(32) PRIMARY KEY)"))
    connection.execute(text(f"DELETE FROM {COMPATIBILITY_TABLE}"))
    for head in compatible_heads(revision) if revision else []:
        connection.execute(text(f"INSERT INTO {COMPATIBILITY_TABLE} (revision) VALUES (:r)"), {"r": head})


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        try:
            row = (await conn.execute(text("SELECT version_num FROM alembic_version"))).first()
        except (OperationalError, ProgrammingError) as exc:
            if "alembic_version" in str(exc):  # the table is missing: not migrated yet
                return None
            raise
    return str(row[0]) if row else None


async def schema_state(engine: AsyncEngine, head: str) -> SchemaState:
    """Where the database's schema stands for a release whose head is `head`."""
    revision = await current_revision(engine)
    if revision is None:
        return "missing"
    if revision == head:
        return "current"
    if _known(revision):
        return "behind"
    async with engine.connect() as conn:
        try:
            rows = (await conn.execute(text(f"SELECT revision FROM {COMPATIBILITY_TABLE}"))).scalars().all()
        except (OperationalError, ProgrammingError):
            rows = []
    return "ahead_compatible" if head in rows else "ahead_incompatible"


def _known(revision: str) -> bool:
    try:
        return _script().get_revision(revision) is not None
    except CommandError:
        return False


async def is_migrated(engine: AsyncEngine, head: str) -> bool:
    """Whether this release can serve on the database: its own head, or a newer schema that lists it."""
    return await schema_state(engine, head) in ("current", "ahead_compatible")
