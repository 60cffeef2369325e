"""The indexing API keys, each with a name for the logs: INDEXING_API_KEY (the key named "default"),
INDEXING_API_KEYS (`name:key,...`) and INDEXING_API_KEYS_FILE (`name:key` lines). With none of them, one
key is generated on first start and kept in DATA_DIR (mode 600), so `make run` works on a fresh machine
and prints it. Several keys at once make rotation possible: add the new key, switch the clients,
remove the old one (security/access.py reloads them without a restart)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

from src.kit.logging import get_logger
from src.kit.settings import Settings, is_weak_key, named_keys

log = get_logger(__name__)
KEY_FILE = "indexing_api_key"
DEFAULT_NAME = "default"


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


@dataclass(frozen=True)
class KeySet:
    """Named keys, held as SHA-256 digests: each check compares fixed-length values, in constant time."""

    digests: tuple[tuple[str, bytes], ...]

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.digests]

    def match(self, supplied: str) -> str | None:
        """The name of the key `supplied` is, or None. Every key is compared, whichever matches, so the time
        taken says neither which key matched nor how many leading characters were right."""
        if not supplied:
            return None
        candidate = _digest(supplied)
        found: str | None = None
        for name, digest in self.digests:
            if hmac.compare_digest(candidate, digest):
                found = name
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


def configured_keys(settings: Settings) -> dict[str, str]:
    """Every key the settings name, by name; reads INDEXING_API_KEYS_FILE. ValueError (naming the source,
    never a key) when an entry is malformed, a name is used twice, or a production key is weak."""
    keys: dict[str, str] = {}
    if settings.indexing_api_key is not None and settings.indexing_api_key.get_secret_value():
        keys[DEFAULT_NAME] = settings.indexing_api_key.get_secret_value()
    sources: list[tuple[str, str]] = []
    if settings.indexing_api_keys is not None:
        sources.append(("INDEXING_API_KEYS", settings.indexing_api_keys.get_secret_value()))
    if settings.indexing_api_keys_file is not None:
        try:
            sources.append((f"INDEXING_API_KEYS_FILE {settings.indexing_api_keys_file}", settings.indexing_api_keys_file.read_text()))
        except OSError as exc:
            raise ValueError(f"INDEXING_API_KEYS_FILE {settings.indexing_api_keys_file} cannot be read: {type(exc).__name__}") from None
    for source, text in sources:
        for name, key in named_keys(text, source).items():
            if name in keys:
                raise ValueError(f"{source}: the name {name!r} is already used (INDEXING_API_KEY is named {DEFAULT_NAME!r})")
            if key in keys.values():
                raise ValueError(f"{source}: {name!r} repeats another source's key")
            if settings.environment == "production" and is_weak_key(key):
                raise ValueError(f"{source}: {name!r} is weak for ENVIRONMENT=production (at least 32 random characters)")
            keys[name] = key
    if settings.indexing_api_keys_file is not None and not keys:
        raise ValueError(f"INDEXING_API_KEYS_FILE {settings.indexing_api_keys_file} holds no key, and no other key is set")
    return keys


def load_keys(settings: Settings) -> KeySet:
    """The configured keys, or the generated one (named "default") when none is configured."""
    keys = configured_keys(settings)
    if not keys:
        keys[DEFAULT_NAME], _ = _generated_key(settings)
    return KeySet(tuple((name, _digest(key)) for name, key in keys.items()))


def load_or_create_api_key(settings: Settings) -> tuple[str, Path | None]:
    """One key for local callers (the CLI): INDEXING_API_KEY, else the first named key, else the generated
    one; and the file it is kept in (None when it comes from the settings)."""
    if settings.indexing_api_key is not None and settings.indexing_api_key.get_secret_value():
        return settings.indexing_api_key.get_secret_value(), None
    named = configured_keys(settings)
    if named:
        return next(iter(named.values())), None
    return _generated_key(settings)
