"""The restore check's parts, each on its own (tests/ops/test_restore_check.py runs them together through the
CLI): the report, the SQLite and PostgreSQL scratch copies (on a real file and a real server), the unpacked
vector snapshot, and the migrations check on a copy that needs upgrading or lacks a table."""

from __future__ import annotations

import gzip
import os
import shutil
import sqlite3
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import asyncpg
import pytest
from anyio import to_thread
from sqlalchemy import make_url, text

from src.db.migrations import alembic_head, run_migrations
from src.kit.db import create_engine, engine_dsn, sqlite_url
from src.ops.restore.checks import check_migrations
from src.ops.restore.postgres import SCRATCH_PREFIX, PostgresScratch
from src.ops.restore.report import RestoreReport, Step
from src.ops.restore.sqlite import SQLiteScratch, is_sqlite_file
from src.ops.restore.vectors import UnusableSnapshot, scratch_data_dir
from tests.conftest import PG_ADMIN_URL, make_settings


@pytest.fixture
def temporary_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The temporary directory the scratch folders go under (TMPDIR for the whole command)."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder


def sqlite_database(path: Path) -> Path:
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.executemany("INSERT INTO notes VALUES (?)", [("x" * 2000,)] * 50)  # several pages
        conn.commit()
    return path


def test_a_report_passes_when_it_has_steps_and_every_one_passed() -> None:
    report = RestoreReport(database="scratch")
    assert not report.passed, "no step run is no pass"
    assert report.add("restore", True, "done") is True
    assert report.passed
    assert report.add("migrations", False, "missing tables") is False
    assert not report.passed
    assert report.steps == [Step("restore", True, "done"), Step("migrations", False, "missing tables")]


def test_an_sqlite_backup_is_known_by_its_header_not_its_name(tmp_path: Path) -> None:
    assert is_sqlite_file(sqlite_database(tmp_path / "backup-of-anything"))
    named = tmp_path / "app.db"
    with gzip.open(named, "wt") as dump:
        dump.write("CREATE TABLE notes (body TEXT);\n")
    assert not is_sqlite_file(named), "a dump named app.db is still a dump"
    empty = tmp_path / "empty.db"
    empty.touch()
    assert not is_sqlite_file(empty)


def test_the_sqlite_copy_is_checked_then_removed_and_the_backup_kept(temporary_directory: Path, tmp_path: Path) -> None:
    backup = sqlite_database(tmp_path / "app.db")
    before = backup.read_bytes()
    scratch = SQLiteScratch.new()
    assert scratch.folder.parent == temporary_directory and scratch.folder.name.startswith("rag-restore-check-")
    assert scratch.label == str(scratch.path) and scratch.database_url == sqlite_url(scratch.path)
    scratch.create()
    assert scratch.restore(backup) == f"{backup} copied to {scratch.path}, integrity_check ok"
    assert scratch.path.read_bytes() == before and backup.read_bytes() == before
    scratch.remove()
    assert list(temporary_directory.iterdir()) == []


def test_a_corrupt_sqlite_backup_fails_its_integrity_check(temporary_directory: Path, tmp_path: Path) -> None:
    data = bytearray(sqlite_database(tmp_path / "app.db").read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    data[page_size:] = b"\x5a" * (len(data) - page_size)  # the header still says SQLite
    broken = tmp_path / "broken.db"
    broken.write_bytes(bytes(data))
    scratch = SQLiteScratch.new()
    scratch.create()
    try:
        with pytest.raises(RuntimeError, match=r"^integrity_check: "):
            scratch.restore(broken)
    finally:
        scratch.remove()


def test_a_scratch_database_needs_a_postgresql_server() -> None:
    with pytest.raises(ValueError, match="no PostgreSQL server: pass --server-url or set NEON_DB_URL / DATABASE_URL"):
        PostgresScratch.on(None)
    with pytest.raises(ValueError, match=r"^the restore check needs PostgreSQL, not sqlite\+aiosqlite$"):
        PostgresScratch.on("sqlite+aiosqlite:///data/app.db")


def test_the_scratch_database_is_named_on_the_servers_url() -> None:
    """psql gets libpq's URL (`sslmode`), the service's engine its own (`ssl`), both naming the scratch database
    with the server's user and password, special characters included."""
    scratch = PostgresScratch.on("postgresql+asyncpg://rag:p%40ss%3Aw%2Frd@db.example:5432/service?ssl=require")
    assert scratch.name.startswith(SCRATCH_PREFIX) and scratch.label == scratch.name
    where = f"rag:p%40ss%3Aw%2Frd@db.example:5432/{scratch.name}"
    assert scratch.url == f"postgresql://{where}?sslmode=require"
    assert scratch.database_url == f"postgresql+asyncpg://{where}?ssl=require"
    assert make_url(scratch.database_url).password == "p@ss:w/rd"
    assert PostgresScratch.on(scratch.server).name != scratch.name, "each check its own database"


def test_a_server_named_as_operators_write_it_is_taken() -> None:
    """`postgres://` and libpq's `sslmode`, as NEON_DB_URL holds them (they were refused as "not postgres"), and
    Neon's `channel_binding`, which asyncpg refuses as an unknown argument (a traceback at the migrations)."""
    scratch = PostgresScratch.on("postgres://app:pw@ep-x.neon.tech/neondb?sslmode=require&channel_binding=require")
    assert scratch.url.startswith("postgresql://app:pw@ep-x.neon.tech/") and "sslmode=require" in scratch.url
    assert make_url(scratch.database_url).query == {"ssl": "require"}


def test_psql_never_gets_the_password_on_its_command_line(
    pg_available: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ps` shows a process's arguments to every local user: the password reaches psql in its environment."""
    shim = tmp_path / "bin"
    shim.mkdir()
    seen = tmp_path / "seen"
    real = shutil.which("psql")
    assert real
    (shim / "psql").write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$*" >> {seen}\nprintf "%s\\n" "$PGPASSWORD" >> {seen}.env\nexec {real} "$@"\n'
    )
    (shim / "psql").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim}:{os.environ['PATH']}")
    password = "not-on-the-command-line"  # the local server trusts its clients: any password is accepted
    scratch = PostgresScratch.on(make_url(PG_ADMIN_URL).set(password=password).render_as_string(hide_password=False))
    scratch.create()
    scratch.remove()
    arguments = seen.read_text()
    assert "CREATE DATABASE" in arguments and "DROP DATABASE" in arguments
    assert password not in arguments
    assert password in (tmp_path / "seen.env").read_text()


async def scratch_exists(name: str) -> bool:
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        return bool(await admin.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name))
    finally:
        await admin.close()


async def test_a_dump_is_loaded_into_a_scratch_database_then_dropped(pg_available: None, tmp_path: Path) -> None:
    # The server as the service names it (the engine's URL, with asyncpg's `ssl`).
    scratch = PostgresScratch.on(engine_dsn(f"{PG_ADMIN_URL}?sslmode=disable"))
    dump = tmp_path / "database.sql.gz"
    with gzip.open(dump, "wt") as sql:
        sql.write("CREATE TABLE notes (body text);\nINSERT INTO notes VALUES ('one'), ('two');\n")
    broken = tmp_path / "broken.sql"
    broken.write_text("CREATE TABLE more (body text);\nCREATE TABLE more more;\nCREATE TABLE never (body text);\n")
    await to_thread.run_sync(scratch.create)
    try:
        assert await scratch_exists(scratch.name)
        assert await to_thread.run_sync(scratch.restore, dump) == f"{dump} into {scratch.name}"
        with pytest.raises(RuntimeError, match="syntax error"):
            await to_thread.run_sync(scratch.restore, broken)
        engine = create_engine(make_settings(tmp_path, database_url=scratch.database_url))
        try:
            async with engine.connect() as conn:
                assert (await conn.execute(text("SELECT count(*) FROM notes"))).scalar_one() == 2
                found = await conn.execute(text("SELECT relname FROM pg_class WHERE relname IN ('more', 'never')"))
                assert set(found.scalars()) == {"more"}, "psql stops at the first error"
        finally:
            await engine.dispose()
    finally:
        await to_thread.run_sync(scratch.remove)
    assert not await scratch_exists(scratch.name)


def vector_snapshot(path: Path, folder: str) -> Path:
    source = path.parent / "snapshot" / folder
    source.mkdir(parents=True)
    (source / "collection.json").write_text("{}")
    with tarfile.open(path, "w:gz") as archive:
        archive.add(source, arcname=folder)
    return path


def test_the_vector_snapshot_is_unpacked_into_a_scratch_data_dir(temporary_directory: Path, tmp_path: Path) -> None:
    with scratch_data_dir(None) as none:
        assert none is None, "no snapshot: the configured Qdrant server answers"
    with scratch_data_dir(vector_snapshot(tmp_path / "vectors.tar.gz", "qdrant")) as data_dir:
        assert data_dir is not None and data_dir.parent == temporary_directory
        assert (data_dir / "qdrant" / "collection.json").read_text() == "{}"
    assert list(temporary_directory.iterdir()) == []


def test_a_snapshot_that_is_no_archive_is_refused(temporary_directory: Path, tmp_path: Path) -> None:
    broken = tmp_path / "vectors.tar.gz"
    broken.write_bytes(b"not an archive")
    with pytest.raises(UnusableSnapshot, match="cannot be unpacked"), scratch_data_dir(broken):
        pass


def test_a_vector_snapshot_without_the_qdrant_folder_is_refused(temporary_directory: Path, tmp_path: Path) -> None:
    snapshot = vector_snapshot(tmp_path / "vectors.tar.gz", "something-else")
    with pytest.raises(RuntimeError, match=f"^{snapshot} holds no qdrant/ folder$"), scratch_data_dir(snapshot):
        pass
    assert list(temporary_directory.iterdir()) == []


async def test_an_empty_copy_is_upgraded_to_head(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, database_url=sqlite_url(tmp_path / "copy" / "app.db"))
    report = RestoreReport(database="copy")
    assert await check_migrations(report, settings)
    [step] = report.steps
    assert step.name == "migrations" and step.passed
    assert step.detail.startswith(f"upgraded from an empty schema: revision {alembic_head()}; rows: "), step.detail
    assert "indexed_documents 0" in step.detail and "messages 0" in step.detail


async def test_a_copy_at_head_without_one_of_its_tables_fails(tmp_path: Path) -> None:
    database = tmp_path / "copy" / "app.db"
    database.parent.mkdir()
    await to_thread.run_sync(run_migrations, sqlite_url(database))
    with closing(sqlite3.connect(database)) as conn:
        conn.execute("DROP TABLE feedback")
        conn.commit()
    report = RestoreReport(database="copy")
    assert not await check_migrations(report, make_settings(tmp_path, database_url=sqlite_url(database)))
    [step] = report.steps
    assert step.detail.startswith(f"at head: revision {alembic_head()}, missing tables feedback; rows: "), step.detail
    assert "feedback" not in step.detail.split("; rows: ")[1]
