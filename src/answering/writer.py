"""The answer agent: writes the answer from the passages the search agent found. With a model
provider, the model writes it and every sentence passes the grounding checker first; otherwise, or
when the model fails, is too slow or writes nothing the book supports, the extractive composer
quotes the book (marked `degraded` when it stands in for a model). Below the evidence threshold the
answer says the book does not cover the question and names the closest sections."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

from src.answering.events import Event, whole
from src.answering.extractive import Composed, citation_for, compose, merge
from src.answering.generative import Outcome, generate
from src.answering.guardrails import OFF_TOPIC, foreign_links, is_task_request
from src.answering.providers import Provider
from src.answering.schemas import AnswerResponse, Citation
from src.answering.search_agent import Found
from src.kit.metrics import stage
from src.kit.settings import Settings
from src.retrieval.fusion import Fused
from src.retrieval.schemas import RetrievedContext

EXTRACTIVE = "extractive"
NOT_COVERED = "The textbook does not seem to cover this question, so I can't answer it from the book."
NOT_IN_SELECTION = "The selected text does not answer this question. Ask without restricting to the selection to search the whole book."
BORDERLINE_EVIDENCE = 0.10
STRONG_COVERAGE = 0.75


def respond(session_id: str, answer: str, **fields: Any) -> AnswerResponse:
    """A new answer (with a fresh answer id); fields not given take the values of a plain refusal."""
    defaults: dict[str, Any] = {
        "citations": [],
        "retrieved_contexts": [],
        "confidence_score": 0.0,
        "refused": False,
        "provider": EXTRACTIVE,
        "latency_ms": 0.0,
    }
    return AnswerResponse(answer_id=uuid.uuid4().hex, session_id=session_id, answer=answer, **{**defaults, **fields})


def not_covered(hits: list[Fused], lead: str = NOT_COVERED) -> str:
    """The refusal, naming the closest sections (with their links) so the student knows where to look."""
    closest = []
    for hit in hits[:3]:
        p = hit.payload
        title, section = p.get("title") or p.get("source_file") or "", p.get("section")
        label = f"{title} > {section}" if section and section != title else title
        closest.append(f"{label} ({p['url']})" if p.get("url") else label)
    if not closest:
        return lead
    return lead + " The closest sections are: " + "; ".join(closest) + "."


def not_covered_parts(parts: list[str]) -> str:
    """The note on the parts of a compound question the book does not cover. The student's words are
    echoed only when short and free of links: a long or hostile message is not repeated back."""
    shown = [p for p in parts if len(p) <= 120 and not foreign_links(p, set())]
    if len(shown) < len(parts):
        return "The book does not seem to cover the rest of the question."
    return "The book does not seem to cover this part of the question: " + "; ".join(shown)


class AnswerWriter:
    def __init__(self, settings: Settings, provider: Provider | None) -> None:
        self.settings = settings
        self.provider = provider

    def extractive(self, found: Found, selection_only: bool) -> tuple[Composed | None, list[str]]:
        """The extractive answer over every part the book covers, and the parts it does not cover."""
        threshold = self.settings.evidence_threshold
        answers: list[Composed] = []
        uncovered: list[str] = []
        for part in found.parts:
            composed = None
            if selection_only or part.evidence >= threshold - BORDERLINE_EVIDENCE:
                with stage("answer"):
                    composed = compose(part.query, part.hits)
                # Just under the threshold, answer only when one sentence covers most of the question's terms.
                if composed is not None and not selection_only and part.evidence < threshold and composed.coverage < STRONG_COVERAGE:
                    composed = None
            if composed is None:
                uncovered.append(part.question)
            else:
                answers.append(composed)
        if not answers:
            return None, uncovered
        return (answers[0] if len(answers) == 1 else merge(answers)), uncovered

    async def write(self, question: str, session_id: str, found: Found, contexts: list[RetrievedContext], selection_only: bool) -> AsyncIterator[Event]:
        """("delta", text) and ("citation", Citation) as the answer is written, then ("done", response)."""
        route = "selection" if selection_only else "book"
        composed, uncovered = self.extractive(found, selection_only)
        confidence = round(min(1.0, max(0.0, found.evidence)), 4)
        if composed is None:
            if selection_only:
                answer = NOT_IN_SELECTION
            elif is_task_request(question):
                answer, route = OFF_TOPIC, "out_of_scope"
            else:
                answer = not_covered(found.hits)
            yield "done", respond(session_id, answer, retrieved_contexts=contexts, confidence_score=confidence, refused=True, route=route)
            return
        degraded, removed = False, 0
        if self.provider is not None:
            outcome = Outcome()
            async for event in self._from_model(question, session_id, found, contexts, confidence, route, outcome, selection_only):
                yield event
                if event[0] == "done":
                    return
            degraded, removed = True, len(outcome.removed)  # the model failed, timed out or wrote nothing the book supports
        answer = composed.answer
        if uncovered and len(found.parts) > 1:
            answer += " " + not_covered_parts(uncovered)
        citations = [Citation(**c) for c in composed.citations]
        for event in whole(answer, citations):
            yield event
        found_fields = {"retrieved_contexts": contexts, "confidence_score": confidence, "route": route}
        yield "done", respond(session_id, answer, citations=citations, degraded=degraded, removed_sentences=removed, **found_fields)

    async def _from_model(
        self,
        question: str,
        session_id: str,
        found: Found,
        contexts: list[RetrievedContext],
        confidence: float,
        route: str,
        outcome: Outcome,
        selection_only: bool,
    ) -> AsyncIterator[Event]:
        """The model's checked sentences as they come. Ends with "done" unless the extractive answer
        must stand in (nothing was said: a failure, the deadline, or nothing the book supports)."""
        assert self.provider is not None
        citations: dict[int, Citation] = {}
        sentences: list[str] = []
        async for checked, passages in generate(self.provider, self.settings, question, found.hits, outcome):
            yield "delta", (" " if sentences else "") + checked.text
            sentences.append(checked.text)
            for n, quote in checked.quotes.items():
                if n not in citations:
                    citations[n] = Citation(**citation_for(n, passages[n], [quote]))
                    yield "citation", citations[n]
                elif quote not in citations[n].quote:
                    citations[n].quote += " " + quote
        if sentences:
            cited = sorted(citations.values(), key=lambda c: c.id)
            model_fields = {"provider": self.provider.name, "degraded": outcome.failure is not None, "removed_sentences": len(outcome.removed)}
            answer = " ".join(sentences)
            yield "done", respond(session_id, answer, citations=cited, retrieved_contexts=contexts, confidence_score=confidence, route=route, **model_fields)
        elif outcome.said_not_in_book and not selection_only:
            answer = not_covered(found.hits)
            yield "done", respond(session_id, answer, retrieved_contexts=contexts, confidence_score=confidence, refused=True, provider=self.provider.name)
