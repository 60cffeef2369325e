"""The retrieval agent: searches the book for a (standalone) question. A compound question is
searched part by part and the results interleaved; when the evidence is weak, a keywords-only
reformulation is searched too and the better result kept."""

from __future__ import annotations

from dataclasses import dataclass

from src.answering.definitions import defines
from src.answering.passage_reading import NOT_AN_ANSWER_SECTION
from src.answering.planning import reformulate, split_compound
from src.answering.question import Question
from src.kit.text import sentences_of, terms
from src.retrieval.fusion import Fused, Preference
from src.retrieval.service import RetrievalService
from src.retrieval.store.base import SearchFilter


@dataclass(frozen=True)
class Part:
    question: str  # the part as asked (named in the answer when the book does not cover it)
    hits: list[Fused]
    evidence: float
    query: Question  # what was searched: the part, or its keywords when they found more


@dataclass(frozen=True)
class Found:
    hits: list[Fused]
    evidence: float
    parts: list[Part]  # each part of the question with its own hits (one part for a simple question)


# An answer draws on neighbouring sections of one chapter more than a list of results does.
ANSWER_PER_SOURCE = 5
DEFINITION_CANDIDATES = 15
ANSWER_EXTRA = 5  # passages fetched beyond k, for `for_answer` to choose from
HEADING_LIFT = 0.15
SIGNPOST_DROP = 0.3


def for_answer(question: Question, hits: list[Fused]) -> list[Fused]:
    """The passages in the order an answer wants them: a section whose heading names what the question
    asks about comes up ("Kalman Filter" for "what is a Kalman filter used for?"), and objectives,
    exercises and reference lists, which name a topic without explaining it, go down."""
    wanted = set(question.terms)
    if not wanted:
        return hits

    def score(hit: Fused) -> float:
        section = hit.passage.section or ""
        named = len(wanted & set(terms(section))) / len(wanted)
        return hit.score + HEADING_LIFT * named - (SIGNPOST_DROP if NOT_AN_ANSWER_SECTION.match(section) else 0.0)

    return sorted(hits, key=lambda h: -score(h))


class SearchAgent:
    def __init__(self, retrieval: RetrievalService, evidence_threshold: float) -> None:
        self.retrieval = retrieval
        self.threshold = evidence_threshold

    async def find(self, question: Question, k: int, flt: SearchFilter, preference: Preference | None = None) -> Found:
        texts = split_compound(question.text)
        parts = [question] if len(texts) == 1 else [Question.parse(text) for text in texts]
        results = [await self._search(part, k, flt, preference) for part in parts]
        if len(parts) == 1:
            hits, evidence, used = results[0]
            if question.subject:
                hits = await self._definition_first(question.subject, hits, k, flt, preference)
            return Found(hits, evidence, [Part(question.text, hits, evidence, used)])
        merged: list[Fused] = []
        seen: set[str] = set()
        for rank in range(k):
            for hits, _, _ in results:
                if rank < len(hits) and hits[rank].id not in seen:
                    seen.add(hits[rank].id)
                    merged.append(hits[rank])
        # Answered as far as the book covers it: the parts it does not cover are named in the answer.
        evidence = max(e for _, e, _ in results)
        return Found(
            merged[: k * len(parts)],
            evidence,
            [Part(p.text, r[0], r[1], r[2]) for p, r in zip(parts, results, strict=True)],
        )

    async def _definition_first(
        self, subject: str, hits: list[Fused], k: int, flt: SearchFilter, preference: Preference | None
    ) -> list[Fused]:
        """The passage where the book defines the subject, first: searched for by the subject alone when
        the question's own results do not hold it (a chapter that mentions X often can outrank the
        one sentence that says what X is)."""
        wanted = terms(subject)
        # No cap per file: the defining passage is often one more chunk of the chapter that mentions X most.
        by_subject = await self.retrieval.search(subject, DEFINITION_CANDIDATES, flt, DEFINITION_CANDIDATES, preference)
        pool = [*hits, *by_subject.hits]
        # A section the subject names ("### Strategy 1: Domain Randomization") first, then a sentence that defines it.
        for hit in pool:
            if set(wanted) <= set(terms(hit.passage.section or "")):
                return [hit, *(h for h in hits if h.id != hit.id)][:k]
        for hit in pool:
            if any(defines(sentence, wanted) for sentence in sentences_of(hit.passage.content)):
                return [hit, *(h for h in hits if h.id != hit.id)][:k]
        return hits

    async def _search(
        self, question: Question, k: int, flt: SearchFilter, preference: Preference | None = None
    ) -> tuple[list[Fused], float, Question]:
        first = await self.retrieval.search(question.text, k + ANSWER_EXTRA, flt, ANSWER_PER_SOURCE, preference)
        if first.evidence >= self.threshold:
            return for_answer(question, first.hits)[:k], first.evidence, question
        alternative = reformulate(question)
        if alternative is None:
            return first.hits, first.evidence, question
        second = await self.retrieval.search(alternative, k + ANSWER_EXTRA, flt, ANSWER_PER_SOURCE, preference)
        if second.evidence > first.evidence:
            keywords = Question.parse(alternative)
            return for_answer(keywords, second.hits)[:k], second.evidence, keywords
        return for_answer(question, first.hits)[:k], first.evidence, question
