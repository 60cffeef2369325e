"""What both backends share in reading stored records back (qdrant-edge's and qdrant-client's records
have the same `id`, `vector` and `payload` attributes)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from src.retrieval.store.base import DENSE


def dense_by_id(records: list[Any]) -> dict[str, list[float]]:
    """Stored records (either engine's) into {id: dense vector}, skipping records without one."""
    out: dict[str, list[float]] = {}
    for r in records:
        vector = r.vector
        dense = vector.get(DENSE) if isinstance(vector, dict) else vector
        if dense is not None:
            out[str(r.id)] = list(dense)
    return out


def chunk_hashes(records: list[Any]) -> dict[str, str]:
    """Stored records (either engine's, read with the `chunk_hash` payload) into {id: chunk hash}."""
    return {str(r.id): str((r.payload or {}).get("chunk_hash", "")) for r in records}


class SourceLookups(ABC):
    """What both backends derive from `chunks_of_source`, which each backend implements."""

    @abstractmethod
    def chunks_of_source(self, source_file: str) -> dict[str, str]:
        """{chunk id: chunk hash} of every stored chunk of `source_file`."""

    def ids_for_source(self, source_file: str) -> set[str]:
        return set(self.chunks_of_source(source_file))
