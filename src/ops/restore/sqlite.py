"""The scratch copy of an SQLite backup: the file copied into a new folder, which must pass integrity_check."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import uuid
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from src.kit.db import sqlite_url
from src.ops.restore.scratch import SCRATCH_FOLDER_PREFIX

SQLITE_HEADER = b"SQLite format 3\x00"


def is_sqlite_file(path: Path) -> bool:
    """Whether `path` is an SQLite database (scripts/backup.sh's `app.db`), by its header, not its name."""
    with path.open("rb") as file:
        return file.read(len(SQLITE_HEADER)) == SQLITE_HEADER


def integrity_problems(path: Path) -> list[str]:
    """What `PRAGMA integrity_check` finds wrong with the SQLite database at `path` (nothing: [])."""
    try:
        with closing(sqlite3.connect(path)) as conn:
            found = [str(row[0]) for row in conn.execute("PRAGMA integrity_check")]
    except sqlite3.DatabaseError as exc:  # a page it cannot even read: "database disk image is malformed"
        return [str(exc)]
    return [] if found == ["ok"] else found


@dataclass(frozen=True)
class SQLiteScratch:
    folder: Path

    @classmethod
    def new(cls) -> SQLiteScratch:
        """A scratch folder, not made yet, under the temporary directory."""
        return cls(Path(tempfile.gettempdir()) / (SCRATCH_FOLDER_PREFIX + uuid.uuid4().hex[:12]))

    @property
    def path(self) -> Path:
        return self.folder / "app.db"

    @property
    def label(self) -> str:
        return str(self.path)

    @property
    def database_url(self) -> str:
        return sqlite_url(self.path)

    def create(self) -> None:
        self.folder.mkdir(mode=0o700)

    def restore(self, dump: Path) -> str:
        # A copy: the engine switches it to WAL and the migrations rewrite it; the backup stays as it was.
        shutil.copyfile(dump, self.path)
        problems = integrity_problems(self.path)
        if problems:
            raise RuntimeError("integrity_check: " + "; ".join(problems[:5]))
        return f"{dump} copied to {self.path}, integrity_check ok"

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
