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

A reload that fails (a malformed entry, an unreadable file) keeps the rules in force and logs
ACCESS_RELOAD_FAILED: a typo never locks every client out, nor lets everyone in.
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
from src.kit.request_context import IPNetwork, parse_address, parse_networks
from src.kit.settings import Settings
from src.security.keys import KeySet, load_keys

log = get_logger(__name__)
CHECK_INTERVAL_SECONDS = 1.0
FileSignature = tuple[int, int, int] | None


@dataclass(frozen=True)
class AccessRules:
    keys: KeySet
    blocked: tuple[IPNetwork, ...]

    def blocked_by(self, client: str) -> IPNetwork | None:
        """The blocked network `client` is in, if any."""
        address = parse_address(client)
        if address is None:
            return None
        return next((network for network in self.blocked if address.version == network.version and address in network), None)


def load_rules(settings: Settings) -> AccessRules:
    """Raise ValueError (naming the source, never a key) when a source is malformed."""
    blocked = parse_networks(settings.blocked_clients, "BLOCKED_CLIENTS")
    if settings.blocked_clients_file is not None:
        try:
            text = settings.blocked_clients_file.read_text()
        except OSError as exc:
            raise ValueError(f"BLOCKED_CLIENTS_FILE {settings.blocked_clients_file} cannot be read: {type(exc).__name__}") from None
        blocked += parse_networks(text, f"BLOCKED_CLIENTS_FILE {settings.blocked_clients_file}")
    return AccessRules(load_keys(settings), blocked)


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
        self.rules = load_rules(settings)  # at start a bad source stops the service (fail fast)
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

    def reload(self, trigger: str, reread_settings: bool = False) -> bool:
        """Load the rules again; keep the ones in force (and log why) when the new ones do not load."""
        with self._lock:
            settings = self.settings
            try:
                if reread_settings and self.settings_source is not None:
                    settings = self.settings_source()
                signatures = self._watched_signatures(settings)
                rules = load_rules(settings)
            except (ValueError, ValidationError) as exc:
                # ValidationError hides the input (hide_input_in_errors); ValueError messages never carry a key.
                self._signatures = self._watched_signatures(settings)  # do not retry the same broken file every second
                log.error("ACCESS_RELOAD_FAILED", trigger=trigger, error=_reason(exc), kept_keys=self.rules.keys.names)
                return False
            self.settings, self._signatures, self.rules = settings, signatures, rules
        log.warning("ACCESS_RELOADED", trigger=trigger, keys=rules.keys.names, blocked=[str(n) for n in rules.blocked])
        return True

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
        if self._installed and threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGHUP) == self._on_sighup:
            signal.signal(signal.SIGHUP, self._previous_handler if self._previous_handler is not None else signal.SIG_DFL)
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
        self._pending = asyncio.get_running_loop().create_task(asyncio.to_thread(self.reload, "sighup", True), name="access-reload")
