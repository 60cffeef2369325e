"""The scratch copy of a PostgreSQL dump: a new database on a server, loaded with psql and dropped afterwards."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import URL, make_url

from src.kit.db import asyncpg_url, engine_dsn, libpq_url, with_database

if TYPE_CHECKING:
    from _typeshed import SupportsRead

SCRATCH_PREFIX = "rag_restore_check_"


def psql(url: str, *args: str, stdin: SupportsRead[bytes] | None = None) -> None:
    """Run psql, stopping at the first error; raise RuntimeError with its last message."""
    # The password goes to psql in its environment: on the command line `ps` would show it to every local user.
    parsed = make_url(url)
    env = {**os.environ, "PGPASSWORD": parsed.password} if parsed.password else None
    bare = URL.create(parsed.drivername, parsed.username, None, parsed.host, parsed.port, parsed.database, parsed.query)
    command = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", bare.render_as_string(), *args]
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            env=env,
        )
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
    psql(libpq_url(server_url), "-c", statement)


@dataclass(frozen=True)
class PostgresScratch:
    server: str
    name: str
    url: str  # libpq's (psql's)

    @classmethod
    def on(cls, server: str | None) -> PostgresScratch:
        """A scratch database, not made yet, on `server` (any PostgreSQL DSN); ValueError without one."""
        if not server:
            raise ValueError("no PostgreSQL server: pass --server-url or set NEON_DB_URL / DATABASE_URL")
        try:
            server_libpq = libpq_url(engine_dsn(server))  # postgres:// and sslmode= as operators write them
        except ValueError:
            raise ValueError(f"the restore check needs PostgreSQL, not {make_url(server).drivername}") from None
        name = SCRATCH_PREFIX + uuid.uuid4().hex[:12]
        return cls(server, name, with_database(server_libpq, name))

    @property
    def label(self) -> str:
        return self.name

    @property
    def database_url(self) -> str:
        return asyncpg_url(self.url)

    def create(self) -> None:
        _admin(self.server, f'CREATE DATABASE "{self.name}"')

    def restore(self, dump: Path) -> str:
        with gzip.open(dump, "rb") if dump.name.endswith(".gz") else dump.open("rb") as sql:
            psql(self.url, stdin=sql)
        return f"{dump} into {self.name}"

    def remove(self) -> None:
        _admin(self.server, f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
