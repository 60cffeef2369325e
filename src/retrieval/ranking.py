"""The service's ranking: dense and BM25 candidates in, the final ordered chunks out."""

from __future__ import annotations

from dataclasses import dataclass

from src.retrieval.fusion import Fused, FusionMethod, fuse
from src.retrieval.store.base import Hit


@dataclass
class Ranker:
    method: FusionMethod = "relative"
    alpha: float = 0.6

    def rank(self, question: str, dense: list[Hit], sparse: list[Hit], k: int) -> list[Fused]:
        return fuse(dense, sparse, self.method, self.alpha)[:k]
