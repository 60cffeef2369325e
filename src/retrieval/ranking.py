"""The service's ranking: dense and BM25 candidates in, the final ordered chunks out.

Defaults chosen with `bench/retrieval_quality.py` on the pooled corpus (see docs/BENCHMARKS.md):
weighted fusion with BM25 at 0.6 of the cosine scale, and at most 2 chunks of one source file in
the first k while other sources are left. A reranker (a cross-encoder, say) can be plugged in; it
is off by default because one costs about 0.7 s for 20 passages on two cores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from src.retrieval.fusion import Fused, FusionMethod, Preference, diversify, fuse, prefer
from src.retrieval.store.base import Hit


class Reranker(Protocol):
    def rerank(self, question: str, candidates: list[Fused]) -> list[Fused]:
        """Reorder `candidates` (which carry full payloads) best first."""
        ...


@dataclass
class Ranker:
    method: FusionMethod = "weighted"
    bm25_weight: float = 0.6
    per_source: int = 2
    reranker: Reranker | None = None
    rerank_candidates: int = 20

    def rank(
        self, question: str, dense: list[Hit], sparse: list[Hit], k: int, preference: Preference | None = None
    ) -> list[Fused]:
        fused = prefer(fuse(dense, sparse, self.method, self.bm25_weight), preference)
        if self.reranker is not None:
            fused = self.reranker.rerank(question, fused[: max(k, self.rerank_candidates)])
        return diversify(fused, k, self.per_source)
