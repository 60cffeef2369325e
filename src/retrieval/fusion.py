"""Fusing dense and BM25 result lists into one ranking.

`weighted` (the service's default): cosine similarity plus `bm25_weight` times the BM25 score
relative to the best BM25 score for the question. The cosine keeps its absolute meaning, so a
strong dense hit is not dragged below weak keyword matches the way rank-only fusion (RRF) can
drag it; the BM25 term lifts passages that use the question's exact terms. A chunk missing from
the dense candidates is given the lowest candidate cosine, an upper bound of its own.

`rrf` (reciprocal rank fusion), `dense` and `sparse` are kept for comparison in `bench/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from src.retrieval.passage import Passage
from src.retrieval.store.base import Hit

FusionMethod = Literal["weighted", "rrf", "dense", "sparse"]


@dataclass(frozen=True)
class Fused:
    id: str
    score: float
    dense_score: float | None
    sparse_score: float | None
    passage: Passage

    def to_json(self) -> dict[str, Any]:
        """The hit as the query cache keeps it (its passage as the stored payload)."""
        return {
            "id": self.id,
            "score": self.score,
            "dense_score": self.dense_score,
            "sparse_score": self.sparse_score,
            "payload": self.passage.to_payload(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fused:
        return cls(
            data["id"], data["score"], data["dense_score"], data["sparse_score"], Passage.from_payload(data["payload"])
        )


def fuse(
    dense: list[Hit], sparse: list[Hit], method: FusionMethod = "weighted", bm25_weight: float = 0.6, rrf_k: int = 60
) -> list[Fused]:
    payloads = {h.id: h.payload for h in sparse}
    payloads.update({h.id: h.payload for h in dense})
    passages = {cid: Passage.from_payload(payload) for cid, payload in payloads.items()}
    raw_dense = {h.id: h.score for h in dense}
    raw_sparse = {h.id: h.score for h in sparse}
    if method == "dense":
        scores = dict(raw_dense)
    elif method == "sparse":
        scores = dict(raw_sparse)
    elif method == "rrf":
        scores = {}
        for rank, h in enumerate(dense):
            scores[h.id] = scores.get(h.id, 0.0) + 0.5 / (rrf_k + rank + 1)
        for rank, h in enumerate(sparse):
            scores[h.id] = scores.get(h.id, 0.0) + 0.5 / (rrf_k + rank + 1)
    else:
        floor = dense[-1].score if dense else 0.0
        top_sparse = sparse[0].score if sparse and sparse[0].score > 0 else 1.0
        scores = {
            cid: raw_dense.get(cid, floor) + bm25_weight * raw_sparse.get(cid, 0.0) / top_sparse for cid in payloads
        }
    ranked = sorted(scores, key=lambda cid: (-scores[cid], cid))
    return [Fused(cid, round(scores[cid], 6), raw_dense.get(cid), raw_sparse.get(cid), passages[cid]) for cid in ranked]


@dataclass(frozen=True)
class Preference:
    """Chunks to lift, softly: those of the files a conversation is in, or of the page the reader is on.
    A bonus on the fused score (not a filter), so a strong hit elsewhere still wins."""

    sources: tuple[str, ...] = ()  # source files
    page: str | None = None  # a page URL (no fragment) or a source file
    bonus: float = 0.06
    page_bonus: float = 0.08
    book_bonus: float = 0.0  # for the books (top folders) of `sources`, when several books share the index
    sections: tuple[tuple[str, str], ...] = ()  # (source file, section) pairs the conversation's answers cited
    section_bonus: float = 0.0

    @property
    def is_empty(self) -> bool:
        return not self.sources and not self.page

    @property
    def books(self) -> set[str]:
        return {s.split("/", 1)[0] for s in self.sources if "/" in s}

    def cache_key(self) -> str:
        return f"{sorted(self.sources)}|{self.page}|{self.bonus}|{self.page_bonus}|{self.book_bonus}|{sorted(self.sections)}|{self.section_bonus}"

    def lift(self, hit: Fused) -> float:
        source = hit.passage.source_file or ""
        url = (hit.passage.url or "").split("#", 1)[0]
        on_page = bool(self.page) and (self.page in (source, url) or (url and _same_page(url, self.page or "")))
        in_book = "/" in source and source.split("/", 1)[0] in self.books
        in_section = (source, hit.passage.section or "") in self.sections
        lifts = (
            (self.bonus, source in self.sources),
            (self.page_bonus, on_page),
            (self.book_bonus, in_book),
            (self.section_bonus, in_section),
        )
        return sum(bonus for bonus, applies in lifts if applies)


def _bare(url: str) -> str:
    return url.split("#", 1)[0].split("?", 1)[0].rstrip("/")


def _same_page(url: str, page: str) -> bool:
    """The chunk's page is the reader's: the same URL, or a site-relative path it ends with."""
    return _bare(url) == _bare(page) or _bare(url).endswith("/" + _bare(page).lstrip("/"))


def prefer(ranked: list[Fused], preference: Preference | None) -> list[Fused]:
    """`ranked` with the preferred chunks lifted, reordered by the new scores."""
    if preference is None or preference.is_empty:
        return ranked
    lifted = [
        Fused(h.id, round(h.score + preference.lift(h), 6), h.dense_score, h.sparse_score, h.passage) for h in ranked
    ]
    return sorted(lifted, key=lambda h: (-h.score, h.id))


def diversify(ranked: list[Fused], k: int, per_source: int) -> list[Fused]:
    """The best `k`, with at most `per_source` chunks of one source file while others are left;
    then the rest in score order, so a search narrowed to one file still gets `k` chunks."""
    if per_source <= 0:
        return ranked[:k]
    chosen: list[Fused] = []
    held_back: list[Fused] = []
    counts: dict[str, int] = {}
    for hit in ranked:
        source = hit.passage.source_file or ""
        if counts.get(source, 0) < per_source:
            chosen.append(hit)
            counts[source] = counts.get(source, 0) + 1
            if len(chosen) == k:
                return chosen
        else:
            held_back.append(hit)
    return chosen + held_back[: k - len(chosen)]
