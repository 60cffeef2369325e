"""The indexing API key: INDEXING_API_KEY from the environment, or one generated on first start and
kept in DATA_DIR (mode 600), so `make run` works on a fresh machine and prints it."""

from __future__ import annotations

import secrets
from pathlib import Path

from src.kit.logging import get_logger
from src.kit.settings import Settings

log = get_logger(__name__)
KEY_FILE = "indexing_api_key"


def load_or_create_api_key(settings: Settings) -> tuple[str, Path | None]:
    """The key, and the file it is kept in (None when it comes from the environment)."""
    if settings.indexing_api_key is not None and settings.indexing_api_key.get_secret_value():
        return settings.indexing_api_key.get_secret_value(), None
    path = settings.data_dir / KEY_FILE
    if path.exists():
        return path.read_text().strip(), path
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    path.touch(mode=0o600)
    path.write_text(key + "\n")
    log.warning("INDEXING_API_KEY_GENERATED", path=str(path), hint="set INDEXING_API_KEY to choose your own")
    return key, path
