"""Who may do what, reloaded without a restart: the indexing keys and the blocked client networks.

Sources: INDEXING_API_KEY, INDEXING_API_KEYS, BLOCKED_CLIENTS (the settings: environment and `.env`), and
INDEXING_API_KEYS_FILE, BLOCKED_CLIENTS_FILE. They are reloaded
- when a watched file changes: its mtime, size and inode are checked at most once a second, on the
  request path (one `stat` per file, which costs microseconds), and in every worker, so a file is the
  way to change keys or blocks under gunicorn without restarting it;
- on SIGHUP to the process: the files, and the settings again when the app read them from the
  environment (`create_app()` without settings). The process environment itself cannot change, so
  that re-reads `.env` (a variable set in the environment wins over `.env`). Under gunicorn the
  master answers HUP by starting new workers, which read everything afresh.

Each load (at start too) follows the same rules, and none stops the service:
- INDEXING_API_KEYS_FILE fails closed (security/keys.py): the lines that parse grant their keys, the others
  grant nothing, a missing or unreadable file grants nothing. The settings' keys stay valid.
- BLOCKED_CLIENTS_FILE fails towards blocking: the lines that parse block at once, and while the file is
  missing, unreadable or has a bad line, the blocks it held before stay in force too (a block is lifted by
  a clean edit). Failing "closed" for a blocklist would mean blocking everyone; dropping a bad line's block
  would let in the client an operator was blocking.
- Settings re-read on SIGHUP that do not validate leave the settings in force (one bad variable cannot be
  read apart from the others); the files are reloaded anyway, so a revocation by file still applies.
A load that refused something logs ACCESS_RELOAD_FAILED (error level, with the positions of the refused
entries, never a key) and sets `rag_access_reload_failed{source}` to 1 until a load of that source is clean;
readiness shows it in its body (`access`), without making the instance unready: a typo in a keys file must
not take every instance out of the load balancer while students read.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from pydantic import ValidationError

from src.kit.logging import get_logger
from src.kit.metrics import ACCESS_RELOAD_FAILED
from src.kit.request_context import IPNetwork, parse_address, parse_networks
from src.kit.settings import EntryError, Settings
from src.security.keys import FILE_SOURCE, KeySet, load_keys
from src.security.sources import SourceReport, read_source

log = get_logger(__name__)
CHECK_INTERVAL_SECONDS = 1.0
BLOCKS_SOURCE = "BLOCKED_CLIENTS_FILE"
SETTINGS_SOURCE = "settings"
FileSignature = tuple[int, int, int] | None


@dataclass(frozen=True)
class AccessRules:
    keys: KeySet
    blocked: tuple[IPNetwork, ...]
    file_blocked: tuple[IPNetwork, ...] = ()  # BLOCKED_CLIENTS_FILE's part of `blocked`
    reports: tuple[SourceReport, ...] = ()

    @property
    def failures(self) -> tuple[SourceReport, ...]:
        return tuple(r for r in self.reports if r.failed)

    def blocked_by(self, client: str) -> IPNetwork | None:
        """The blocked network `client` is in, if any."""
        address = parse_address(client)
        if address is None:
            return None
        return next(
            (network for network in self.blocked if address.version == network.version and address in network), None
        )


def _file_blocks(path: Path, before: tuple[IPNetwork, ...]) -> tuple[tuple[IPNetwork, ...], SourceReport]:
    """The networks the file blocks, and its report. While it cannot be read, or has a bad entry, the blocks
    it held `before` stay."""
    text = read_source(path, BLOCKS_SOURCE)
    if isinstance(text, SourceReport):
        return before, text
    found: list[IPNetwork] = []
    errors: list[EntryError] = []
    for number, line in enumerate(text.splitlines(), 1):
        for entry in line.split("#", 1)[0].split(","):
            try:
                found += parse_networks(entry, BLOCKS_SOURCE)
            except ValueError:
                errors.append(EntryError(f"line {number}", "not an IP address or CIDR", entry.strip()[:60]))
    if errors:
        return tuple(dict.fromkeys((*found, *before))), SourceReport(BLOCKS_SOURCE, "malformed", tuple(errors))
    return tuple(found), SourceReport(BLOCKS_SOURCE)


def load_rules(
    settings: Settings, previous: AccessRules | None = None, settings_report: SourceReport | None = None
) -> AccessRules:
    """The rules the settings and the files give now. A file's problems are in `reports`, never raised;
    `previous` holds the blocks a broken blocklist keeps in force."""
    reports = [] if settings_report is None else [settings_report]
    keys, keys_report = load_keys(settings)
    if keys_report is not None:
        reports.append(keys_report)
    file_blocked: tuple[IPNetwork, ...] = ()
    if settings.blocked_clients_file is not None:
        file_blocked, blocks_report = _file_blocks(
            settings.blocked_clients_file, previous.file_blocked if previous else ()
        )
        reports.append(blocks_report)
    blocked = tuple(dict.fromkeys((*parse_networks(settings.blocked_clients, "BLOCKED_CLIENTS"), *file_blocked)))
    return AccessRules(keys, blocked, file_blocked, tuple(reports))


def _reason(exc: ValueError | ValidationError) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())[:300]
    return str(exc)[:300]


def _signature(path: Path | None) -> FileSignature:
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return (-1, -1, -1)
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class AccessControl:
    """The rules in force. `current()` is what requests read; it swaps in new rules when a watched file changed."""

    def __init__(self, settings: Settings, settings_source: Callable[[], Settings] | None = None) -> None:
        """`settings_source` re-reads the settings on SIGHUP (the app passes it when its settings came
        from the environment); without it, SIGHUP re-reads the files only."""
        self.settings = settings
        self.settings_source = settings_source
        self._signatures = self._watched_signatures(settings)
        self.rules = load_rules(settings)
        self._announce(self.rules, "start")
        self._next_check = time.monotonic() + CHECK_INTERVAL_SECONDS
        self._lock = threading.Lock()
        self._previous_handler: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._installed = False
        self._pending: asyncio.Task[bool] | None = None

    @staticmethod
    def _watched_signatures(settings: Settings) -> tuple[FileSignature, FileSignature]:
        return _signature(settings.indexing_api_keys_file), _signature(settings.blocked_clients_file)

    def current(self) -> AccessRules:
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + CHECK_INTERVAL_SECONDS
            if self._watched_signatures(self.settings) != self._signatures:
                self.reload("file_changed")
        return self.rules

    def status(self) -> dict[str, Any]:
        """For the readiness body: whether every source loaded cleanly, and where the refused entries are."""
        failures = self.current().failures
        return {"status": "degraded" if failures else "ok", "failures": [r.public() for r in failures]}

    def reload(self, trigger: str, reread_settings: bool = False) -> bool:
        """Load the rules again (see the module docstring for what a bad source does). True when every source
        loaded cleanly."""
        with self._lock:
            settings = self.settings
            settings_report = next((r for r in self.rules.reports if r.source == SETTINGS_SOURCE), None)
            if reread_settings and self.settings_source is not None:
                try:
                    settings, settings_report = self.settings_source(), None
                except (ValueError, ValidationError) as exc:
                    # ValidationError hides the input (hide_input_in_errors); ValueError messages never carry a key.
                    where = (
                        ", ".join(".".join(map(str, e["loc"])) or "settings" for e in exc.errors())
                        if isinstance(exc, ValidationError)
                        else "settings"
                    )
                    invalid = (EntryError("environment and .env", f"does not validate: {where}"),)
                    settings_report = SourceReport(SETTINGS_SOURCE, "invalid", invalid, _reason(exc))
            # Taken before the files are read: an edit made while they are read is seen at the next check.
            signatures = self._watched_signatures(settings)
            rules = load_rules(settings, self.rules, settings_report)
            self.settings, self._signatures, self.rules = settings, signatures, rules
        self._announce(rules, trigger)
        return not rules.failures

    @staticmethod
    def _announce(rules: AccessRules, trigger: str) -> None:
        failed = {r.source for r in rules.failures}
        for source in (FILE_SOURCE, BLOCKS_SOURCE, SETTINGS_SOURCE):
            ACCESS_RELOAD_FAILED.labels(source).set(1 if source in failed else 0)
        blocked = [str(n) for n in rules.blocked]
        if rules.failures:
            error = "; ".join(r.described() for r in rules.failures)
            log.error(
                "ACCESS_RELOAD_FAILED",
                trigger=trigger,
                error=error,
                sources=sorted(failed),
                keys=rules.keys.names,
                blocked=blocked,
            )
        elif trigger != "start":
            log.warning("ACCESS_RELOADED", trigger=trigger, keys=rules.keys.names, blocked=blocked)

    # --- SIGHUP ----------------------------------------------------------------------------------------

    def install_sighup(self) -> bool:
        """Reload on SIGHUP, from the lifespan (servers install their own handlers before it, and none
        takes SIGHUP, whose default action would end the process). Not where no loop runs on the main thread."""
        if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGHUP"):
            return False
        self._loop = asyncio.get_running_loop()
        self._previous_handler = signal.signal(signal.SIGHUP, self._on_sighup)
        self._installed = True
        return True

    def uninstall_sighup(self) -> None:
        if (
            self._installed
            and threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGHUP) == self._on_sighup
        ):
            signal.signal(
                signal.SIGHUP, self._previous_handler if self._previous_handler is not None else signal.SIG_DFL
            )
        self._installed = False

    def _on_sighup(self, signum: int, frame: FrameType | None) -> None:
        # A signal handler: schedule the reload on the loop, in a fresh context (not the interrupted request's).
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._start_reload, context=contextvars.Context())
        if callable(self._previous_handler):
            self._previous_handler(signum, frame)

    def _start_reload(self) -> None:
        log.info("ACCESS_RELOAD_SIGNAL", signal="SIGHUP")
        # Files and `.env` are read in a thread, off the loop.
        self._pending = asyncio.get_running_loop().create_task(
            asyncio.to_thread(self.reload, "sighup", True), name="access-reload"
        )
