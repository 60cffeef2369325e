"""Fusing dense and BM25 result lists into one ranking.

`relative` (default): each list's scores are min-max normalised over its candidates and combined
as alpha * dense + (1 - alpha) * bm25, so a strong dense hit is not dragged below weak keyword
hits the way rank-only fusion can. `rrf`: reciprocal rank fusion, weighted, for comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from src.retrieval.store.base import Hit

FusionMethod = Literal["relative", "rrf", "dense", "sparse"]


@dataclass(frozen=True)
class Fused:
    id: str
    score: float
    dense_score: float | None
    sparse_score: float | None
    payload: dict[str, Any]


def _normalise(hits: list[Hit]) -> dict[str, float]:
    if not hits:
        return {}
    top = max(h.score for h in hits)
    low = min(h.score for h in hits)
    span = top - low
    if span <= 1e-9:
        return {h.id: 1.0 for h in hits}
    return {h.id: (h.score - low) / span for h in hits}


def fuse(dense: list[Hit], sparse: list[Hit], method: FusionMethod = "relative", alpha: float = 0.6, rrf_k: int = 60) -> list[Fused]:
    payloads = {h.id: h.payload for h in sparse}
    payloads.update({h.id: h.payload for h in dense})
    raw_dense = {h.id: h.score for h in dense}
    raw_sparse = {h.id: h.score for h in sparse}
    scores: dict[str, float] = {}
    if method == "dense":
        scores = dict(raw_dense)
    elif method == "sparse":
        scores = dict(raw_sparse)
    elif method == "rrf":
        for rank, h in enumerate(dense):
            scores[h.id] = scores.get(h.id, 0.0) + alpha / (rrf_k + rank + 1)
        for rank, h in enumerate(sparse):
            scores[h.id] = scores.get(h.id, 0.0) + (1 - alpha) / (rrf_k + rank + 1)
    else:
        nd, ns = _normalise(dense), _normalise(sparse)
        for cid in payloads:
            scores[cid] = alpha * nd.get(cid, 0.0) + (1 - alpha) * ns.get(cid, 0.0)
    ranked = sorted(scores, key=lambda cid: (-scores[cid], cid))
    return [Fused(cid, round(scores[cid], 6), raw_dense.get(cid), raw_sparse.get(cid), payloads[cid]) for cid in ranked]
