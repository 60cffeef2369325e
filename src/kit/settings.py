"""Typed settings: one class, read from the environment (and `.env`), validated at start.

`Settings` gathers its fields by area, from the classes in storage_settings.py, security_settings.py and
pipeline_settings.py; what spans areas (the keys' strength, which needs the environment; paths under DATA_DIR)
is checked and derived here.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from src.kit.db import sqlite_url
from src.kit.pipeline_settings import AnswerSettings, DocumentSettings, RetrievalSettings
from src.kit.security_settings import SecuritySettings
from src.kit.storage_settings import StorageSettings

VERSION = "0.1.0"

# --- The indexing keys' rules (read by security/keys.py; here so the settings can refuse bad keys at start) ---
# `name:key` or `name:key:scopes` entries, in INDEXING_API_KEYS (comma-separated) and INDEXING_API_KEYS_FILE
# (lines). Scopes: `index` (/api/v1/index*), `analytics` (/api/v1/analytics*), `admin` (everything), joined
# by '+' (`jane:KEY:index+analytics`); none means admin, as every key meant before scopes. INDEXING_API_KEY
# is the admin key named "default". Outside ENVIRONMENT=test every key must be strong.
Scope = Literal["index", "analytics", "admin"]
SCOPES: tuple[Scope, ...] = ("index", "analytics", "admin")
DEFAULT_SCOPES: frozenset[Scope] = frozenset({"admin"})  # of a key given without scopes
DEFAULT_KEY_NAME = "default"
WEAK_KEYS = {"", "changeme", "change-me", "secret", "password", "test", "dev", "your-api-key"}
MIN_KEY_LENGTH = 32
KEY_HINT = f"at least {MIN_KEY_LENGTH} random characters; generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"

_KEY_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def is_weak_key(key: str) -> bool:
    return key.lower() in WEAK_KEYS or len(key) < MIN_KEY_LENGTH


@dataclass(frozen=True)
class KeyEntry:
    name: str
    key: str = field(repr=False)
    scopes: frozenset[Scope]
    position: str


@dataclass(frozen=True)
class EntryError:
    """A refused entry: where it is and why, with the key's name when the entry was well formed (a malformed
    entry's first field may be a pasted key); never the key."""

    position: str
    reason: str
    name: str | None = None

    def __str__(self) -> str:
        return f"{self.position}{f' ({self.name!r})' if self.name else ''}: {self.reason}"


def _scopes(text: str) -> frozenset[Scope] | None:
    found = [s for s in SCOPES if s in text.split("+")]
    return frozenset(found) if len(found) == len(text.split("+")) else None


def parse_key_entries(text: str, strong: bool, by_line: bool) -> tuple[list[KeyEntry], list[EntryError]]:
    """The well-formed entries of `text`, and an error for each other one, by position (`line 3` when
    `by_line`, else `entry 3`). Entries are separated by commas or new lines; a line starting with `#` is a
    comment. Entries that share a name or a key are all refused: which one was meant cannot be known, and a
    key an operator removed must not stay valid under another entry."""
    raw: list[tuple[str, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip().startswith("#"):
            continue
        parts = [p.strip() for p in line.split(",") if p.strip()]
        for index, entry in enumerate(parts, 1):
            position = (
                (f"line {number}" + (f" entry {index}" if len(parts) > 1 else ""))
                if by_line
                else f"entry {len(raw) + 1}"
            )
            raw.append((position, entry))
    entries: list[KeyEntry] = []
    errors: list[EntryError] = []
    for position, entry in raw:
        fields_ = [f.strip() for f in entry.split(":")]
        if len(fields_) not in (2, 3) or not fields_[1] or not _KEY_NAME.match(fields_[0]):
            errors.append(
                EntryError(
                    position,
                    "not name:key or name:key:scopes (a name of letters, digits, '.', '_' or '-'; no ':' in a key)",
                )
            )
            continue
        scopes = _scopes(fields_[2]) if len(fields_) == 3 else DEFAULT_SCOPES
        if scopes is None:
            errors.append(EntryError(position, "scopes are index, analytics or admin, joined by '+'"))
        elif strong and is_weak_key(fields_[1]):
            errors.append(
                EntryError(
                    position, f"the key is weak ({KEY_HINT}; only ENVIRONMENT=test accepts weak keys)", fields_[0]
                )
            )
        else:
            entries.append(KeyEntry(fields_[0], fields_[1], scopes, position))
    names = Counter(e.name for e in entries)
    keys = Counter(e.key for e in entries)
    for e in entries:
        if names[e.name] > 1:
            errors.append(EntryError(e.position, "another entry has the same name", e.name))
        elif keys[e.key] > 1:
            errors.append(EntryError(e.position, "another entry has the same key", e.name))
    return [e for e in entries if names[e.name] == keys[e.key] == 1], errors


class RuntimeSettings(BaseSettings):
    """Where the service runs: its environment, its data folder and its logs."""

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("./data")
    log_dir: Path = Path("./logs")
    log_level: str = "INFO"
    log_json: bool = True
    log_file_max_bytes: int = Field(
        default=20 * 1024 * 1024, ge=1024, description="logs/app.log is rotated past this size"
    )
    log_file_backups: int = Field(default=5, ge=1, le=1000, description="Rotated logs kept: app.log.1 ... app.log.N")


# The bases are listed last area first: pydantic collects the fields of the last base first, so the fields (and a
# start-up error naming several) keep the order of the areas: runtime, stores, security, retrieval, documents, answers.
class Settings(AnswerSettings, DocumentSettings, RetrievalSettings, SecuritySettings, StorageSettings, RuntimeSettings):
    # hide_input_in_errors: a start-up error must not print the key or a DSN password it was given.
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", case_sensitive=False, populate_by_name=True, hide_input_in_errors=True
    )

    # Cache TTLs (runbook: answers 1-2 h, query results 15-30 min, embeddings 30-60 min).
    cache_answer_ttl_seconds: int = Field(default=3600, ge=0)
    cache_query_ttl_seconds: int = Field(default=1200, ge=0)
    cache_embedding_ttl_seconds: int = Field(default=2700, ge=0)
    cache_max_entries: int = Field(default=10_000, ge=0)
    cache_max_bytes: int = Field(
        default=64 * 1024 * 1024, ge=0, description="The in-process cache's size bound (values and keys), per worker"
    )
    cache_answer_max_selection_chars: int = Field(
        default=2000, ge=0, description="Answers about a longer highlighted selection are not cached"
    )

    # The reading page (GET /): Markdown documents of this folder that are indexed are shown with the chat on them.
    reader_dir: Path = Field(
        default=Path("docs"), description="Folder of the Markdown documents the reading page renders"
    )

    # Sessions.
    session_retention_days: int = Field(default=30, ge=1)
    cleanup_interval_seconds: int = Field(default=6 * 3600, ge=60)

    # Shutdown.
    shutdown_grace_seconds: int = Field(default=30, ge=1, le=600)

    # Readiness: each worker keeps its own rag_ready gauge current (health/service.py); the alert waits 2 minutes.
    readiness_check_seconds: float = Field(
        default=10.0,
        ge=0.5,
        le=60,
        description="Each worker evaluates its readiness this often, unless a probe just did",
    )

    # The API's documentation pages and Prometheus metrics: what the public port shows (app.py, kit/metrics_server.py).
    api_docs: bool | None = Field(
        default=None,
        description="Serve /docs, /redoc and /openapi.json; unset: off with ENVIRONMENT=production, on otherwise",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="/metrics on this port only (gunicorn: the master's); unset: the main port",
    )
    metrics_host: str = Field(default="127.0.0.1", min_length=1, description="The address METRICS_PORT listens on")

    @field_validator("api_docs", "metrics_port", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """`METRICS_PORT=` in an environment file means unset, as for the other optional settings."""
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def api_docs_enabled(self) -> bool:
        return self.environment != "production" if self.api_docs is None else self.api_docs

    @model_validator(mode="after")
    def _keys_are_valid(self) -> Settings:
        """Every key set here is well formed and, outside ENVIRONMENT=test, strong; production needs one. The
        keys of INDEXING_API_KEYS_FILE are checked when the file is read (security/keys.py): a bad line there
        refuses that line, never the start."""
        strong = self.environment != "test"
        single = self.indexing_api_key.get_secret_value() if self.indexing_api_key else ""
        entries, errors = (
            parse_key_entries(self.indexing_api_keys.get_secret_value(), strong, by_line=False)
            if self.indexing_api_keys
            else ([], [])
        )
        problems = [f"INDEXING_API_KEYS {e}" for e in errors]
        if single and strong and is_weak_key(single):
            problems.insert(0, f"INDEXING_API_KEY is weak ({KEY_HINT}; only ENVIRONMENT=test accepts weak keys)")
        for e in entries:
            if single and (e.name == DEFAULT_KEY_NAME or e.key == single):
                problems.append(
                    f"INDEXING_API_KEYS {e.position} ({e.name!r}): the name or the key of INDEXING_API_KEY (named {DEFAULT_KEY_NAME!r})"
                )
        if (
            self.environment == "production"
            and not single
            and not entries
            and not errors
            and self.indexing_api_keys_file is None
        ):
            problems.append(
                f"ENVIRONMENT=production needs INDEXING_API_KEY, INDEXING_API_KEYS or INDEXING_API_KEYS_FILE ({KEY_HINT})"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return sqlite_url((self.data_dir / "app.db").resolve())

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")

    @property
    def models_dir(self) -> Path:
        return self.model_cache_dir or self.data_dir / "models"

    @property
    def vector_dir(self) -> Path:
        return self.data_dir / "qdrant"


@lru_cache
def get_settings() -> Settings:
    return Settings()
