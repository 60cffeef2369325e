"""The indexing API keys, each with a name for the logs and its scopes: INDEXING_API_KEY (the admin key named
"default"), INDEXING_API_KEYS (`name:key[:scopes],...`) and INDEXING_API_KEYS_FILE (`name:key[:scopes]`
lines); the syntax and the scopes are in kit/settings.py. With none of them, one key is generated on first
start and kept in DATA_DIR (mode 600), so `make run` works on a fresh machine and prints it. Several keys at
once make rotation possible: add the new key, switch the clients, remove the old one (security/access.py
reloads them without a restart).

The file fails closed: what it holds now is what it grants. A line that does not parse (or has a weak key, or
shares a name or a key with another) grants nothing while the others load; a missing file grants nothing.
Neither stops the service, at start or on a reload: the failure is reported (security/sources.py) and the
keys set in the settings stay valid. Under gunicorn a worker that fails to boot halts the whole server, so a
start that failed on the file would turn a revocation (the file deleted) into an outage at the next worker
restart."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

from src.kit.logging import get_logger
from src.kit.settings import DEFAULT_KEY_NAME, DEFAULT_SCOPES, EntryError, KeyEntry, Scope, Settings, parse_key_entries
from src.security.sources import SourceReport, read_source

log = get_logger(__name__)
KEY_FILE = "indexing_api_key"
FILE_SOURCE = "INDEXING_API_KEYS_FILE"


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


@dataclass(frozen=True)
class Grant:
    """Who a key is, and what it may do."""

    name: str
    scopes: frozenset[Scope]

    def allows(self, scope: Scope) -> bool:
        return "admin" in self.scopes or scope in self.scopes


@dataclass(frozen=True)
class KeySet:
    """Named keys, held as SHA-256 digests: each check compares fixed-length values, in constant time."""

    digests: tuple[tuple[Grant, bytes], ...]

    @property
    def names(self) -> list[str]:
        return [grant.name for grant, _ in self.digests]

    def match(self, supplied: str) -> Grant | None:
        """The key `supplied` is, or None. Every key is compared, whichever matches, so the time taken says
        neither which key matched nor how many leading characters were right."""
        if not supplied:
            return None
        candidate = _digest(supplied)
        found: Grant | None = None
        for grant, digest in self.digests:
            if hmac.compare_digest(candidate, digest):
                found = grant
        return found


def _generated_key(settings: Settings) -> tuple[str, Path]:
    path = settings.data_dir / KEY_FILE
    if path.exists():
        return path.read_text().strip(), path
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    path.touch(mode=0o600)
    path.write_text(key + "\n")
    log.warning("INDEXING_API_KEY_GENERATED", path=str(path), hint="set INDEXING_API_KEY to choose your own")
    return key, path


def _settings_keys(settings: Settings) -> list[KeyEntry]:
    """INDEXING_API_KEY and INDEXING_API_KEYS, which the settings validated (they refuse to load otherwise)."""
    found: list[KeyEntry] = []
    if settings.indexing_api_key is not None and settings.indexing_api_key.get_secret_value():
        found.append(
            KeyEntry(DEFAULT_KEY_NAME, settings.indexing_api_key.get_secret_value(), DEFAULT_SCOPES, "INDEXING_API_KEY")
        )
    if settings.indexing_api_keys is not None:
        found += parse_key_entries(
            settings.indexing_api_keys.get_secret_value(), settings.environment != "test", by_line=False
        )[0]
    return found


def _file_keys(path: Path, settings: Settings, taken: list[KeyEntry]) -> tuple[list[KeyEntry], SourceReport]:
    """The file's valid entries, and its report. An entry that reuses a name or a key of the settings is refused."""
    text = read_source(path, FILE_SOURCE)
    if isinstance(text, SourceReport):
        return [], text
    entries, errors = parse_key_entries(text, settings.environment != "test", by_line=True)
    names, keys = {e.name for e in taken}, {e.key for e in taken}
    clashing = [e for e in entries if e.name in names or e.key in keys]
    errors += [
        EntryError(e.position, "the name or the key of INDEXING_API_KEY or INDEXING_API_KEYS", e.name) for e in clashing
    ]
    errors.sort(key=lambda e: [int(n) for n in e.position.split() if n.isdigit()])
    kept = [e for e in entries if e not in clashing]
    return kept, SourceReport(FILE_SOURCE, "malformed" if errors else "ok", tuple(errors))


def configured_keys(settings: Settings) -> tuple[list[KeyEntry], SourceReport | None]:
    """Every valid key the settings and the file name, and the file's report (None without a file)."""
    keys = _settings_keys(settings)
    if settings.indexing_api_keys_file is None:
        return keys, None
    from_file, report = _file_keys(settings.indexing_api_keys_file, settings, keys)
    return keys + from_file, report


def _nothing_configured(settings: Settings) -> bool:
    named = settings.indexing_api_keys.get_secret_value().strip() if settings.indexing_api_keys is not None else ""
    single = settings.indexing_api_key.get_secret_value() if settings.indexing_api_key is not None else ""
    return not single and not named and settings.indexing_api_keys_file is None


def load_keys(settings: Settings) -> tuple[KeySet, SourceReport | None]:
    """The valid keys, or the generated one (an admin key named "default") when no key source is configured.
    A configured source that holds no valid key leaves the set empty: every authoring request gets 401."""
    keys, report = configured_keys(settings)
    if not keys and _nothing_configured(settings):
        generated, _ = _generated_key(settings)
        keys = [KeyEntry(DEFAULT_KEY_NAME, generated, DEFAULT_SCOPES, str(settings.data_dir / KEY_FILE))]
    return KeySet(tuple((Grant(e.name, e.scopes), _digest(e.key)) for e in keys)), report


def load_or_create_api_key(settings: Settings) -> tuple[str, Path | None]:
    """One key for local callers (the CLI): INDEXING_API_KEY, else the first admin key, else the first
    valid key, else the generated one when no key source is configured; and the file it is kept in (None
    when it comes from the settings or INDEXING_API_KEYS_FILE). ValueError when the configured sources hold
    no valid key."""
    keys, report = configured_keys(settings)
    if keys:
        chosen = next((e for e in keys if "admin" in e.scopes), keys[0])
        return chosen.key, None
    if _nothing_configured(settings):
        return _generated_key(settings)
    raise ValueError(
        f"no valid indexing key: {report.described() if report is not None else 'INDEXING_API_KEYS holds none'}"
    )
