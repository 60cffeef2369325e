"""Search: embed the question (cached), search dense and BM25 in one round trip, fuse, cut to k.

`evidence` is the best dense cosine similarity in the (filtered) book: the signal the answerer uses
to decide that the book does not cover a question.
"""

from __future__ import annotations

import hashlib
import json
import time
import unicodedata
from dataclasses import dataclass, field, replace

import numpy as np
from anyio import to_thread

from src.kit.cache import Cache
from src.kit.metrics import stage
from src.kit.settings import Settings
from src.retrieval.batching import QueryBatcher
from src.retrieval.embedder import Embedder
from src.retrieval.fusion import Fused, Preference
from src.retrieval.outline import Outline, admitted
from src.retrieval.passage import Passage
from src.retrieval.ranking import Ranker
from src.retrieval.sparse import SparseEncoder
from src.retrieval.store.base import SearchFilter, VectorStore
from src.retrieval.vocabulary import Vocabulary

CANDIDATES_PER_LIST = 60
SECTION_STEP = 0.001  # the score a section's later chunk is given below the one before it


def normalise_question(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


@dataclass(frozen=True)
class WordFacts:
    weights: dict[str, float]  # word -> rarity in the book (inverse document frequency)
    counts: dict[str, int]  # word -> chunks holding it (capped)
    phrases: dict[str, bool]  # phrase -> whether some chunk holds it
    max_weight: float  # the weight of a word no chunk holds
    variants: dict[str, bool] = field(default_factory=dict)  # word no chunk holds -> whether a near spelling is held


@dataclass(frozen=True)
class SearchResult:
    hits: list[Fused]
    evidence: float
    latency_ms: float


class RetrievalService:
    def __init__(
        self, settings: Settings, embedder: Embedder, sparse: SparseEncoder, store: VectorStore, cache: Cache
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.sparse = sparse
        self.store = store
        self.cache = cache
        self.ranker = Ranker()
        self.vocabulary = Vocabulary(store, sparse)
        self.outline = Outline(store)
        self.batcher = QueryBatcher(embedder, settings.query_batch_window_ms)

    async def word_facts(
        self, words: list[str], phrases: list[str], variant_words: list[str] | None = None
    ) -> WordFacts:
        """For the book as indexed now, in one trip to a worker thread: each word's weight (rarity) and
        chunk count, and whether each phrase occurs."""
        version = await self.cache.index_version()
        vocab = self.vocabulary

        def look_up() -> WordFacts:
            counts = {w: vocab.chunk_count(w, version) for w in words}
            weights = {w: vocab.weight(w, version) for w in words}
            # A word no chunk holds may be a typo or another form of one that some chunk holds.
            variants = {w: vocab.has_variant(w, version) for w in variant_words or [] if counts.get(w, 1) == 0}
            return WordFacts(
                weights, counts, {p: vocab.mentions(p, version) for p in phrases}, vocab.max_weight(version), variants
            )

        with stage("vocabulary"):
            return await to_thread.run_sync(look_up)

    async def named_sections(
        self, wanted: tuple[str, ...], question: str, flt: SearchFilter | None, preference: Preference | None
    ) -> list[Fused]:
        """The sections whose heading names exactly `wanted` (`retrieval.outline`), each as its first chunk,
        inside the filter, best first: the closest in meaning to `question`, the reader's page lifted. Their
        score is that cosine (plus the lift), on the same scale as a search's dense score."""
        if not wanted:
            return []
        version = await self.cache.index_version()
        ids = await to_thread.run_sync(self.outline.named, wanted, version)
        if not ids:
            return []
        vector = np.asarray(await self.embed_query(question), dtype=np.float32)

        def read() -> list[Fused]:
            passages = {h.id: Passage.from_payload(h.payload) for h in self.store.retrieve(list(ids))}
            vectors = self.store.dense_vectors([cid for cid in ids if cid in passages])
            found = []
            for cid, dense in vectors.items():
                if not admitted(flt or SearchFilter(), passages[cid]):
                    continue
                cosine = float(np.dot(vector, np.asarray(dense, dtype=np.float32)))
                hit = Fused(cid, cosine, cosine, None, passages[cid])
                lift = preference.lift(hit) if preference is not None else 0.0
                found.append(replace(hit, score=round(cosine + lift, 6)))
            return sorted(found, key=lambda h: (-h.score, h.id))

        with stage("headings"):
            return await to_thread.run_sync(read)

    async def rest_of_section(self, first: Fused, limit: int) -> list[Fused]:
        """Up to `limit` chunks that follow `first` (a section's first chunk) in its section, in the book's
        order, each scored just under it."""
        version = await self.cache.index_version()
        ids = (await to_thread.run_sync(self.outline.rest_of_section, first.id, version))[:limit]
        if not ids:
            return []
        found = {h.id: h for h in await to_thread.run_sync(self.store.retrieve, list(ids))}
        return [
            Fused(
                cid,
                round(first.score - SECTION_STEP * (n + 1), 6),
                None,
                None,
                Passage.from_payload(found[cid].payload),
            )
            for n, cid in enumerate(ids)
            if cid in found
        ]

    async def embed_query(self, question: str) -> list[float]:
        key = hashlib.sha256(normalise_question(question).encode()).hexdigest()
        cached = await self.cache.get("emb", key)
        if cached is not None and len(cached) == self.embedder.dimensions * 4:
            return [float(x) for x in np.frombuffer(cached, dtype=np.float32)]
        with stage("embedding"):
            vector = await self.batcher.embed(question)
        await self.cache.set("emb", key, vector.astype(np.float32).tobytes(), self.settings.cache_embedding_ttl_seconds)
        return [float(x) for x in vector]

    async def search(
        self,
        question: str,
        k: int,
        flt: SearchFilter | None = None,
        per_source: int | None = None,
        preference: Preference | None = None,
    ) -> SearchResult:
        """The best `k` chunks for `question`; `per_source` overrides the ranker's cap on chunks of one file,
        `preference` lifts the chunks of a conversation's files or of the reader's page."""
        started = time.perf_counter()
        flt = flt or SearchFilter()
        ranker = self.ranker if per_source is None else replace(self.ranker, per_source=per_source)
        version = await self.cache.index_version()
        wanted = "" if preference is None else preference.cache_key()
        key = hashlib.sha256(
            f"{version}|{normalise_question(question)}|{k}|{flt.cache_key()}|{ranker}|{wanted}".encode()
        ).hexdigest()
        cached = await self.cache.get("query", key)
        if cached is not None:
            data = json.loads(cached)
            hits = [Fused.from_json(h) for h in data["hits"]]
            return SearchResult(hits, data["evidence"], round((time.perf_counter() - started) * 1000, 3))
        dense_vec = await self.embed_query(question)
        sparse_vec = self.sparse.query(question)
        limit = max(CANDIDATES_PER_LIST, k)
        # Candidates carry only what ranking needs; the full payloads are read for the final k alone.
        fields = None if self.ranker.reranker is not None else candidate_fields(preference)

        def search_and_rank() -> tuple[list[Fused], float]:  # one trip to the worker thread
            dense, sparse = self.store.search(dense_vec, sparse_vec, limit, flt, fields)
            ranked = ranker.rank(question, dense, sparse, k, preference)
            if fields is not None and ranked:
                full = {h.id: Passage.from_payload(h.payload) for h in self.store.retrieve([h.id for h in ranked])}
                ranked = [replace(h, passage=full[h.id]) for h in ranked if h.id in full]
            return ranked, dense[0].score if dense else 0.0

        with stage("search"):
            fused, evidence = await to_thread.run_sync(search_and_rank)
        result = SearchResult(fused, float(evidence), 0.0)
        cached_hits = {"hits": [h.to_json() for h in fused], "evidence": result.evidence}
        await self.cache.set("query", key, json.dumps(cached_hits).encode(), self.settings.cache_query_ttl_seconds)
        return SearchResult(fused, result.evidence, round((time.perf_counter() - started) * 1000, 3))


def candidate_fields(preference: Preference | None) -> list[str]:
    """The payload fields ranking needs of every candidate: the file (for the per-file cap), and what a
    preference looks at."""
    fields = ["source_file"]
    if preference is not None and preference.page:
        fields.append("url")
    if preference is not None and preference.sections:
        fields.append("section")
    return fields


def assemble_context(hits: list[Fused]) -> str:
    """The contexts as a numbered block, for a prompt or a reader: [n] heading path (link), then text."""
    parts = []
    for n, hit in enumerate(hits, start=1):
        p = hit.passage
        where = " > ".join([p.title or "", *[h for h in p.heading_path if h != p.title]]).strip(" >")
        link = f" ({p.url})" if p.url else ""
        parts.append(f"[{n}] {where or p.source_file or ''}{link}\n{p.content}")
    return "\n\n".join(parts)
