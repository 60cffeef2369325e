"""`python -m src.cli restore-check` on a backup made by scripts/backup.sh: the service indexes a chapter of
the book on the real PostgreSQL, or on its embedded SQLite database, and on the embedded vector store, and
answers a question (a recorded turn); the backup is restored into a scratch copy that the check creates
and removes (a database on the server, or a folder under the temporary directory), its migrations are
checked, and the known question is answered from the restored pair with a citation of the chapter. The
service's own DATA_DIR and the backup stay as they were. A corrupt dump, a corrupt SQLite file and an
answer that does not cite the expected file fail, each with its step named; so does a dump a newer
release migrated past what this release can run on (tests/db/releases.py makes that release), while an
SQLite database a newer release only expanded passes as ahead_compatible."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from src.db.migrations import alembic_head, run_migrations
from src.kit.settings import Settings
from tests.conftest import PG_ADMIN_URL, REPO, auth, env_for, make_settings, running_app, shared_path
from tests.db.releases import NEW_REVISION, alembic_by_hand, new_release
from tests.scripts.test_backup import run_backup

CHAPTER = "docs/02-humanoid-robotics/index.md"
QUESTION = "What is the Zero Moment Point?"
ON_THE_SERVER = ("--server-url", PG_ADMIN_URL)
Check = Callable[..., subprocess.CompletedProcess[str]]


@dataclass(frozen=True)
class Backup:
    service: Settings  # the service that was backed up
    env_file: Path  # its environment file, which scripts/backup.sh reads
    folder: Path  # what scripts/backup.sh wrote


async def scratch_databases() -> set[str]:
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        return {
            r[0] for r in await admin.fetch("SELECT datname FROM pg_database WHERE datname LIKE 'rag_restore_check_%'")
        }
    finally:
        await admin.close()


def files(folder: Path) -> dict[str, tuple[int, str]]:
    """Every file below `folder`: its size and digest, by relative path."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


async def backed_up(service: Settings, database_line: str) -> Backup:
    """scripts/backup.sh of `service` after it has indexed a chapter and answered once."""
    async with running_app(service) as (_, client):
        text = shared_path("data", "textbooks", "physical-ai", CHAPTER).read_text()
        indexed = await client.post(
            "/api/v1/index", json={"content": text, "metadata": {"source_file": CHAPTER}}, headers=auth()
        )
        assert indexed.status_code == 200, indexed.text
        answered = await client.post("/api/v1/answer", json={"question": QUESTION})
        assert answered.status_code == 200 and not answered.json()["refused"], answered.text
    env_file = service.data_dir.parent / ".env"
    env_file.write_text(f"{database_line}DATA_DIR={service.data_dir}\n")
    done = run_backup(env_file, service.data_dir.parent.parent / "backups")
    assert done.returncode == 0, done.stderr
    return Backup(service, env_file, Path(done.stdout.strip()))


@pytest.fixture
async def backup(tmp_path: Path, pg_url: str) -> Backup:
    """A backup of a service on PostgreSQL: database.sql.gz and vectors.tar.gz."""
    await asyncio.to_thread(run_migrations, pg_url)
    return await backed_up(make_settings(tmp_path / "service", database_url=pg_url), f"DATABASE_URL={pg_url}\n")


@pytest.fixture
async def sqlite_backup(tmp_path: Path) -> Backup:
    """A backup of a service on its embedded SQLite database (it migrates it at start): app.db and vectors.tar.gz."""
    made = await backed_up(make_settings(tmp_path / "sqlite-service"), "")
    assert sorted(p.name for p in made.folder.iterdir()) == ["app.db", "vectors.tar.gz"]
    return made


@pytest.fixture
def scratch_root(tmp_path: Path) -> Path:
    """The check's temporary directory (TMPDIR), where its scratch folders go."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    return folder


def scratch_folders(root: Path) -> list[Path]:
    return sorted(root.glob("rag-restore-check-*"))


@pytest.fixture
def restore_check(tmp_path: Path, scratch_root: Path) -> Check:
    checker = make_settings(tmp_path / "checker")

    def run(*args: str, settings: Settings = checker) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "src.cli", "restore-check", *args]
        env = env_for(settings) | {"TMPDIR": str(scratch_root)}
        return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)

    return run


async def test_a_backup_restores_and_answers_the_known_question(backup: Backup, restore_check: Check) -> None:
    before = await scratch_databases()
    dump, vectors = backup.folder / "database.sql.gz", backup.folder / "vectors.tar.gz"
    done = restore_check(
        str(dump), "--vectors", str(vectors), "--question", QUESTION, "--expect-source", CHAPTER, *ON_THE_SERVER
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("PASS  restore: ")
    assert (
        lines[1].startswith("PASS  migrations: at head")
        and "indexed_documents 1" in lines[1]
        and "messages 1" in lines[1]
    )
    assert lines[2].startswith("PASS  answer: ") and CHAPTER in lines[2]
    assert lines[-1] == "restore-check: PASSED"
    assert await scratch_databases() == before, "the scratch database is dropped"


async def test_a_corrupt_dump_or_a_wrong_answer_fails_the_check(
    backup: Backup, restore_check: Check, tmp_path: Path
) -> None:
    before = await scratch_databases()
    vectors = str(backup.folder / "vectors.tar.gz")
    with gzip.open(backup.folder / "database.sql.gz", "rt") as dump:
        sql = dump.read()
    broken = tmp_path / "broken.sql.gz"
    with gzip.open(broken, "wt") as out:
        out.write(sql.replace("CREATE TABLE public.messages", "CREATE TABLE public.messages public.messages", 1))
    done = restore_check(str(broken), "--vectors", vectors, "--question", QUESTION, *ON_THE_SERVER)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.splitlines()[0].startswith("FAIL  restore: ") and "syntax error" in done.stdout
    assert done.stdout.splitlines()[-1] == "restore-check: FAILED"

    elsewhere = "docs/99-not-in-the-book/index.md"
    done = restore_check(
        str(backup.folder / "database.sql.gz"),
        "--vectors",
        vectors,
        "--question",
        QUESTION,
        "--expect-source",
        elsewhere,
        *ON_THE_SERVER,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"FAIL  answer: {elsewhere} is not cited" in done.stdout
    assert await scratch_databases() == before, "a failed check drops its scratch database too"


async def test_a_dump_a_newer_release_contracted_fails_the_migrations_step_with_the_reason(
    backup: Backup, pg_url: str, restore_check: Check, tmp_path: Path
) -> None:
    head = alembic_head()
    newer = new_release(tmp_path / "newer-release", head, "contract")
    await asyncio.to_thread(alembic_by_hand, tmp_path, newer, pg_url, "upgrade", "head")
    done = run_backup(backup.env_file, tmp_path / "newer-backups")
    assert done.returncode == 0, done.stderr
    folder = Path(done.stdout.strip())
    before = await scratch_databases()

    done = restore_check(
        str(folder / "database.sql.gz"),
        "--vectors",
        str(folder / "vectors.tar.gz"),
        "--question",
        QUESTION,
        *ON_THE_SERVER,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("PASS  restore: ")
    assert lines[1].startswith(
        f"FAIL  migrations: the backup is at revision {NEW_REVISION}, newer than this release (head {head}), and its schema_compatibility"
        f" does not list {head}: check it with the release that made it; rows: "
    ), lines[1]
    assert "indexed_documents 1" in lines[1]
    assert lines[2:] == ["restore-check: FAILED"], "no answer is asked of a schema this release cannot run on"
    assert await scratch_databases() == before, "the scratch database is dropped"


async def test_an_sqlite_backup_restores_and_answers_without_touching_the_live_data(
    sqlite_backup: Backup, restore_check: Check, scratch_root: Path
) -> None:
    # The operator's own settings: the check runs beside the service it backs up.
    live, backup_files = files(sqlite_backup.service.data_dir), files(sqlite_backup.folder)
    assert "app.db" in live
    dump, vectors = sqlite_backup.folder / "app.db", sqlite_backup.folder / "vectors.tar.gz"
    done = restore_check(
        str(dump),
        "--vectors",
        str(vectors),
        "--question",
        QUESTION,
        "--expect-source",
        CHAPTER,
        settings=sqlite_backup.service,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"PASS  restore: {dump} copied to {scratch_root}/rag-restore-check-") and lines[
        0
    ].endswith("integrity_check ok"), lines[0]
    assert lines[1].startswith(f"PASS  migrations: at head: revision {alembic_head()}; rows: "), lines[1]
    assert "indexed_documents 1" in lines[1] and "messages 1" in lines[1]
    assert lines[2].startswith("PASS  answer: ") and CHAPTER in lines[2]
    assert lines[-1] == "restore-check: PASSED"
    assert files(sqlite_backup.service.data_dir) == live, "the live DATA_DIR is untouched"
    assert files(sqlite_backup.folder) == backup_files, "the backup is only read"
    assert scratch_folders(scratch_root) == [], "the scratch copy and the unpacked vectors are removed"


async def test_without_the_vector_snapshot_an_embedded_store_is_not_opened(
    sqlite_backup: Backup, restore_check: Check, scratch_root: Path
) -> None:
    """The embedded store under DATA_DIR is the live one, held by the service, and not the backup's: the
    check asks for --vectors instead of answering from it (it used to, and passed on the live vectors)."""
    live = files(sqlite_backup.service.data_dir)
    done = restore_check(str(sqlite_backup.folder / "app.db"), "--question", QUESTION, settings=sqlite_backup.service)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert (
        lines[0].startswith("FAIL  vectors: the vector store is embedded")
        and "--vectors <backup>/vectors.tar.gz" in lines[0]
    ), lines
    assert lines[-1] == "restore-check: FAILED" and "Traceback" not in done.stderr
    assert files(sqlite_backup.service.data_dir) == live, "the live DATA_DIR is untouched"
    assert scratch_folders(scratch_root) == []


def corrupt_copy(database: Path, to: Path) -> Path:
    """`database` with every page after the first (the schema) overwritten: the header still says SQLite."""
    data = bytearray(database.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    data[page_size:] = b"\x5a" * (len(data) - page_size)
    to.write_bytes(bytes(data))
    return to


async def test_a_corrupt_sqlite_backup_fails_the_restore_step(
    sqlite_backup: Backup, restore_check: Check, scratch_root: Path, tmp_path: Path
) -> None:
    broken = corrupt_copy(sqlite_backup.folder / "app.db", tmp_path / "app.db")
    done = restore_check(str(broken), "--vectors", str(sqlite_backup.folder / "vectors.tar.gz"), "--question", QUESTION)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"FAIL  restore: {broken}: integrity_check: "), lines[0]
    assert lines[1:] == ["restore-check: FAILED"]
    assert scratch_folders(scratch_root) == [], "a failed check removes its scratch copy too"


async def test_an_sqlite_backup_a_newer_release_expanded_passes_as_ahead_compatible(
    sqlite_backup: Backup, restore_check: Check, scratch_root: Path, tmp_path: Path
) -> None:
    head = alembic_head()
    # Known by its header, not its name.
    newer_db = tmp_path / "backup-of-the-newer-release"
    shutil.copyfile(sqlite_backup.folder / "app.db", newer_db)
    newer = new_release(tmp_path / "newer-release", head, "expand")
    await asyncio.to_thread(alembic_by_hand, tmp_path, newer, f"sqlite+aiosqlite:///{newer_db}", "upgrade", "head")

    done = restore_check(
        str(newer_db),
        "--vectors",
        str(sqlite_backup.folder / "vectors.tar.gz"),
        "--question",
        QUESTION,
        "--expect-source",
        CHAPTER,
        "--keep",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[1].startswith(
        f"PASS  migrations: ahead_compatible: a newer release's schema that lists this release's head {head}, left as it is: revision {NEW_REVISION}; rows: "
    ), lines[1]
    assert lines[2].startswith("PASS  answer: ") and CHAPTER in lines[2]
    kept = Path(lines[-1].removeprefix("restore-check: PASSED (kept: ").removesuffix(")"))
    assert kept.parent in scratch_folders(scratch_root), lines[-1]
    with closing(sqlite3.connect(kept)) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(NEW_REVISION,)], (
            "left at the newer release's revision"
        )
        assert conn.execute("SELECT count(*) FROM messages").fetchone() == (2,), "the backup's turn, and the check's"
