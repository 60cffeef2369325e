"""Search: embed the question (cached), search dense and BM25 in one round trip, fuse, cut to k.

`evidence` is the best dense cosine similarity in the (filtered) book: the signal the answerer uses
to decide that the book does not cover a question.
"""

from __future__ import annotations

import hashlib
import json
import time
import unicodedata
from dataclasses import dataclass, replace

import numpy as np
from anyio import to_thread

from src.kit.cache import Cache
from src.kit.metrics import stage
from src.kit.settings import Settings
from src.retrieval.embedder import Embedder
from src.retrieval.fusion import Fused
from src.retrieval.ranking import Ranker
from src.retrieval.sparse import SparseEncoder
from src.retrieval.store.base import SearchFilter, VectorStore

CANDIDATES_PER_LIST = 60


def normalise_question(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


@dataclass(frozen=True)
class SearchResult:
    hits: list[Fused]
    evidence: float
    latency_ms: float


class RetrievalService:
    def __init__(self, settings: Settings, embedder: Embedder, sparse: SparseEncoder, store: VectorStore, cache: Cache) -> None:
        self.settings = settings
        self.embedder = embedder
        self.sparse = sparse
        self.store = store
        self.cache = cache
        self.ranker = Ranker()

    async def embed_query(self, question: str) -> list[float]:
        key = hashlib.sha256(normalise_question(question).encode()).hexdigest()
        cached = await self.cache.get("emb", key)
        if cached is not None and len(cached) == self.embedder.dimensions * 4:
            return [float(x) for x in np.frombuffer(cached, dtype=np.float32)]
        with stage("embedding"):
            vector = await to_thread.run_sync(self.embedder.embed_one, question)
        await self.cache.set("emb", key, vector.astype(np.float32).tobytes(), self.settings.cache_embedding_ttl_seconds)
        return [float(x) for x in vector]

    async def search(self, question: str, k: int, flt: SearchFilter | None = None, per_source: int | None = None) -> SearchResult:
        """The best `k` chunks for `question`; `per_source` overrides the ranker's cap on chunks of one file."""
        started = time.perf_counter()
        flt = flt or SearchFilter()
        ranker = self.ranker if per_source is None else replace(self.ranker, per_source=per_source)
        version = await self.cache.index_version()
        key = hashlib.sha256(f"{version}|{normalise_question(question)}|{k}|{flt.cache_key()}|{ranker}".encode()).hexdigest()
        cached = await self.cache.get("query", key)
        if cached is not None:
            data = json.loads(cached)
            hits = [Fused(**h) for h in data["hits"]]
            return SearchResult(hits, data["evidence"], round((time.perf_counter() - started) * 1000, 3))
        dense_vec = await self.embed_query(question)
        sparse_vec = self.sparse.query(question)
        limit = max(CANDIDATES_PER_LIST, k)
        # Candidates carry only what ranking needs; the full payloads are read for the final k alone.
        fields = None if self.ranker.reranker is not None else ["source_file"]

        def search_and_rank() -> tuple[list[Fused], float]:  # one trip to the worker thread
            dense, sparse = self.store.search(dense_vec, sparse_vec, limit, flt, fields)
            ranked = ranker.rank(question, dense, sparse, k)
            if fields is not None and ranked:
                full = {h.id: h.payload for h in self.store.retrieve([h.id for h in ranked])}
                ranked = [replace(h, payload=full[h.id]) for h in ranked if h.id in full]
            return ranked, dense[0].score if dense else 0.0

        with stage("search"):
            fused, evidence = await to_thread.run_sync(search_and_rank)
        result = SearchResult(fused, float(evidence), 0.0)
        payload = {"hits": [h.__dict__ for h in fused], "evidence": result.evidence}
        await self.cache.set("query", key, json.dumps(payload).encode(), self.settings.cache_query_ttl_seconds)
        return SearchResult(fused, result.evidence, round((time.perf_counter() - started) * 1000, 3))


def assemble_context(hits: list[Fused]) -> str:
    """The contexts as a numbered block, for a prompt or a reader: [n] heading path (link), then text."""
    parts = []
    for n, hit in enumerate(hits, start=1):
        p = hit.payload
        where = " > ".join([p.get("title") or "", *[h for h in p.get("heading_path", []) if h != p.get("title")]]).strip(" >")
        link = f" ({p['url']})" if p.get("url") else ""
        parts.append(f"[{n}] {where or p.get('source_file', '')}{link}\n{p.get('content', '')}")
    return "\n\n".join(parts)
