"""Answering a question: retrieve, compose a cited answer (or say the book does not cover it),
record the turn through the LoggingAgent, cache the answer for the current index version."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.answering.extractive import compose
from src.answering.followup import standalone
from src.answering.routing import smalltalk_reply
from src.answering.schemas import AnswerResponse, Citation
from src.kit.cache import Cache
from src.kit.db import transaction
from src.kit.metrics import stage
from src.kit.settings import Settings
from src.retrieval.fusion import Fused
from src.retrieval.schemas import RetrievedContext
from src.retrieval.service import RetrievalService, SearchResult, normalise_question
from src.retrieval.store.base import SearchFilter
from src.sessions.logging_agent import LoggingAgent, Turn
from src.sessions.repository import SessionRepository

PROVIDER = "extractive"
NOT_COVERED = "The textbook does not seem to cover this question, so I can't answer it from the book."


BORDERLINE_EVIDENCE = 0.05
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


class AnswerService:
    def __init__(
        self,
        settings: Settings,
        retrieval: RetrievalService,
        cache: Cache,
        logging_agent: LoggingAgent,
        db: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.retrieval = retrieval
        self.cache = cache
        self.logging_agent = logging_agent

    def _not_covered(self, hits: list[Fused]) -> str:
        closest = []
        for hit in hits[:3]:
            p = hit.payload
            title, section = p.get("title") or p.get("source_file") or "", p.get("section")
            label = f"{title} > {section}" if section and section != title else title
            closest.append(f"{label} ({p['url']})" if p.get("url") else label)
        if not closest:
            return NOT_COVERED
        return NOT_COVERED + " The closest sections are: " + "; ".join(closest) + "."

    async def answer(
        self, question: str, k: int, session_id: str | None, flt: SearchFilter | None, selection: str | None = None, mode: str = "book"
    ) -> AnswerResponse:
        result: AnswerResponse | None = None
        async for kind, data in self.stream(question, k, session_id, flt, selection, mode):
            if kind == "done":
                result = data  # type: ignore[assignment]
        if result is None:  # pragma: no cover - stream() always ends with "done"
            raise RuntimeError("the answer stream ended without an answer")
        return result

    async def stream(
        self, question: str, k: int, session_id: str | None, flt: SearchFilter | None, selection: str | None = None, mode: str = "book"
    ) -> AsyncIterator[tuple[str, list[RetrievedContext] | AnswerResponse]]:
        """("retrieval", contexts) as soon as the passages are known, before any answering; then
        ("done", the full response), recorded by the LoggingAgent. Cached per question, filters and
        index version."""
        started = time.perf_counter()
        flt = flt or SearchFilter()
        session_id_given = session_id is not None
        session_id = session_id or uuid.uuid4().hex
        reply = None if selection else smalltalk_reply(question)
        asked = question  # what the student typed; `question` becomes the standalone search question
        if reply is None and session_id_given and not selection:
            question = standalone(question, await self._previous_questions(session_id))
        version = await self.cache.index_version()
        selected = hashlib.sha256(selection.encode()).hexdigest() if selection else ""
        key = hashlib.sha256(f"{version}|{normalise_question(question)}|{k}|{flt.cache_key()}|{mode}|{selected}".encode()).hexdigest()
        cached = await self.cache.get("answer", key)
        if reply is not None:  # a greeting or a question about the assistant: no search, no citations
            yield "retrieval", []
            result = AnswerResponse(
                answer_id=uuid.uuid4().hex,
                session_id=session_id,
                answer=reply,
                citations=[],
                retrieved_contexts=[],
                confidence_score=1.0,
                refused=False,
                provider=PROVIDER,
                latency_ms=0.0,
                route="smalltalk",
            )
        elif cached is not None:
            body: dict[str, Any] = json.loads(cached)
            result = AnswerResponse(**{**body, "answer_id": uuid.uuid4().hex, "session_id": session_id})
            yield "retrieval", result.retrieved_contexts
        elif selection and mode == "selection_only":
            hit = selection_hit(selection)
            yield "retrieval", [to_context(hit)]
            result = self._from_selection(question, session_id, hit)
            result.route = "selection"
            await self.cache.set("answer", key, json.dumps(result.model_dump()).encode(), self.settings.cache_answer_ttl_seconds)
        else:
            search = await self.retrieval.search(question, k, flt)
            if selection:  # the highlighted passage comes first; the book fills in the rest
                search = SearchResult([selection_hit(selection), *search.hits], max(search.evidence, self.settings.evidence_threshold), search.latency_ms)
            contexts = [to_context(h) for h in search.hits]
            yield "retrieval", contexts
            result = self._compose(question, session_id, search, contexts)
            await self.cache.set("answer", key, json.dumps(result.model_dump()).encode(), self.settings.cache_answer_ttl_seconds)
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

    def _from_selection(self, question: str, session_id: str, hit: Fused) -> AnswerResponse:
        with stage("answer"):
            composed = compose(question, [hit])
        return AnswerResponse(
            answer_id=uuid.uuid4().hex,
            session_id=session_id,
            answer=composed.answer if composed else NOT_IN_SELECTION,
            citations=[Citation(**c) for c in composed.citations] if composed else [],
            retrieved_contexts=[to_context(hit)],
            confidence_score=1.0 if composed else 0.0,
            refused=composed is None,
            provider=PROVIDER,
            latency_ms=0.0,
        )

    def _compose(self, question: str, session_id: str, search: SearchResult, contexts: list[RetrievedContext] | None = None) -> AnswerResponse:
        contexts = contexts if contexts is not None else [to_context(h) for h in search.hits]
        composed = None
        threshold = self.settings.evidence_threshold
        if search.evidence >= threshold - BORDERLINE_EVIDENCE:
            with stage("answer"):
                composed = compose(question, search.hits)
            # Just under the threshold, answer only when one sentence covers most of the question's terms.
            if composed is not None and search.evidence < threshold and composed.coverage < STRONG_COVERAGE:
                composed = None
        if composed is None:
            return AnswerResponse(
                answer_id=uuid.uuid4().hex,
                session_id=session_id,
                answer=self._not_covered(search.hits),
                citations=[],
                retrieved_contexts=contexts,
                confidence_score=round(max(0.0, search.evidence), 4),
                refused=True,
                provider=PROVIDER,
                latency_ms=0.0,
            )
        return AnswerResponse(
            answer_id=uuid.uuid4().hex,
            session_id=session_id,
            answer=composed.answer,
            citations=[Citation(**c) for c in composed.citations],
            retrieved_contexts=contexts,
            confidence_score=round(min(1.0, max(0.0, search.evidence)), 4),
            refused=False,
            provider=PROVIDER,
            latency_ms=0.0,
        )
