"""scripts/backup.sh against the real PostgreSQL and a real embedded vector store: settings come from the
service's environment file (quoted or not, with the service's asyncpg URL), the dump is complete and the
archive holds the store; backups older than the retention are deleted after a good run, and a failed run
leaves no backup and deletes nothing. The database password and the Qdrant API key never appear on a
command line (every local user can read those): each program the script runs records its own."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import shlex
import shutil
import subprocess
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

from src.db.migrations import run_migrations
from src.retrieval.store.embedded import EmbeddedStore
from tests.conftest import REPO

SCRIPT = REPO / "scripts" / "backup.sh"
DAY = 24 * 3600


def run_backup(env_file: Path, backups: Path, retention_days: int = 14) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEON_", "DATABASE_URL", "QDRANT_", "DATA_DIR"))}
    env |= {
        "RAG_ENV_FILE": str(env_file),
        "BACKUP_DIR": str(backups),
        "BACKUP_RETENTION_DAYS": str(retention_days),
        "SERVICE_UNIT": "",
    }
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=300, check=False)


def aged(folder: Path, days: float) -> Path:
    folder.mkdir(parents=True)
    stamp = time.time() - days * DAY
    os.utime(folder, (stamp, stamp))
    return folder


async def test_backup_dumps_the_database_archives_the_store_and_keeps_the_retention(
    tmp_path: Path, pg_url: str
) -> None:
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
    assert (
        "CREATE TABLE public.messages" in sql
        and "alembic_version" in sql
        and "PostgreSQL database dump complete" in sql
    )
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


# --- secrets stay off command lines ---------------------------------------------------------------------

PASSWORD = "pg-Pa55:w/rd@x\\"  # a ':' and a '\' to escape in the password file, a '/' and an '@' to decode from the URL
QDRANT_KEY = "qdrant-key-" + "7f3a9c" * 6
SNAPSHOT = b"a Qdrant snapshot's bytes"
# Every program backup.sh runs, so that each records its command line.
WATCHED = (
    "pg_dump",
    "curl",
    "python3",
    "sed",
    "gzip",
    "zcat",
    "tail",
    "grep",
    "tar",
    "du",
    "cut",
    "find",
    "mkdir",
    "mv",
    "rm",
    "date",
    "dirname",
    "mktemp",
)


def recording_shims(folder: Path, calls: Path, passfiles: Path) -> None:
    """A PATH folder where each watched program appends its command line to `calls` before running the real
    one; pg_dump also copies the password file it is given (PGPASSFILE), to show the password still reaches
    it, and writes down where that file was."""
    folder.mkdir()
    for name in WATCHED:
        real = shutil.which(name)
        assert real, name
        where = shlex.quote(str(passfiles.with_suffix(".where")))
        copy = f'[ -z "$PGPASSFILE" ] || {{ cat "$PGPASSFILE" >> {shlex.quote(str(passfiles))}; printf "%s" "$PGPASSFILE" > {where}; }}\n'
        copy = copy if name == "pg_dump" else ""
        (folder / name).write_text(
            f'#!/bin/sh\nprintf "%s\\n" "--- $0" "$@" >> {shlex.quote(str(calls))}\n{copy}exec {shlex.quote(real)} "$@"\n'
        )
        (folder / name).chmod(0o755)


class FakeQdrantSnapshotServer(ThreadingHTTPServer):
    """Stands in for a Qdrant server's snapshot API (no Qdrant server runs here): create, download and delete
    a snapshot of a collection, each refused with 401 without the right api-key header; it records the keys."""

    def __init__(self, key: str) -> None:
        self.key, self.keys_seen = key, []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def answer(self, body: bytes, content_type: str = "application/json") -> None:
                server.keys_seen.append(self.headers.get("api-key"))
                if self.headers.get("api-key") != server.key:
                    self.send_response(401)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                self.answer(json.dumps({"result": {"name": "snap-1.snapshot"}}).encode())

            def do_GET(self) -> None:
                self.answer(SNAPSHOT, "application/octet-stream")

            def do_DELETE(self) -> None:
                self.answer(b'{"result": true}')

        super().__init__(("127.0.0.1", 0), Handler)


async def test_no_password_or_api_key_reaches_a_command_line(tmp_path: Path, pg_url: str) -> None:
    await asyncio.to_thread(run_migrations, pg_url)
    # The local server trusts loopback: the password is accepted and ignored, and what matters is where it travels.
    with_password = pg_url.replace(
        "postgresql://postgres@", f"postgresql+asyncpg://postgres:{quote(PASSWORD, safe='')}@"
    )
    assert PASSWORD not in with_password and with_password != pg_url
    qdrant = FakeQdrantSnapshotServer(QDRANT_KEY)
    threading.Thread(target=qdrant.serve_forever, daemon=True).start()
    try:
        env_file = tmp_path / ".env"
        env_file.write_text(
            f'DATABASE_URL="{with_password}"\nQDRANT_URL=http://127.0.0.1:{qdrant.server_address[1]}\nQDRANT_API_KEY={QDRANT_KEY}\n'
        )
        calls, passfiles = tmp_path / "calls.txt", tmp_path / "passfiles.txt"
        recording_shims(tmp_path / "shims", calls, passfiles)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("NEON_", "DATABASE_URL", "QDRANT_", "DATA_DIR", "PG"))
        }
        env |= {
            "RAG_ENV_FILE": str(env_file),
            "BACKUP_DIR": str(tmp_path / "backups"),
            "SERVICE_UNIT": "",
            "PATH": f"{tmp_path / 'shims'}:{env['PATH']}",
        }
        done = await asyncio.to_thread(
            subprocess.run, ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=300, check=False
        )
    finally:
        qdrant.shutdown()
        qdrant.server_close()
    assert done.returncode == 0, done.stderr
    made = Path(done.stdout.strip())
    with gzip.open(made / "database.sql.gz", "rt") as dump:
        assert "PostgreSQL database dump complete" in dump.read()
    assert (made / "vectors.snapshot").read_bytes() == SNAPSHOT

    recorded = calls.read_text()
    assert recorded.count("/pg_dump\n") == 1 and recorded.count("/curl\n") == 3, recorded
    for secret in (PASSWORD, quote(PASSWORD, safe=""), quote(PASSWORD), QDRANT_KEY):
        assert secret not in recorded, f"a secret on a command line:\n{recorded}"
        assert secret not in done.stderr + done.stdout
    # Still delivered: the password in pg_dump's password file (escaped as .pgpass wants), the key to every call.
    assert passfiles.read_text() == "*:*:*:*:pg-Pa55\\:w/rd@x\\\\\n"
    assert qdrant.keys_seen == [QDRANT_KEY] * 3
    # And gone with the run: the private folder that held them is removed.
    passfile = Path(passfiles.with_suffix(".where").read_text())
    assert not passfile.parent.exists(), list(passfile.parent.iterdir())
