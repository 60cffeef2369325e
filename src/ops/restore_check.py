"""The restore check (`python -m src.cli restore-check`): a backup made by scripts/backup.sh is restored into
a scratch PostgreSQL database, brought to this release's schema, and asked a known question; each step is
reported as passed or failed, and the scratch database is dropped afterwards.

Steps, in order (a failed step stops the ones that need it):

1. restore: the dump (`database.sql.gz` or plain SQL) is loaded with `psql -v ON_ERROR_STOP=1` into a new
   database `rag_restore_check_<random>` on the given server (default: the service's own).
2. migrations: the restored revision is read; if it is older than this release's head, the migrations are
   applied to the copy (so an upgrade of the real data is tried too); the copy must end at head, with
   every table of src/db/models.py present.
3. answer: the service is opened on the copy (no Redis: no cached answer can stand in) and on the restored
   vector store (the embedded engine unpacked from `vectors.tar.gz` into a scratch DATA_DIR), or on the
   configured one when no vector snapshot is given; the question must be answered with citations, every
   cited file must be in the restored `indexed_documents`, and `expect_source`, when given, among them.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import tarfile
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from anyio import to_thread
from sqlalchemy import inspect, make_url, select, text

from src.answering.service import Asked
from src.container import close_container, open_container
from src.db.migrations import alembic_head, current_revision, run_migrations
from src.db.models import Base, IndexedDocument
from src.kit.db import create_engine, session_factory, transaction
from src.kit.middleware import InFlight
from src.kit.settings import Settings

if TYPE_CHECKING:
    from _typeshed import SupportsRead

SCRATCH_PREFIX = "rag_restore_check_"


@dataclass
class Step:
    name: str
    passed: bool
    detail: str


@dataclass
class RestoreReport:
    database: str
    steps: list[Step] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.steps) and all(s.passed for s in self.steps)

    def add(self, name: str, passed: bool, detail: str) -> bool:
        self.steps.append(Step(name, passed, detail))
        return passed


def libpq_url(url: str) -> str:
    """A URL psql and asyncpg take (`postgresql://`), from the service's (`postgresql+asyncpg://`, `ssl=`)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        raise ValueError(f"the restore check needs PostgreSQL, not {parsed.drivername}")
    query = dict(parsed.query)
    if "ssl" in query:
        query["sslmode"] = query.pop("ssl")
    return parsed.set(drivername="postgresql", query=query).render_as_string(hide_password=False)


def asyncpg_url(url: str) -> str:
    """The same database as the service's engine names it."""
    parsed = make_url(url)
    query = dict(parsed.query)
    if "sslmode" in query:
        query["ssl"] = query.pop("sslmode")
    return parsed.set(drivername="postgresql+asyncpg", query=query).render_as_string(hide_password=False)


def with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def _psql(url: str, *args: str, stdin: SupportsRead[bytes] | None = None) -> None:
    """Run psql, stopping at the first error; raise with its last message."""
    command = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, *args]
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(command, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors)
        if stdin is not None and proc.stdin is not None:
            with proc.stdin:
                try:
                    shutil.copyfileobj(stdin, proc.stdin, 1 << 20)
                except BrokenPipeError:
                    pass  # psql stopped at an error: its message says which
        returncode = proc.wait()
        errors.seek(0)
        message = errors.read().decode(errors="replace").strip()
    if returncode != 0:
        raise RuntimeError(message[-500:] or f"psql exited with {returncode}")


def _admin(server_url: str, statement: str) -> None:
    _psql(libpq_url(server_url), "-c", statement)


def _restore(dump: Path, url: str) -> None:
    with gzip.open(dump, "rb") if dump.name.endswith(".gz") else dump.open("rb") as sql:
        _psql(url, stdin=sql)


@contextmanager
def _scratch_data_dir(vectors: Path | None) -> Iterator[Path | None]:
    if vectors is None:
        yield None
        return
    folder = Path(tempfile.mkdtemp(prefix="rag-restore-check-"))
    try:
        with tarfile.open(vectors) as archive:
            archive.extractall(folder, filter="data")
        if not (folder / "qdrant").is_dir():
            raise RuntimeError(f"{vectors} holds no qdrant/ folder")
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def _migrations(report: RestoreReport, url: str, settings: Settings) -> bool:
    head = alembic_head()
    engine = create_engine(settings)
    try:
        restored = await current_revision(engine)
        if restored != head:
            await to_thread.run_sync(run_migrations, url)
        revision = await current_revision(engine)
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
            counts = {t: int((await conn.execute(text(f'SELECT count(*) FROM "{t}"'))).scalar_one()) for t in sorted(Base.metadata.tables) if t in tables}
    finally:
        await engine.dispose()
    missing = sorted(set(Base.metadata.tables) - tables)
    how = "at head" if restored == head else f"upgraded from {restored or 'an empty schema'}"
    rows = ", ".join(f"{t} {n}" for t, n in counts.items())
    return report.add(
        "migrations",
        revision == head and not missing,
        f"{how}: revision {revision}" + (f", missing tables {', '.join(missing)}" if missing else "") + f"; rows: {rows}",
    )


async def _answer(report: RestoreReport, settings: Settings, question: str, expect_source: str | None) -> bool:
    container = await open_container(settings, InFlight())
    try:
        async with transaction(session_factory(container.engine)) as db:
            registered = set((await db.execute(select(IndexedDocument.source_file))).scalars())
        result = await container.answers.answer(Asked(question=question))
    finally:
        await close_container(container)
    cited = {c.source_file for c in result.citations if c.source_file}
    problems = []
    if result.refused or not result.citations:
        problems.append("refused, or no citation")
    if cited - registered:
        problems.append(f"cites files the restored registry does not list: {', '.join(sorted(cited - registered))}")
    if expect_source and expect_source not in cited:
        problems.append(f"{expect_source} is not cited")
    detail = f"{len(result.citations)} citations from {', '.join(sorted(cited)) or 'nothing'}"
    return report.add("answer", not problems, "; ".join([*problems, detail]))


async def restore_check(
    settings: Settings,
    dump: Path,
    question: str,
    *,
    server_url: str | None = None,
    vectors: Path | None = None,
    expect_source: str | None = None,
    keep: bool = False,
) -> RestoreReport:
    """Restore `dump` into a scratch database on `server_url` (default: the service's database server), check
    it, and drop it (unless `keep`)."""
    server = server_url or settings.database_url
    if not server:
        raise ValueError("no PostgreSQL server: pass --server-url or set NEON_DB_URL / DATABASE_URL")
    name = SCRATCH_PREFIX + uuid.uuid4().hex[:12]
    scratch = with_database(libpq_url(server), name)
    report = RestoreReport(database=name)
    await to_thread.run_sync(_admin, server, f'CREATE DATABASE "{name}"')
    try:
        try:
            await to_thread.run_sync(_restore, dump, scratch)
        except (RuntimeError, OSError) as exc:
            report.add("restore", False, f"{dump}: {exc}")
            return report
        report.add("restore", True, f"{dump} into {name}")
        with _scratch_data_dir(vectors) as data_dir:
            overrides: dict[str, object] = {
                "database_url": asyncpg_url(scratch),
                "auto_migrate": False,
                "redis_url": None,
            }
            if data_dir is not None:
                overrides |= {"data_dir": data_dir, "qdrant_url": None, "log_dir": data_dir / "logs", "model_cache_dir": settings.models_dir.resolve()}
            checked = settings.model_copy(update=overrides)
            if await _migrations(report, scratch, checked):
                await _answer(report, checked, question, expect_source)
        return report
    finally:
        if not keep:
            await to_thread.run_sync(_admin, server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
