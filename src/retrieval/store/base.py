"""The vector store contract. Two backends keep it: the embedded Qdrant engine (qdrant-edge-py)
and a Qdrant server or Qdrant Cloud (qdrant-client). `tests/contract/` runs one suite on both.

Each point holds a dense vector ("dense", cosine) and a BM25 sparse vector ("bm25", IDF applied by
the engine), and the chunk's payload. Calls are synchronous; the service runs them in threads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from src.kit.errors import ServiceUnavailable

DENSE = "dense"
SPARSE = "bm25"
# Payload fields the filters use, with the kind of index each gets.
INDEXED_FIELDS: dict[str, Literal["keyword", "integer"]] = {
    "source_file": "keyword",
    "chapter": "keyword",
    "document_type": "keyword",
    "chapter_number": "integer",
}


class VectorStoreUnavailable(ServiceUnavailable):
    """The store cannot be reached or opened: 503 with Retry-After. The message (which may name the
    backend's own error) goes to the log, never to the client."""

    log_event = "VECTOR_STORE_UNAVAILABLE"
    public_details = "The search index is unavailable; retry shortly."

    def __init__(self, message: str) -> None:
        super().__init__(message)


@dataclass(frozen=True)
class SparseVec:
    indices: list[int]
    values: list[float]


@dataclass(frozen=True)
class StoredChunk:
    id: str
    dense: list[float]
    sparse: SparseVec
    payload: dict[str, Any]


@dataclass(frozen=True)
class Hit:
    id: str
    score: float
    payload: dict[str, Any]


@dataclass(frozen=True)
class SearchFilter:
    """What a student or a caller can narrow a search to. Empty means the whole book."""

    source_files: tuple[str, ...] = ()
    chapter: str | None = None
    up_to_chapter: int | None = None
    document_types: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_empty(self) -> bool:
        return not (self.source_files or self.chapter or self.up_to_chapter is not None or self.document_types)

    def cache_key(self) -> str:
        return f"{sorted(self.source_files)}|{self.chapter}|{self.up_to_chapter}|{sorted(self.document_types)}"


class VectorStore(Protocol):
    kind: str

    def ensure_collection(self) -> None: ...

    def upsert(self, chunks: list[StoredChunk]) -> None: ...

    def delete(self, ids: list[str]) -> None: ...

    def chunks_of_source(self, source_file: str) -> dict[str, str]:
        """Every chunk id stored for a source file, with its `chunk_hash` payload ("" if absent)."""
        ...

    def ids_for_source(self, source_file: str) -> set[str]: ...

    def payloads(self, fields: list[str]) -> list[Hit]:
        """Every stored chunk's id with those payload fields (score 0), in no set order: a whole-index read
        for what is built once per index version (the headings)."""
        ...

    def dense_vectors(self, ids: list[str]) -> dict[str, list[float]]:
        """Stored dense vectors by id (ids not stored are left out)."""
        ...

    def search(
        self,
        dense: list[float],
        sparse: SparseVec,
        limit: int,
        flt: SearchFilter,
        payload_fields: list[str] | None = None,
    ) -> tuple[list[Hit], list[Hit]]:
        """Dense hits and sparse hits for one query, each best first, in one round trip. With
        `payload_fields`, hits carry only those payload fields (the rest is fetched for the final k)."""
        ...

    def sparse_search(self, sparse: SparseVec, limit: int, payload_fields: list[str] | None = None) -> list[Hit]:
        """BM25 hits alone, best first: the chunks that hold the query's words (an empty list when none
        does). `payload_fields` as for `search` ([] for ids and scores only)."""
        ...

    def retrieve(self, ids: list[str]) -> list[Hit]: ...

    def count(self, flt: SearchFilter | None = None) -> int: ...

    def ping(self) -> None:
        """Raise VectorStoreUnavailable unless the collection can be read now."""
        ...

    def needs_optimize(self) -> bool: ...

    def optimize(self) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...
