"""How one source of the access rules loaded (INDEXING_API_KEYS_FILE, BLOCKED_CLIENTS_FILE, or the settings
re-read on SIGHUP): its status and the entries it refused, by position. Readiness shows the positions and
reasons (the body is public), the log adds the names of refused keys; no report ever holds a key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from src.kit.settings import EntryError

# ok; missing (the file is gone); unreadable (permissions, a directory...); malformed (some entries refused);
# invalid (the settings re-read on SIGHUP do not validate, so the ones in force stay).
Status = Literal["ok", "missing", "unreadable", "malformed", "invalid"]


@dataclass(frozen=True)
class SourceReport:
    source: str
    status: Status = "ok"
    errors: tuple[EntryError, ...] = ()
    detail: str = ""  # for the log only: the file's path, or the settings' validation message (it may name keys)

    @property
    def failed(self) -> bool:
        return self.status != "ok"

    def public(self) -> dict[str, Any]:
        """For the readiness body: positions and reasons only (no key names, no paths)."""
        return {
            "source": self.source,
            "status": self.status,
            "errors": [f"{e.position}: {e.reason}" for e in self.errors],
        }

    def described(self) -> str:
        """For the log: what failed, with the names of refused keys (never a key)."""
        return (
            f"{self.source}: {self.status}"
            + "".join(f"; {e}" for e in self.errors)
            + (f" ({self.detail})" if self.detail else "")
        )


def read_source(path: Path, source: str) -> str | SourceReport:
    """The file's text, or the report of why it cannot be read (the path in its detail: the log's, not readiness's)."""
    try:
        return path.read_text()
    except FileNotFoundError:
        return SourceReport(source, "missing", (EntryError("file", "it does not exist"),), str(path))
    except (OSError, UnicodeDecodeError) as exc:
        return SourceReport(
            source, "unreadable", (EntryError("file", f"it cannot be read ({type(exc).__name__})"),), str(path)
        )
