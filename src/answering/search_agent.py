"""The retrieval agent: searches the book for a (standalone) question. A compound question is
searched part by part and the results interleaved; when the evidence is weak, a keywords-only
reformulation is searched too and the better result kept."""

from __future__ import annotations

from dataclasses import dataclass

from src.answering.planning import reformulate, split_compound
from src.retrieval.fusion import Fused
from src.retrieval.service import RetrievalService
from src.retrieval.store.base import SearchFilter


@dataclass
class Part:
    question: str
    hits: list[Fused]
    evidence: float
    query: str = ""  # what was searched: the question, or its keywords when they found more

    def __post_init__(self) -> None:
        self.query = self.query or self.question


@dataclass
class Found:
    hits: list[Fused]
    evidence: float
    parts: list[Part]  # each part of the question with its own hits (one part for a simple question)
    reformulated: str | None = None


# An answer draws on neighbouring sections of one chapter more than a list of results does.
ANSWER_PER_SOURCE = 5


class SearchAgent:
    def __init__(self, retrieval: RetrievalService, evidence_threshold: float) -> None:
        self.retrieval = retrieval
        self.threshold = evidence_threshold

    async def find(self, question: str, k: int, flt: SearchFilter) -> Found:
        parts = split_compound(question)
        results = [await self._search(part, k, flt) for part in parts]
        if len(parts) == 1:
            hits, evidence, used = results[0]
            return Found(hits, evidence, [Part(question, hits, evidence, used)], used if used != question else None)
        merged: list[Fused] = []
        seen: set[str] = set()
        for rank in range(k):
            for hits, _, _ in results:
                if rank < len(hits) and hits[rank].id not in seen:
                    seen.add(hits[rank].id)
                    merged.append(hits[rank])
        # Answered as far as the book covers it: the parts it does not cover are named in the answer.
        evidence = max(e for _, e, _ in results)
        return Found(merged[: k * len(parts)], evidence, [Part(p, r[0], r[1], r[2]) for p, r in zip(parts, results, strict=True)])

    async def _search(self, question: str, k: int, flt: SearchFilter) -> tuple[list[Fused], float, str]:
        first = await self.retrieval.search(question, k, flt, ANSWER_PER_SOURCE)
        if first.evidence >= self.threshold:
            return first.hits, first.evidence, question
        alternative = reformulate(question)
        if alternative is None:
            return first.hits, first.evidence, question
        second = await self.retrieval.search(alternative, k, flt, ANSWER_PER_SOURCE)
        if second.evidence > first.evidence:
            return second.hits, second.evidence, alternative
        return first.hits, first.evidence, question
