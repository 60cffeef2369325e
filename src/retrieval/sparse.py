"""BM25 sparse vectors, computed in process by Qdrant's own BM25 model (from qdrant-edge-py).

The same vectors go to either backend; the collection applies IDF (`Modifier.IDF`), so a term's
weight follows the whole collection, as BM25 needs.
"""

from __future__ import annotations

import re

import qdrant_edge as qe

from src.retrieval.store.base import SparseVec

# Chunks average about 120 words; BM25's length normalisation uses it.
AVERAGE_CHUNK_WORDS = 120.0
# A name and its version number, apart or together ("ROS 2", "ROS2"): a query finds either spelling.
_APART = re.compile(r"\b([A-Za-z]{2,}) (\d{1,2})\b(?!\.\d)")
_TOGETHER = re.compile(r"\b([A-Za-z]{2,})(\d{1,2})\b")


def spellings(text: str) -> str:
    """`text` with the other spelling of each name and version it holds ("ROS 2" adds "ROS2", "ROS2" adds
    "ROS"), for a query: the book may write either."""
    extra = [m.group(1) + m.group(2) for m in _APART.finditer(text)] + [m.group(1) for m in _TOGETHER.finditer(text)]
    return f"{text} {' '.join(extra)}" if extra else text


class SparseEncoder:
    def __init__(self, avg_len: float = AVERAGE_CHUNK_WORDS) -> None:
        self._model = qe.Bm25(qe.Bm25Config(language="english", avg_len=avg_len))

    def document(self, text: str) -> SparseVec:
        vec = self._model.embed_document(text)
        return SparseVec(list(vec.indices), list(vec.values))

    def query(self, text: str) -> SparseVec:
        vec = self._model.embed_query(spellings(text))
        return SparseVec(list(vec.indices), list(vec.values))
