"""BM25 sparse vectors, computed in process by Qdrant's own BM25 model (from qdrant-edge-py).

The same vectors go to either backend; the collection applies IDF (`Modifier.IDF`), so a term's
weight follows the whole collection, as BM25 needs.
"""

from __future__ import annotations

import qdrant_edge as qe

from src.retrieval.store.base import SparseVec

# Chunks average about 120 words; BM25's length normalisation uses it.
AVERAGE_CHUNK_WORDS = 120.0


class SparseEncoder:
    def __init__(self, avg_len: float = AVERAGE_CHUNK_WORDS) -> None:
        self._model = qe.Bm25(qe.Bm25Config(language="english", avg_len=avg_len))

    def document(self, text: str) -> SparseVec:
        vec = self._model.embed_document(text)
        return SparseVec(list(vec.indices), list(vec.values))

    def query(self, text: str) -> SparseVec:
        vec = self._model.embed_query(text)
        return SparseVec(list(vec.indices), list(vec.values))
