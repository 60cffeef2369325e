"""The orchestrator: routes each turn (`classify`), has the search agent find the passages, the
answer writer write the answer, and the turn recorder record it. Answers are cached per question,
filters, mode, selection, provider and index version; a degraded answer is not cached."""

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

from src.answering.classify import HistoryLoader, Route, classify
from src.answering.events import Event, whole
from src.answering.providers import Provider
from src.answering.schemas import AnswerResponse
from src.answering.search_agent import Found, SearchAgent
from src.answering.selection import selection_first, selection_only
from src.answering.writer import EXTRACTIVE, AnswerWriter, respond
from src.kit.cache import Cache
from src.kit.db import transaction
from src.kit.errors import ServiceUnavailable
from src.kit.settings import Settings
from src.retrieval.schemas import to_context
from src.retrieval.service import RetrievalService, normalise_question
from src.retrieval.store.base import SearchFilter
from src.sessions.recorder import Turn, TurnRecorder
from src.sessions.repository import SessionRepository


def approx_tokens(*texts: str) -> int:
    return sum(max(1, len(t) // 4) for t in texts)


class AnswerService:
    def __init__(
        self,
        settings: Settings,
        retrieval: RetrievalService,
        cache: Cache,
        recorder: TurnRecorder,
        db: async_sessionmaker[AsyncSession] | None = None,
        provider: Provider | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.retrieval = retrieval
        self.search_agent = SearchAgent(retrieval, settings.evidence_threshold)
        self.writer = AnswerWriter(settings, provider)
        self.cache = cache
        self.recorder = recorder
        self.provider = provider

    @property
    def provider_name(self) -> str:
        return self.provider.name if self.provider else EXTRACTIVE

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
        response), recorded with the session."""
        started = time.perf_counter()
        if self.recorder.saturated:
            # The database has been away long enough that the buffer of unrecorded turns is full.
            raise ServiceUnavailable("The service is catching up with its database; retry shortly.", retry_after=5)
        flt = flt or SearchFilter()
        history = self._history(session_id) if session_id is not None else None
        session_id = session_id or uuid.uuid4().hex
        route = await classify(question, selection, history)
        result: AnswerResponse | None = None
        replay = True  # an answer that is whole already (a fixed reply, a cached answer) is streamed in pieces
        if route.reply is not None:  # small talk, manipulation, creative requests: no search, no citations
            yield "retrieval", []
            result = self._fixed_reply(session_id, route)
        else:
            key = await self._cache_key(route.question, k, flt, mode, selection)
            cached = await self.cache.get("answer", key)
            if cached is not None:
                body: dict[str, Any] = json.loads(cached)
                result = AnswerResponse(**{**body, "answer_id": uuid.uuid4().hex, "session_id": session_id})
                yield "retrieval", result.retrieved_contexts
            else:
                found = await self._find(route.question, k, flt, selection, mode)
                contexts = [to_context(h) for h in found.hits]
                yield "retrieval", contexts
                async for kind, data in self.writer.write(route.question, session_id, found, contexts, bool(selection) and mode == "selection_only"):
                    if kind == "done":
                        result = data
                    else:
                        yield kind, data
                assert result is not None
                if not result.degraded:
                    await self.cache.set("answer", key, json.dumps(result.model_dump()).encode(), self.settings.cache_answer_ttl_seconds)
                replay = False
        assert result is not None
        if replay:
            for event in whole(result.answer, result.citations):
                yield event
        result.latency_ms = round((time.perf_counter() - started) * 1000, 3)
        await self._record(question, session_id, result)
        yield "done", result

    def _fixed_reply(self, session_id: str, route: Route) -> AnswerResponse:
        assert route.reply is not None
        if route.kind == "smalltalk":
            return respond(session_id, route.reply, confidence_score=1.0, route="smalltalk")
        return respond(session_id, route.reply, refused=True, route="out_of_scope")

    async def _cache_key(self, question: str, k: int, flt: SearchFilter, mode: str, selection: str | None) -> str:
        version = await self.cache.index_version()
        selected = hashlib.sha256(selection.encode()).hexdigest() if selection else ""
        key_text = f"{version}|{self.provider_name}|{normalise_question(question)}|{k}|{flt.cache_key()}|{mode}|{selected}"
        return hashlib.sha256(key_text.encode()).hexdigest()

    async def _find(self, question: str, k: int, flt: SearchFilter, selection: str | None, mode: str) -> Found:
        if selection and mode == "selection_only":
            return selection_only(question, selection)
        found = await self.search_agent.find(question, k, flt)
        # The highlighted passage comes first; the book fills in the rest.
        return selection_first(found, selection, self.settings.evidence_threshold) if selection else found

    async def _record(self, asked: str, session_id: str, result: AnswerResponse) -> None:
        await self.recorder.record(
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

    def _history(self, session_id: str) -> HistoryLoader:
        async def load() -> list[str]:
            return await self._previous_questions(session_id)

        return load

    async def _previous_questions(self, session_id: str, turns: int = 2) -> list[str]:
        """The session's latest questions; none if the database cannot be read right now. Its own short
        transaction: a streamed answer outlives the request's."""
        if self.db is None:
            return []
        try:
            async with asyncio.timeout(self.settings.db_timeout_seconds), transaction(self.db) as session:
                return [m.question for m in await SessionRepository(session).history(session_id, turns)]
        except (DBAPIError, OSError, TimeoutError):
            return []
