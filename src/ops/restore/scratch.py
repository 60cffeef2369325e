"""Where a backup is restored: the contract of a scratch copy, which the check creates and removes."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

# The scratch folders' names (the SQLite copy's, the unpacked vectors'), under the temporary directory.
SCRATCH_FOLDER_PREFIX = "rag-restore-check-"


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
