"""The restored vector store: the embedded engine's snapshot unpacked into a scratch DATA_DIR, removed afterwards."""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from src.ops.restore.scratch import SCRATCH_FOLDER_PREFIX


class UnusableSnapshot(RuntimeError):
    """The vector snapshot cannot be unpacked into a store: a FAIL line of the check, not a traceback."""


@contextmanager
def scratch_data_dir(vectors: Path | None) -> Iterator[Path | None]:
    """A DATA_DIR holding `vectors` (scripts/backup.sh's vectors.tar.gz) unpacked, or None without a snapshot."""
    if vectors is None:
        yield None
        return
    folder = Path(tempfile.mkdtemp(prefix=SCRATCH_FOLDER_PREFIX))
    try:
        try:
            with tarfile.open(vectors) as archive:
                archive.extractall(folder, filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise UnusableSnapshot(f"{vectors} cannot be unpacked: {exc}") from exc
        if not (folder / "qdrant").is_dir():
            raise UnusableSnapshot(f"{vectors} holds no qdrant/ folder")
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
