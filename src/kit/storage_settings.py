"""The stores' settings (part of `Settings`, kit/settings.py): embedded defaults, real services when configured."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings

from src.kit.db import engine_dsn


class StorageSettings(BaseSettings):
    """The relational database, the vector store and Redis."""

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

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        """Accept the DSNs operators have (postgres://, postgresql://) and use the async drivers."""
        return engine_dsn(value) if value else None

    @property
    def vector_store_kind(self) -> Literal["embedded", "qdrant"]:
        return "qdrant" if self.qdrant_url else "embedded"
