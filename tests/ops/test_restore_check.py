"""`python -m src.cli restore-check` on a backup made by scripts/backup.sh: the service indexes a chapter of
the book on the real PostgreSQL and the embedded vector store, and answers a question (a recorded turn);
the backup is restored into a scratch database that the check creates and drops, its migrations are
checked, and the known question is answered from the restored pair with a citation of the chapter. A
corrupt dump and an answer that does not cite the expected file fail, each with its step named."""

from __future__ import annotations

import asyncio
import gzip
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest

from src.db.migrations import run_migrations
from tests.conftest import PG_ADMIN_URL, REPO, auth, env_for, make_settings, running_app, shared_path
from tests.scripts.test_backup import run_backup

CHAPTER = "docs/02-humanoid-robotics/index.md"
QUESTION = "What is the Zero Moment Point?"
Check = Callable[..., subprocess.CompletedProcess[str]]


async def scratch_databases() -> set[str]:
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        return {r[0] for r in await admin.fetch("SELECT datname FROM pg_database WHERE datname LIKE 'rag_restore_check_%'")}
    finally:
        await admin.close()


@pytest.fixture
async def backup(tmp_path: Path, pg_url: str) -> Path:
    """A backup (scripts/backup.sh) of a service that has indexed a chapter and answered once."""
    await asyncio.to_thread(run_migrations, pg_url)
    service = tmp_path / "service"
    settings = make_settings(service, database_url=pg_url)
    async with running_app(settings) as (_, client):
        text = shared_path("data", "textbooks", "physical-ai", CHAPTER).read_text()
        indexed = await client.post("/api/v1/index", json={"content": text, "metadata": {"source_file": CHAPTER}}, headers=auth())
        assert indexed.status_code == 200, indexed.text
        answered = await client.post("/api/v1/answer", json={"question": QUESTION})
        assert answered.status_code == 200 and not answered.json()["refused"], answered.text
    env_file = service / ".env"
    env_file.write_text(f"DATABASE_URL={pg_url}\nDATA_DIR={settings.data_dir}\n")
    done = run_backup(env_file, tmp_path / "backups")
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip())


@pytest.fixture
def restore_check(tmp_path: Path) -> Check:
    settings = make_settings(tmp_path / "checker")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "src.cli", "restore-check", *args, "--server-url", PG_ADMIN_URL]
        return subprocess.run(command, cwd=REPO, env=env_for(settings), capture_output=True, text=True, timeout=300, check=False)

    return run


async def test_a_backup_restores_and_answers_the_known_question(backup: Path, restore_check: Check) -> None:
    before = await scratch_databases()
    done = restore_check(str(backup / "database.sql.gz"), "--vectors", str(backup / "vectors.tar.gz"), "--question", QUESTION, "--expect-source", CHAPTER)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("PASS  restore: ")
    assert lines[1].startswith("PASS  migrations: at head") and "indexed_documents 1" in lines[1] and "messages 1" in lines[1]
    assert lines[2].startswith("PASS  answer: ") and CHAPTER in lines[2]
    assert lines[-1] == "restore-check: PASSED"
    assert await scratch_databases() == before, "the scratch database is dropped"


async def test_a_corrupt_dump_or_a_wrong_answer_fails_the_check(backup: Path, restore_check: Check, tmp_path: Path) -> None:
    before = await scratch_databases()
    with gzip.open(backup / "database.sql.gz", "rt") as dump:
        sql = dump.read()
    broken = tmp_path / "broken.sql.gz"
    with gzip.open(broken, "wt") as out:
        out.write(sql.replace("CREATE TABLE public.messages", "CREATE TABLE public.messages public.messages", 1))
    done = restore_check(str(broken), "--vectors", str(backup / "vectors.tar.gz"), "--question", QUESTION)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.splitlines()[0].startswith("FAIL  restore: ") and "syntax error" in done.stdout
    assert done.stdout.splitlines()[-1] == "restore-check: FAILED"

    elsewhere = "docs/99-not-in-the-book/index.md"
    done = restore_check(str(backup / "database.sql.gz"), "--vectors", str(backup / "vectors.tar.gz"), "--question", QUESTION, "--expect-source", elsewhere)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"FAIL  answer: {elsewhere} is not cited" in done.stdout
    assert await scratch_databases() == before, "a failed check drops its scratch database too"
