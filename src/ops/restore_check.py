"""The restore check (`python -m src.cli restore-check`): a backup made by scripts/backup.sh is restored into
a scratch copy (a PostgreSQL dump into a scratch database, the embedded SQLite database into a scratch
folder), brought to this release's schema, and asked a known question; each step is reported as passed or
failed, and the scratch copy is removed afterwards.

Steps, in order (a failed step stops the ones that need it):

1. restore: a PostgreSQL dump (`database.sql.gz` or plain SQL) is loaded with `psql -v ON_ERROR_STOP=1`
   into a new database `rag_restore_check_<random>` on the given server (default: the service's own); an
   SQLite database (`app.db`, known by its header, whatever its name) is copied into a new folder
   `rag-restore-check-<random>` under the temporary directory and must pass `PRAGMA integrity_check`. The
   backup itself is only read, and the service's own DATA_DIR is never the copy's.
2. migrations: the restored revision is read; if it is older than this release's head, the migrations are
   applied to the copy (so an upgrade of the real data is tried too); the copy must end at head, with
   every table of src/db/models.py present, and the rows of each are reported. A copy a newer release
   migrated (a revision this release does not ship) is left as it is: it passes as `ahead_compatible` when
   its `schema_compatibility` lists this release's head, and fails, saying so, when it does not.
3. answer: the service is opened on the copy (no Redis: no cached answer can stand in) and on the restored
   vector store (the embedded engine unpacked from `vectors.tar.gz` into a scratch DATA_DIR), or on the
   configured Qdrant server when no vector snapshot is given (an embedded store without one fails the
   check at once, as `vectors`: the one under DATA_DIR is the live store, not the backup's); the question
   must be answered with citations, every cited file must be in the restored `indexed_documents`, and
   `expect_source`, when given, among them.
"""

from __future__ import annotations

import gzip
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from anyio import to_thread
from sqlalchemy import inspect, make_url, select, text

from src.answering.service import Asked
from src.container import close_container, open_container
from src.db.migrations import alembic_head, current_revision, run_migrations, schema_state
from src.db.models import Base, IndexedDocument
from src.kit.db import create_engine, session_factory, transaction
from src.kit.middleware import InFlight
from src.kit.settings import Settings

if TYPE_CHECKING:
    from _typeshed import SupportsRead

SCRATCH_PREFIX = "rag_restore_check_"
SCRATCH_FOLDER_PREFIX = "rag-restore-check-"
SQLITE_HEADER = b"SQLite format 3\x00"


@dataclass
class Step:
    name: str
    passed: bool
    detail: str


@dataclass
class RestoreReport:
    database: str  # the scratch database's name, or the SQLite copy's path
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


def is_sqlite_file(path: Path) -> bool:
    """Whether `path` is an SQLite database (scripts/backup.sh's `app.db`), by its header, not its name."""
    with path.open("rb") as file:
        return file.read(len(SQLITE_HEADER)) == SQLITE_HEADER


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


def _integrity_problems(path: Path) -> list[str]:
    """What `PRAGMA integrity_check` finds wrong with the SQLite database at `path` (nothing: [])."""
    try:
        with closing(sqlite3.connect(path)) as conn:
            found = [str(row[0]) for row in conn.execute("PRAGMA integrity_check")]
    except sqlite3.DatabaseError as exc:  # a page it cannot even read: "database disk image is malformed"
        return [str(exc)]
    return [] if found == ["ok"] else found


class Scratch(Protocol):
    """Where the backup is restored: created, loaded, and removed afterwards (unless kept)."""

    @property
    def label(self) -> str:
        """What the report names (and --keep prints)."""

    @property
    def database_url(self) -> str:
        """The copy, as the service's engine names it."""

    def create(self) -> None: ...

    def restore(self, dump: Path) -> str:
        """Load `dump` into the copy and say what was done; raise RuntimeError or OSError when it cannot be."""

    def remove(self) -> None: ...


@dataclass(frozen=True)
class PostgresScratch:
    server: str
    name: str
    url: str  # libpq's (psql's)

    @classmethod
    def on(cls, server: str | None) -> PostgresScratch:
        if not server:
            raise ValueError("no PostgreSQL server: pass --server-url or set NEON_DB_URL / DATABASE_URL")
        name = SCRATCH_PREFIX + uuid.uuid4().hex[:12]
        return cls(server, name, with_database(libpq_url(server), name))

    @property
    def label(self) -> str:
        return self.name

    @property
    def database_url(self) -> str:
        return asyncpg_url(self.url)

    def create(self) -> None:
        _admin(self.server, f'CREATE DATABASE "{self.name}"')

    def restore(self, dump: Path) -> str:
        _restore(dump, self.url)
        return f"{dump} into {self.name}"

    def remove(self) -> None:
        _admin(self.server, f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


@dataclass(frozen=True)
class SQLiteScratch:
    folder: Path

    @classmethod
    def new(cls) -> SQLiteScratch:
        return cls(Path(tempfile.gettempdir()) / (SCRATCH_FOLDER_PREFIX + uuid.uuid4().hex[:12]))

    @property
    def path(self) -> Path:
        return self.folder / "app.db"

    @property
    def label(self) -> str:
        return str(self.path)

    @property
    def database_url(self) -> str:
        return f"sqlite+aiosqlite:///{self.path}"

    def create(self) -> None:
        self.folder.mkdir(mode=0o700)

    def restore(self, dump: Path) -> str:
        # A copy: the engine switches it to WAL and the migrations rewrite it; the backup stays as it was.
        shutil.copyfile(dump, self.path)
        problems = _integrity_problems(self.path)
        if problems:
            raise RuntimeError("integrity_check: " + "; ".join(problems[:5]))
        return f"{dump} copied to {self.path}, integrity_check ok"

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def _scratch_data_dir(vectors: Path | None) -> Iterator[Path | None]:
    if vectors is None:
        yield None
        return
    folder = Path(tempfile.mkdtemp(prefix=SCRATCH_FOLDER_PREFIX))
    try:
        with tarfile.open(vectors) as archive:
            archive.extractall(folder, filter="data")
        if not (folder / "qdrant").is_dir():
            raise RuntimeError(f"{vectors} holds no qdrant/ folder")
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def _migrations(report: RestoreReport, settings: Settings) -> bool:
    head = alembic_head()
    engine = create_engine(settings)
    try:
        restored = await current_revision(engine)
        # Alembic cannot upgrade from a revision this release does not ship: a newer release's copy is only read.
        state = await schema_state(engine, head)
        if state in ("behind", "missing"):
            await to_thread.run_sync(run_migrations, settings.sqlalchemy_url)
        revision = await current_revision(engine)
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
            counts = {t: int((await conn.execute(text(f'SELECT count(*) FROM "{t}"'))).scalar_one()) for t in sorted(Base.metadata.tables) if t in tables}
    finally:
        await engine.dispose()
    rows = "; rows: " + ", ".join(f"{t} {n}" for t, n in counts.items())
    if state == "ahead_incompatible":
        return report.add(
            "migrations",
            False,
            f"the backup is at revision {restored}, newer than this release (head {head}), and its schema_compatibility"
            f" does not list {head}: check it with the release that made it{rows}",
        )
    missing = sorted(set(Base.metadata.tables) - tables)
    if state == "ahead_compatible":
        how = f"ahead_compatible: a newer release's schema that lists this release's head {head}, left as it is"
    else:
        how = "at head" if state == "current" else f"upgraded from {restored or 'an empty schema'}"
    return report.add(
        "migrations",
        (revision == head or state == "ahead_compatible") and not missing,
        f"{how}: revision {revision}" + (f", missing tables {', '.join(missing)}" if missing else "") + rows,
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
    """Restore `dump` into a scratch copy, check it, and remove the copy (unless `keep`): an SQLite database
    into a scratch folder, a PostgreSQL dump into a scratch database on `server_url` (default: the
    service's database server)."""
    if vectors is None and not settings.qdrant_url:
        # The embedded store lives under DATA_DIR: the service holds it, and it is not the backup's.
        report = RestoreReport(database=str(dump))
        report.add(
            "vectors",
            False,
            f"the vector store is embedded (under {settings.data_dir}): pass the backup's snapshot with --vectors <backup>/vectors.tar.gz; the live store is not opened",
        )
        return report
    sqlite = await to_thread.run_sync(is_sqlite_file, dump)
    scratch: Scratch = SQLiteScratch.new() if sqlite else PostgresScratch.on(server_url or settings.database_url)
    report = RestoreReport(database=scratch.label)
    await to_thread.run_sync(scratch.create)
    try:
        try:
            detail = await to_thread.run_sync(scratch.restore, dump)
        except (RuntimeError, OSError) as exc:
            report.add("restore", False, f"{dump}: {exc}")
            return report
        report.add("restore", True, detail)
        with _scratch_data_dir(vectors) as data_dir:
            overrides: dict[str, object] = {
                "database_url": scratch.database_url,
                "auto_migrate": False,
                "redis_url": None,
            }
            if data_dir is not None:
                overrides |= {"data_dir": data_dir, "qdrant_url": None, "log_dir": data_dir / "logs", "model_cache_dir": settings.models_dir.resolve()}
            checked = settings.model_copy(update=overrides)
            if await _migrations(report, checked):
                await _answer(report, checked, question, expect_source)
        return report
    finally:
        if not keep:
            await to_thread.run_sync(scratch.remove)
