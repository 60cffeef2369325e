"""The orchestrator: routes each turn (`classify`), hands it to the handler of its kind (a fixed
reply, an answer cached, the book, the highlighted passage), and has the turn recorder record it. A
searched turn has the search agent find the passages and the answer writer write the answer. Answers
are cached per question, filters, mode, selection, provider and index version; a degraded answer is
not cached."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Literal

from anyio import to_thread
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.answering.brief import Brief, brief_of, plain_brief, read_question
from src.answering.chapters import OVERVIEW_QUERY, asks_about_page, asks_overview, page_source
from src.answering.classify import HistoryLoader, Routed, classify
from src.answering.events import Done, Event, Retrieval, whole
from src.answering.followup import PastTurn
from src.answering.providers import Provider
from src.answering.question import Question
from src.answering.recording import approx_tokens, landing, previous_turns
from src.answering.refusals import OFF_TASK
from src.answering.routes import ASKED, Route
from src.answering.schemas import AnswerResponse
from src.answering.search_agent import Found, SearchAgent
from src.answering.selection import selection_first, selection_only
from src.answering.writer import EXTRACTIVE, AnswerWriter, Written
from src.kit.cache import Cache
from src.kit.errors import ServiceUnavailable
from src.kit.settings import Settings
from src.retrieval.fusion import Preference
from src.retrieval.schemas import to_context
from src.retrieval.service import RetrievalService, normalise_question
from src.retrieval.store.base import SearchFilter
from src.sessions.recorder import Turn, TurnRecorder
from src.sessions.vectors import to_bytes

FOLLOW_UP_BONUS = 0.08
SESSION_BONUS = 0.03
SECTION_BONUS = 0.12
PAGE_BONUS = 0.08
THIS_PAGE_BONUS = 0.5  # "this chapter": the page the reader is on, unless it has nothing on the question
OVERVIEW_PASSAGES = 20  # a chapter question reads this many of the chapter's passages
ANSWER_SHAPE = "3"  # the cached response's fields: an answer cached before `refusal` existed is not served
SELECTION_QUERY_CHARS = 600
EXAMPLE_PASSAGES = 10  # an example the selection lacks is looked for in more of the book


@dataclass(frozen=True)
class Asked:
    """What a student asked: the question, and how to answer it."""

    question: str
    k: int = 5
    session_id: str | None = None
    filters: SearchFilter | None = None
    selection: str | None = None  # the highlighted passage
    mode: Literal["book", "selection_only"] = "book"
    page: str | None = None  # the page the reader is on
    streamed: bool = False  # answered as a stream (a model may go on past its first sentence's deadline)

    @property
    def selection_only(self) -> bool:
        return bool(self.selection) and self.mode == "selection_only"


@dataclass(frozen=True)
class Incoming:
    """A turn on its way to its handler: what was asked, how it was routed, and its session."""

    asked: Asked
    routed: Routed
    session_id: str


def respond(turn: Incoming, route: Route, written: Written, found: Found | None = None) -> AnswerResponse:
    """The answer as clients get it, with a fresh answer id: what was written (or the refusal), for the
    route the turn took, with the passages found and how strongly the book bears on the question."""
    contexts = [to_context(h) for h in found.hits] if found else []
    confidence = round(min(1.0, max(0.0, found.evidence)), 4) if found else 1.0 if route is Route.SMALLTALK else 0.0
    return written.response(
        uuid.uuid4().hex, turn.session_id, route, contexts, confidence, redirect=turn.routed.redirect
    )


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

    async def answer(self, asked: Asked) -> AnswerResponse:
        async for event in self.stream(asked):
            if isinstance(event, Done):
                return event.response
        raise RuntimeError("the answer stream ended without an answer")  # pragma: no cover - stream() ends with Done

    async def stream(self, asked: Asked) -> AsyncIterator[Event]:
        """`Retrieval` as soon as the passages are known, before any answering; then `Delta` and
        `CitationEvent` as the answer is written, and `Done` (the full response), recorded with the session."""
        started = time.perf_counter()
        if self.recorder.saturated:
            # The database has been away long enough that the buffer of unrecorded turns is full.
            raise ServiceUnavailable("The service is catching up with its database; retry shortly.", retry_after=5)
        history = self._history(asked.session_id) if asked.session_id is not None else None
        session_id, history = await self.recorder.session_for(asked.session_id, history)
        routed = await classify(asked.question, asked.selection, asked.selection_only, history)
        turn = Incoming(asked, routed, session_id)
        result: AnswerResponse | None = None
        async for event in self._dispatch(turn):
            match event:
                case Done(response):
                    result = response
                case _:
                    yield event
        assert result is not None, "every handler ends with Done"
        result.standalone_question = routed.question.text if routed.follow_up else None
        result.latency_ms = round((time.perf_counter() - started) * 1000, 3)
        await self._record(turn, result)
        yield Done(result)

    async def _dispatch(self, turn: Incoming) -> AsyncIterator[Event]:
        """The turn to the handler of its kind; a searched turn answered before comes from the cache."""
        match turn.routed.route:
            case Route.SMALLTALK | Route.OUT_OF_SCOPE:
                handler = self._fixed_reply(turn)
            case Route.BOOK | Route.SELECTION as route:
                preference = self._preference(turn.routed, turn.asked.page)
                key = await self._cache_key(turn, preference)
                cached = await self.cache.get("answer", key)
                if cached is not None:
                    handler = self._cached(turn, cached)
                elif route is Route.SELECTION:
                    handler = self._selection(turn, key)
                else:
                    handler = self._book(turn, key, preference)
        async for event in handler:
            yield event

    async def _fixed_reply(self, turn: Incoming) -> AsyncIterator[Event]:
        """Small talk's reply, or the redirect of a turn out of scope: no search, no citations."""
        yield Retrieval([])
        routed = turn.routed
        written = Written(routed.reply or "") if routed.route is Route.SMALLTALK else Written(refusal=OFF_TASK)
        result = respond(turn, routed.route, written)
        for event in whole(result.answer, result.citations):
            yield event
        yield Done(result)

    async def _cached(self, turn: Incoming, cached: bytes) -> AsyncIterator[Event]:
        """An answer given before to the same question, filters, selection and preferences."""
        result = AnswerResponse.model_validate(
            {**json.loads(cached), "answer_id": uuid.uuid4().hex, "session_id": turn.session_id}
        )
        yield Retrieval(result.retrieved_contexts)
        for event in whole(result.answer, result.citations, result.blocks):
            yield event
        yield Done(result)

    async def _book(self, turn: Incoming, key: str, preference: Preference) -> AsyncIterator[Event]:
        """A question for the book: the passages the search finds (after the highlighted passage, if any)."""
        brief = await self._brief(turn)
        asked = turn.asked
        # "Explain this" about a selection is searched by the selection's content, not by "explain this".
        query = (
            Question.parse(asked.selection[:SELECTION_QUERY_CHARS])
            if asked.selection and brief.intent
            else brief.question
        )
        wanted = max(asked.k, EXAMPLE_PASSAGES) if brief.intent and brief.intent.kind == "example" else asked.k
        flt = asked.filters or SearchFilter()
        # "What does this chapter cover?": the reader's page alone, read from its overview and objectives.
        source = await self._this_page(asked, brief.question, flt, preference)
        if source is not None:
            flt = replace(flt, source_files=(source,))
            if asks_overview(brief.question.text):
                brief = replace(brief, overview=True)
                query, wanted = Question.parse(OVERVIEW_QUERY), max(wanted, OVERVIEW_PASSAGES)
        found = await self.search_agent.find(query, wanted, flt, preference)
        if source is not None and not found.hits:  # the page is not indexed: the whole book
            brief = replace(brief, overview=False)
            found = await self.search_agent.find(brief.question, asked.k, asked.filters or SearchFilter(), preference)
        if asked.selection:  # the highlighted passage comes first; the book fills in the rest
            found = selection_first(found, asked.selection, self.settings.evidence_threshold)
        async for event in self._write(turn, brief, found, key):
            yield event

    async def _this_page(
        self, asked: Asked, question: Question, flt: SearchFilter, preference: Preference
    ) -> str | None:
        """The source file of the reader's page, for a question about "this chapter" (not about a selection):
        the page itself when it names a file, else the file of the passages found on the page it is the URL
        or path of."""
        if not asked.page or asked.selection or flt.source_files or not asks_about_page(question.text):
            return None
        named = page_source(asked.page)
        if named is not None:
            return named
        on_page = Preference(page=asked.page)
        found = await self.search_agent.retrieval.search(question.text, OVERVIEW_PASSAGES, flt, None, preference)
        return next((h.passage.source_file for h in found.hits if on_page.lift(h) > 0), None)

    async def _selection(self, turn: Incoming, key: str) -> AsyncIterator[Event]:
        """A question answered from the highlighted passage alone."""
        assert turn.asked.selection is not None
        brief = await self._brief(turn)
        async for event in self._write(turn, brief, selection_only(brief.question, turn.asked.selection), key):
            yield event

    async def _write(self, turn: Incoming, brief: Brief, found: Found, key: str) -> AsyncIterator[Event]:
        yield Retrieval([to_context(h) for h in found.hits])
        written = Written()
        async for event in self.writer.write(found, brief):
            match event:
                case Written():
                    written = event
                case _:
                    yield event
        # A task the book does not answer ("write me a script...") is out of scope, not a gap in the book.
        off_task = written.refusal is not None and written.refusal.reason == "off_task"
        result = respond(turn, Route.OUT_OF_SCOPE if off_task else turn.routed.route, written, found)
        if not result.degraded and len(turn.asked.selection or "") <= self.settings.cache_answer_max_selection_chars:
            await self.cache.set(
                "answer", key, json.dumps(result.model_dump()).encode(), self.settings.cache_answer_ttl_seconds
            )
        yield Done(result)

    async def _cache_key(self, turn: Incoming, preference: Preference) -> str:
        """The answer's cache key: all that shapes it, the sentences a follow-up's student has just read included."""
        asked, routed = turn.asked, turn.routed
        version = await self.cache.index_version()
        selected = hashlib.sha256(asked.selection.encode()).hexdigest() if asked.selection else ""
        shown = hashlib.sha256("\x1f".join(routed.seen).encode()).hexdigest() if routed.seen else ""
        flt = (asked.filters or SearchFilter()).cache_key()
        question = normalise_question(routed.question.text)
        fields = (
            ANSWER_SHAPE,
            version,
            self.provider_name,
            question,
            asked.k,
            flt,
            asked.mode,
            selected,
            preference.cache_key(),
            shown,
        )
        key_text = "|".join(str(f) for f in fields)
        return hashlib.sha256(key_text.encode()).hexdigest()

    @staticmethod
    def _preference(routed: Routed, page: str | None) -> Preference:
        """The conversation's files (strongly for a follow-up, lightly for a new question in the session, so
        a change of topic is not held back) and the reader's page: softly, or all but as a filter when the
        question means it ("what does this chapter say about X?")."""
        bonus = FOLLOW_UP_BONUS if routed.follow_up else SESSION_BONUS
        page_bonus = THIS_PAGE_BONUS if page and asks_about_page(routed.question.text) else PAGE_BONUS
        return Preference(
            sources=routed.conversation_sources,
            page=page,
            bonus=bonus,
            page_bonus=page_bonus,
            book_bonus=bonus,
            sections=routed.conversation_sections,
            section_bonus=SECTION_BONUS,
        )

    async def _brief(self, turn: Incoming) -> Brief:
        """What the writer needs to know of the question: what it asks of a selection, and what the book's
        own words say about it (how rare each of its words is, which of its names the book never uses)."""
        asked, routed = turn.asked, turn.routed
        plain = plain_brief(routed, asked.selection, asked.selection_only, asked.streamed)
        if routed.intent is not None:
            return plain
        reading = await to_thread.run_sync(read_question, routed.question, plain.selection_only)
        looked_up = set(reading.lookups)
        names = [w for sp in reading.specifics for w in sp.words if w in looked_up]
        facts = await self.retrieval.word_facts(reading.lookups, reading.phrases, names)
        return await to_thread.run_sync(brief_of, plain, reading, facts)

    async def _record(self, turn: Incoming, result: AnswerResponse) -> None:
        """The turn, with what the author's reports need: how it was answered, where in the book it
        landed, and the searched question's embedding (already cached by the search), for grouping."""
        asked, routed = turn.asked, turn.routed
        where = landing(result)
        searched = result.route in ASKED and routed.intent is None
        vector = to_bytes(await self.retrieval.embed_query(routed.question.text)) if searched else None
        await self.recorder.record(
            Turn(
                answer_id=result.answer_id,
                session_id=turn.session_id,
                question=asked.question,
                answer=result.answer,
                citations=result.citations,
                provider=result.provider,
                latency_ms=result.latency_ms,
                prompt_tokens=approx_tokens(asked.question),
                completion_tokens=approx_tokens(result.answer),
                refused=result.refused,
                confidence=result.confidence_score,
                standalone_question=result.standalone_question,
                page=asked.page,
                route=result.route,
                selection_mode=asked.mode if asked.selection else None,
                degraded=result.degraded,
                top_source_file=where.source_file,
                top_chapter=where.chapter,
                top_section=where.section,
                top_url=where.url,
                question_vector=vector,
            )
        )

    def _history(self, session_id: str) -> HistoryLoader:
        async def load() -> list[PastTurn]:
            return await previous_turns(self.db, self.settings.db_timeout_seconds, session_id)

        return load
