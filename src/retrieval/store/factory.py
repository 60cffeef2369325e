"""The vector store the settings ask for: a Qdrant server (QDRANT_URL) or the embedded engine."""

from __future__ import annotations

from src.kit.settings import Settings
from src.retrieval.store.base import VectorStore
from src.retrieval.store.embedded import EmbeddedStore
from src.retrieval.store.server import ServerStore
from src.retrieval.store.tuning import StoreTuning


def open_store(settings: Settings, dimensions: int) -> VectorStore:
    tuning = StoreTuning.from_settings(settings)
    if settings.qdrant_url:
        key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        return ServerStore.connect(
            settings.qdrant_url, key, settings.collection_name, dimensions, settings.qdrant_timeout_seconds, tuning
        )
    return EmbeddedStore(settings.vector_dir / settings.collection_name, dimensions, tuning)
