"""scripts/backup.sh against the real PostgreSQL and a real embedded vector store: settings come from the
service's environment file (quoted or not, with the service's asyncpg URL), the dump is complete and the
archive holds the store; backups older than the retention are deleted after a good run, and a failed run
leaves no backup and deletes nothing."""

from __future__ import annotations

import asyncio
import gzip
import os
import subprocess
import tarfile
import time
from pathlib import Path

from src.db.migrations import run_migrations
from src.retrieval.store.embedded import EmbeddedStore
from tests.conftest import REPO

SCRIPT = REPO / "scripts" / "backup.sh"
DAY = 24 * 3600


def run_backup(env_file: Path, backups: Path, retention_days: int = 14) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEON_", "DATABASE_URL", "QDRANT_", "DATA_DIR"))}
    env |= {"RAG_ENV_FILE": str(env_file), "BACKUP_DIR": str(backups), "BACKUP_RETENTION_DAYS": str(retention_days), "SERVICE_UNIT": ""}
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=300, check=False)


def aged(folder: Path, days: float) -> Path:
    folder.mkdir(parents=True)
    stamp = time.time() - days * DAY
    os.utime(folder, (stamp, stamp))
    return folder


async def test_backup_dumps_the_database_archives_the_store_and_keeps_the_retention(tmp_path: Path, pg_url: str) -> None:
    await asyncio.to_thread(run_migrations, pg_url)
    data = tmp_path / "service" / "data"
    store = EmbeddedStore(data / "qdrant", 384)
    store.ensure_collection()
    store.close()
    env_file = tmp_path / "service" / ".env"
    service_url = pg_url.replace("postgresql://", "postgresql+asyncpg://")
    env_file.write_text(f'# the service\'s settings\nDATABASE_URL="{service_url}"\nDATA_DIR=./data\n')
    backups = tmp_path / "backups"
    old = aged(backups / "rag-backend-20200101_020000", 20)
    young = aged(backups / "rag-backend-20200110_020000", 13)
    unrelated = aged(backups / "notes", 400)

    done = run_backup(env_file, backups)
    assert done.returncode == 0, done.stderr
    made = Path(done.stdout.strip())
    assert made.parent == backups and made.name.startswith("rag-backend-")
    with gzip.open(made / "database.sql.gz", "rt") as dump:
        sql = dump.read()
    assert "CREATE TABLE public.messages" in sql and "alembic_version" in sql and "PostgreSQL database dump complete" in sql
    assert "OWNER TO" not in sql, "--no-owner: the dump restores into a database owned by anyone"
    with tarfile.open(made / "vectors.tar.gz") as archive:
        names = archive.getnames()
    assert "qdrant" in names and any(n.startswith("qdrant/") for n in names)
    assert not old.exists(), "older than the retention: deleted"
    assert young.exists() and unrelated.exists()


async def test_a_failed_backup_leaves_nothing_and_deletes_nothing(tmp_path: Path, pg_url: str) -> None:
    env_file = tmp_path / ".env"
    # A database that does not exist: pg_dump fails.
    env_file.write_text(f"NEON_DB_URL={pg_url}_missing\nDATA_DIR={tmp_path / 'data'}\n")
    backups = tmp_path / "backups"
    old = aged(backups / "rag-backend-20200101_020000", 30)
    done = run_backup(env_file, backups)
    assert done.returncode != 0
    assert "does not exist" in done.stderr
    assert sorted(p.name for p in backups.iterdir()) == [old.name], "no partial backup left, the old one kept"


def test_the_retention_must_be_a_number_of_days(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("DATA_DIR=./data\n")
    done = run_backup(env_file, tmp_path / "backups", retention_days=0)
    assert done.returncode == 1 and "BACKUP_RETENTION_DAYS" in done.stderr
