"""Whether the store's collection exists and answers: readiness and the per-route health read it,
and the scheduler retries `ensure` until a store that was down at start comes back."""

from __future__ import annotations

from anyio import to_thread

from src.kit.logging import get_logger
from src.retrieval.store.base import VectorStore, VectorStoreUnavailable

log = get_logger(__name__)


class StoreReadiness:
    def __init__(self, store: VectorStore) -> None:
        self.store = store
        self.ready = False

    async def ensure(self) -> bool:
        """Create the collection and its payload indexes if needed; False while the store is unreachable."""
        try:
            await to_thread.run_sync(self.store.ensure_collection)
        except VectorStoreUnavailable as exc:
            log.warning("VECTOR_STORE_UNAVAILABLE", error=str(exc))
            self.ready = False
            return False
        self.ready = True
        return True
