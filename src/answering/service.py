"""Answering a question: retrieve, compose a cited answer (or say the book does not cover it),
record the turn through the LoggingAgent, cache the answer for the current index version."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.answering.extractive import Composed, citation_for, compose, merge
from src.answering.followup import standalone
from src.answering.generative import Outcome, generate
from src.answering.guardrails import OFF_TOPIC, REDIRECT, foreign_links, is_creative_request, is_manipulation, is_task_request
from src.answering.providers import Provider
from src.answering.routing import smalltalk_reply
from src.answering.schemas import AnswerResponse, Citation
from src.answering.search_agent import Found, Part, SearchAgent
from src.kit.cache import Cache
from src.kit.db import transaction
from src.kit.errors import ServiceUnavailable
from src.kit.metrics import stage
from src.kit.settings import Settings
from src.retrieval.fusion import Fused
from src.retrieval.schemas import RetrievedContext
from src.retrieval.service import RetrievalService, normalise_question
from src.retrieval.store.base import SearchFilter
from src.sessions.logging_agent import LoggingAgent, Turn
from src.sessions.repository import SessionRepository

EXTRACTIVE = "extractive"
NOT_COVERED = "The textbook does not seem to cover this question, so I can't answer it from the book."


BORDERLINE_EVIDENCE = 0.10
STRONG_COVERAGE = 0.75
NOT_IN_SELECTION = "The selected text does not answer this question. Ask without restricting to the selection to search the whole book."
SELECTION_ID = "selection"


def selection_hit(text: str) -> Fused:
    """The student's highlighted passage, as a context the answerer can quote and cite."""
    payload = {"content": text, "title": "Selected text", "section": "Selected text", "source_file": None, "url": None, "heading_path": []}
    return Fused(SELECTION_ID, 1.0, None, None, payload)


def to_context(hit: Fused) -> RetrievedContext:
    metadata = {k: v for k, v in hit.payload.items() if k not in {"content", "chunk_hash"}}
    return RetrievedContext(chunk_id=hit.id, content=str(hit.payload.get("content", "")), score=hit.score, metadata=metadata)


def approx_tokens(*texts: str) -> int:
    return sum(max(1, len(t) // 4) for t in texts)


_PIECE = re.compile(r"[^\[]*?\[\d+\]\s*|.+$", re.S)


def pieces(answer: str) -> list[str]:
    """The answer cut after each citation mark: the deltas of an answer that is already whole."""
    return [p for p in _PIECE.findall(answer) if p]


def whole(answer: str, citations: list[Citation]) -> Iterator[Event]:
    """An answer that is already complete as events: each piece, then the citations it is first to use."""
    by_id = {c.id: c for c in citations}
    sent: set[int] = set()
    for piece in pieces(answer):
        yield "delta", piece
        for n in (int(x) for x in re.findall(r"\[(\d+)\]", piece)):
            if n in by_id and n not in sent:
                sent.add(n)
                yield "citation", by_id[n]


def not_covered_parts(parts: list[str]) -> str:
    """The note on the parts of a compound question the book does not cover. The student's words are
    echoed only when short and free of links: a long or hostile message is not repeated back."""
    shown = [p for p in parts if len(p) <= 120 and not foreign_links(p, set())]
    if len(shown) < len(parts):
        return "The book does not seem to cover the rest of the question."
    return "The book does not seem to cover this part of the question: " + "; ".join(shown)


Event = tuple[str, Any]  # ("retrieval", contexts) | ("delta", text) | ("citation", Citation) | ("done", AnswerResponse)


class AnswerService:
    """The orchestrator: routes each turn (small talk, manipulation, selection, book), has the
    SearchAgent find the passages, the answer agent (a model, checked by the grounding checker, or
    the extractive composer) write the answer, and the LoggingAgent record the turn."""

    def __init__(
        self,
        settings: Settings,
        retrieval: RetrievalService,
        cache: Cache,
        logging_agent: LoggingAgent,
        db: async_sessionmaker[AsyncSession] | None = None,
        provider: Provider | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.retrieval = retrieval
        self.search_agent = SearchAgent(retrieval, settings.evidence_threshold)
        self.cache = cache
        self.logging_agent = logging_agent
        self.provider = provider

    @property
    def provider_name(self) -> str:
        return self.provider.name if self.provider else EXTRACTIVE

    def _not_covered(self, hits: list[Fused], lead: str = NOT_COVERED) -> str:
        closest = []
        for hit in hits[:3]:
            p = hit.payload
            title, section = p.get("title") or p.get("source_file") or "", p.get("section")
            label = f"{title} > {section}" if section and section != title else title
            closest.append(f"{label} ({p['url']})" if p.get("url") else label)
        if not closest:
            return lead
        return lead + " The closest sections are: " + "; ".join(closest) + "."

    def _response(self, session_id: str, answer: str, **fields: Any) -> AnswerResponse:
        defaults: dict[str, Any] = {
            "citations": [],
            "retrieved_contexts": [],
            "confidence_score": 0.0,
            "refused": False,
            "provider": EXTRACTIVE,
            "latency_ms": 0.0,
        }
        return AnswerResponse(answer_id=uuid.uuid4().hex, session_id=session_id, answer=answer, **{**defaults, **fields})

    async def answer(
        self, question: str, k: int, session_id: str | None, flt: SearchFilter | None, selection: str | None = None, mode: str = "book"
    ) -> AnswerResponse:
        result: AnswerResponse | None = None
        async for kind, data in self.stream(question, k, session_id, flt, selection, mode):
            if kind == "done":
                result = data
        if result is None:  # pragma: no cover - stream() always ends with "done"
            raise RuntimeError("the answer stream ended without an answer")
        return result

    async def stream(
        self, question: str, k: int, session_id: str | None, flt: SearchFilter | None, selection: str | None = None, mode: str = "book"
    ) -> AsyncIterator[Event]:
        """("retrieval", contexts) as soon as the passages are known, before any answering; then
        ("delta", text) and ("citation", Citation) as the answer is written, and ("done", the full
        response), recorded by the LoggingAgent. Cached per question, filters, mode, selection,
        provider and index version; a degraded answer is not cached."""
        started = time.perf_counter()
        if self.logging_agent.saturated:
            # The database has been away long enough that the buffer of unrecorded turns is full.
            raise ServiceUnavailable("The service is catching up with its database; retry shortly.", retry_after=5)
        flt = flt or SearchFilter()
        session_id_given = session_id is not None
        session_id = session_id or uuid.uuid4().hex
        asked = question  # what the student typed; `question` becomes the standalone search question
        reply = None if selection else smalltalk_reply(question)
        guarded = reply is None and is_manipulation(question)
        off_topic = reply is None and not guarded and not selection and is_creative_request(question)
        if reply is None and not guarded and session_id_given and not selection:
            question = standalone(question, await self._previous_questions(session_id))
        version = await self.cache.index_version()
        selected = hashlib.sha256(selection.encode()).hexdigest() if selection else ""
        key_text = f"{version}|{self.provider_name}|{normalise_question(question)}|{k}|{flt.cache_key()}|{mode}|{selected}"
        key = hashlib.sha256(key_text.encode()).hexdigest()
        cached = None if reply is not None or guarded or off_topic else await self.cache.get("answer", key)
        result: AnswerResponse | None = None
        if reply is not None:  # a greeting or a question about the assistant: no search, no citations
            yield "retrieval", []
            result = self._response(session_id, reply, confidence_score=1.0, route="smalltalk")
        elif guarded:  # an attempt to extract the instructions or switch the rules off: no search
            yield "retrieval", []
            result = self._response(session_id, REDIRECT, refused=True, route="out_of_scope")
        elif off_topic:  # "write me a poem": a polite redirect to the book, no search
            yield "retrieval", []
            result = self._response(session_id, OFF_TOPIC, refused=True, route="out_of_scope")
        elif cached is not None:
            body: dict[str, Any] = json.loads(cached)
            result = AnswerResponse(**{**body, "answer_id": uuid.uuid4().hex, "session_id": session_id})
            yield "retrieval", result.retrieved_contexts
        else:
            if selection and mode == "selection_only":
                hit = selection_hit(selection)
                found = Found([hit], 1.0, [Part(question, [hit], 1.0)])
            else:
                found = await self.search_agent.find(question, k, flt)
                if selection:  # the highlighted passage comes first; the book fills in the rest
                    hit = selection_hit(selection)
                    evidence = max(found.evidence, self.settings.evidence_threshold)
                    found = Found([hit, *found.hits], evidence, [Part(p.question, [hit, *p.hits], evidence, p.query) for p in found.parts])
            contexts = [to_context(h) for h in found.hits]
            yield "retrieval", contexts
            async for kind, data in self._write(question, session_id, found, contexts, selection, mode):
                if kind == "done":
                    result = data
                else:
                    yield kind, data
            assert result is not None
            if not result.degraded:
                await self.cache.set("answer", key, json.dumps(result.model_dump()).encode(), self.settings.cache_answer_ttl_seconds)
        if reply is not None or guarded or off_topic or cached is not None:
            for event in whole(result.answer, result.citations):
                yield event
        result.latency_ms = round((time.perf_counter() - started) * 1000, 3)
        await self.logging_agent.record(
            Turn(
                answer_id=result.answer_id,
                session_id=session_id,
                question=asked,
                answer=result.answer,
                citations=[c.model_dump() for c in result.citations],
                provider=result.provider,
                latency_ms=result.latency_ms,
                prompt_tokens=approx_tokens(asked),
                completion_tokens=approx_tokens(result.answer),
                refused=result.refused,
                confidence=result.confidence_score,
            )
        )
        yield "done", result

    async def _previous_questions(self, session_id: str, turns: int = 2) -> list[str]:
        """The session's latest questions; none if the database cannot be read right now."""
        if self.db is None:
            return []
        try:
            async with asyncio.timeout(self.settings.db_timeout_seconds), transaction(self.db) as session:
                return [m.question for m in await SessionRepository(session).history(session_id, turns)]
        except (DBAPIError, OSError, TimeoutError):
            return []

    def _extractive(self, found: Found, selection_only: bool) -> tuple[Composed | None, list[str]]:
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

    async def _write(
        self, question: str, session_id: str, found: Found, contexts: list[RetrievedContext], selection: str | None, mode: str
    ) -> AsyncIterator[Event]:
        selection_only = bool(selection) and mode == "selection_only"
        route = "selection" if selection_only else "book"
        composed, uncovered = self._extractive(found, selection_only)
        confidence = round(min(1.0, max(0.0, found.evidence)), 4)
        if composed is None:
            if selection_only:
                answer = NOT_IN_SELECTION
            elif is_task_request(question):
                answer, route = OFF_TOPIC, "out_of_scope"
            else:
                answer = self._not_covered(found.hits)
            yield "done", self._response(session_id, answer, retrieved_contexts=contexts, confidence_score=confidence, refused=True, route=route)
            return
        if self.provider is not None:
            outcome = Outcome()
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
                yield (
                    "done",
                    self._response(
                        session_id,
                        " ".join(sentences),
                        citations=sorted(citations.values(), key=lambda c: c.id),
                        retrieved_contexts=contexts,
                        confidence_score=confidence,
                        provider=self.provider.name,
                        route=route,
                        degraded=outcome.failure is not None,
                        removed_sentences=len(outcome.removed),
                    ),
                )
                return
            if outcome.said_not_in_book and not selection_only:
                answer = self._not_covered(found.hits)
                yield (
                    "done",
                    self._response(session_id, answer, retrieved_contexts=contexts, confidence_score=confidence, refused=True, provider=self.provider.name),
                )
                return
            degraded, removed = True, len(outcome.removed)  # the model failed, timed out or wrote nothing the book supports
        else:
            degraded, removed = False, 0
        answer = composed.answer
        if uncovered and len(found.parts) > 1:
            answer += " " + not_covered_parts(uncovered)
        citations_list = [Citation(**c) for c in composed.citations]
        for event in whole(answer, citations_list):
            yield event
        yield (
            "done",
            self._response(
                session_id,
                answer,
                citations=citations_list,
                retrieved_contexts=contexts,
                confidence_score=confidence,
                route=route,
                degraded=degraded,
                removed_sentences=removed,
            ),
        )
