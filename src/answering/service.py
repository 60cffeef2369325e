"""The orchestrator: routes each turn (`classify`), has the search agent find the passages, the
answer writer write the answer, and the turn recorder record it. Answers are cached per question,
filters, mode, selection, provider and index version; a degraded answer is not cached."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

from anyio import to_thread
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.answering.classify import HistoryLoader, Route, classify
from src.answering.coverage import Specific, specific_terms, unmentioned
from src.answering.events import Event, whole
from src.answering.followup import PastTurn
from src.answering.highlight import Intent, intent_of
from src.answering.providers import Provider
from src.answering.schemas import AnswerResponse
from src.answering.search_agent import Found, SearchAgent
from src.answering.selection import SELECTION_ID, selection_first, selection_only
from src.answering.writer import EXTRACTIVE, AnswerWriter, Brief, respond
from src.kit.cache import Cache
from src.kit.db import transaction
from src.kit.errors import ServiceUnavailable
from src.kit.settings import Settings
from src.kit.text import terms
from src.retrieval.fusion import Preference
from src.retrieval.schemas import to_context
from src.retrieval.service import RetrievalService, WordFacts, normalise_question
from src.retrieval.store.base import SearchFilter
from src.retrieval.vocabulary import COUNT_CAP
from src.sessions.recorder import Turn, TurnRecorder
from src.sessions.repository import SessionRepository
from src.sessions.vectors import to_bytes

FOLLOW_UP_BONUS = 0.08
SESSION_BONUS = 0.03
SECTION_BONUS = 0.12
PAGE_BONUS = 0.08
THIS_PAGE_BONUS = 0.5  # "this chapter": the page the reader is on, unless it has nothing on the question
_THIS_PAGE = re.compile(
    r"\b(this|the current|current|that) (chapter|page|section|lesson|article|part of the book)\b", re.I
)  # on top, for the sections a follow-up's previous answer cited
SELECTION_QUERY_CHARS = 600
EXAMPLE_PASSAGES = 10  # an example the selection lacks is looked for in more of the book
RARE_SHARE = 0.7  # a word weighing this share of the rarest possible is one few passages hold
# What one question may look up in the store (each word and phrase is a search): a question's first
# distinct words and names, and its first names of a few words. A word past these weighs as an average
# one, and a name past them counts as held by the book.
MAX_LOOKUP_WORDS = 128  # the longest quiz question in the shared sets has 71
MAX_LOOKUP_PHRASES = 16
MAX_PHRASE_WORDS = 8
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9+#'_-]*")


@dataclass(frozen=True)
class Reading:
    """What the brief reads of a question before it asks the store anything."""

    intent: Intent | None
    words: list[str]  # the question's content words, as written
    specifics: list[Specific]  # the names in it
    lookups: list[str]  # the words and names whose counts and weights are asked for
    phrases: list[str]  # the names of several words whose occurrence is asked for


def read_question(question: str, selection: str | None, selection_only: bool) -> Reading:
    """CPU work on the client's text, run in a worker thread: its intent (about a selection), its words and
    names, and the bounded set of them to look up."""
    intent = intent_of(question) if selection else None
    if intent is not None:
        return Reading(intent, [], [], [], [])
    words = [w for w in _WORD.findall(question) if terms(w)]
    specifics = [] if selection_only else specific_terms(question)
    names = [w for sp in specifics for w in sp.words]
    lookups = list(dict.fromkeys(words + names))[:MAX_LOOKUP_WORDS]
    phrases = list(dict.fromkeys(sp.text for sp in specifics if 1 < len(sp.words) <= MAX_PHRASE_WORDS))[:MAX_LOOKUP_PHRASES]
    return Reading(None, words, specifics, lookups, phrases)


def brief_of(question: str, selection: str | None, selection_only: bool, reading: Reading, facts: WordFacts) -> Brief:
    """The brief from what the store says of the question's words (CPU work too: a worker thread)."""
    weights = {terms(w)[0]: facts.weights[w] for w in reading.words if w in facts.weights}

    # A name spelt one letter off from a name the book holds is the student's typo, not a new name.
    def held(word: str) -> int:
        return COUNT_CAP if facts.variants.get(word) else facts.counts.get(word, COUNT_CAP)

    missing = unmentioned(reading.specifics, held, lambda p: facts.phrases.get(p, True))
    return Brief(question, selection, selection_only, None, weights, tuple(missing), RARE_SHARE * facts.max_weight)


@dataclass(frozen=True)
class Asked:
    """What a student asked: the question, and how to answer it."""

    question: str
    k: int = 5
    session_id: str | None = None
    filters: SearchFilter | None = None
    selection: str | None = None  # the highlighted passage
    mode: str = "book"  # book | selection_only
    page: str | None = None  # the page the reader is on
    streamed: bool = False  # answered as a stream (a model may go on past its first sentence's deadline)


def approx_tokens(*texts: str) -> int:
    return sum(max(1, len(t) // 4) for t in texts)


def landing(result: AnswerResponse) -> tuple[str | None, str | None, str | None, str | None]:
    """Where in the book a turn landed: its top citation's file, chapter, section and URL; for a refusal,
    the closest section the search found (where the missing text would go)."""
    contexts = {c.chunk_id: c.metadata for c in result.retrieved_contexts}
    book = [c for c in result.citations if c.chunk_id != SELECTION_ID]
    if book:
        meta = contexts.get(book[0].chunk_id, {})
        return book[0].source_file, meta.get("chapter") or book[0].title, book[0].section, book[0].url
    closest = next((c.metadata for c in result.retrieved_contexts if c.chunk_id != SELECTION_ID), None)
    if closest is None:
        return None, None, None, None
    return closest.get("source_file"), closest.get("chapter") or closest.get("title"), closest.get("section"), closest.get("url")


def cited_sources(citations: list[dict[str, Any]]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(str(c["source_file"]) for c in citations if c.get("source_file")))


def cited_quotes(citations: list[dict[str, Any]]) -> tuple[str, ...]:
    return tuple(str(c["quote"]) for c in citations if c.get("quote"))


def cited_sections(citations: list[dict[str, Any]]) -> tuple[tuple[str, str], ...]:
    return tuple(dict.fromkeys((str(c["source_file"]), str(c.get("section") or "")) for c in citations if c.get("source_file")))


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
        result: AnswerResponse | None = None
        async for kind, data in self.stream(asked):
            if kind == "done":
                result = data
        if result is None:  # pragma: no cover - stream() always ends with "done"
            raise RuntimeError("the answer stream ended without an answer")
        return result

    async def stream(self, asked: Asked) -> AsyncIterator[Event]:
        """("retrieval", contexts) as soon as the passages are known, before any answering; then
        ("delta", text) and ("citation", Citation) as the answer is written, and ("done", the full
        response), recorded with the session."""
        question, k, session_id, selection, mode, page = asked.question, asked.k, asked.session_id, asked.selection, asked.mode, asked.page
        started = time.perf_counter()
        if self.recorder.saturated:
            # The database has been away long enough that the buffer of unrecorded turns is full.
            raise ServiceUnavailable("The service is catching up with its database; retry shortly.", retry_after=5)
        flt = asked.filters or SearchFilter()
        history = self._history(session_id) if session_id is not None else None
        session_id, history = await self.recorder.session_for(session_id, history)
        route = await classify(question, selection, history)
        result: AnswerResponse | None = None
        replay = True  # an answer that is whole already (a fixed reply, a cached answer) is streamed in pieces
        if route.reply is not None:  # small talk, manipulation, creative requests: no search, no citations
            yield "retrieval", []
            result = self._fixed_reply(session_id, route)
        else:
            preference = self._preference(route, page)
            key = await self._cache_key(route.question, k, flt, mode, selection, preference, route.seen)
            cached = await self.cache.get("answer", key)
            if cached is not None:
                body: dict[str, Any] = json.loads(cached)
                result = AnswerResponse(**{**body, "answer_id": uuid.uuid4().hex, "session_id": session_id})
                yield "retrieval", result.retrieved_contexts
            else:
                brief = replace(
                    await self._brief(route.question, selection, mode), follow_up=route.follow_up, seen=route.seen, asked=question, streamed=asked.streamed
                )
                found = await self._find(brief, k, flt, preference)
                contexts = [to_context(h) for h in found.hits]
                yield "retrieval", contexts
                async for kind, data in self.writer.write(session_id, found, contexts, brief):
                    if kind == "done":
                        result = data
                    else:
                        yield kind, data
                assert result is not None
                if not result.degraded and len(selection or "") <= self.settings.cache_answer_max_selection_chars:
                    await self.cache.set("answer", key, json.dumps(result.model_dump()).encode(), self.settings.cache_answer_ttl_seconds)
                replay = False
        assert result is not None
        result.standalone_question = route.question if route.follow_up else None
        if replay:
            for event in whole(result.answer, result.citations):
                yield event
        result.latency_ms = round((time.perf_counter() - started) * 1000, 3)
        await self._record(asked, route, session_id, result)
        yield "done", result

    def _fixed_reply(self, session_id: str, route: Route) -> AnswerResponse:
        assert route.reply is not None
        if route.kind == "smalltalk":
            return respond(session_id, route.reply, confidence_score=1.0, route="smalltalk")
        return respond(session_id, route.reply, refused=True, route="out_of_scope")

    async def _cache_key(
        self, question: str, k: int, flt: SearchFilter, mode: str, selection: str | None, preference: Preference, seen: tuple[str, ...] = ()
    ) -> str:
        """The answer's cache key: all that shapes it, the sentences a follow-up's student has just read included."""
        version = await self.cache.index_version()
        selected = hashlib.sha256(selection.encode()).hexdigest() if selection else ""
        shown = hashlib.sha256("\x1f".join(seen).encode()).hexdigest() if seen else ""
        key_text = f"{version}|{self.provider_name}|{normalise_question(question)}|{k}|{flt.cache_key()}|{mode}|{selected}|{preference.cache_key()}|{shown}"
        return hashlib.sha256(key_text.encode()).hexdigest()

    @staticmethod
    def _preference(route: Route, page: str | None) -> Preference:
        """The conversation's files (strongly for a follow-up, lightly for a new question in the session, so
        a change of topic is not held back) and the reader's page: softly, or all but as a filter when the
        question means it ("what does this chapter say about X?")."""
        bonus = FOLLOW_UP_BONUS if route.follow_up else SESSION_BONUS
        page_bonus = THIS_PAGE_BONUS if page and _THIS_PAGE.search(route.question) else PAGE_BONUS
        return Preference(
            sources=route.conversation_sources,
            page=page,
            bonus=bonus,
            page_bonus=page_bonus,
            book_bonus=bonus,
            sections=route.conversation_sections,
            section_bonus=SECTION_BONUS,
        )

    async def _brief(self, question: str, selection: str | None, mode: str) -> Brief:
        """What the writer needs to know of the question: what it asks of a selection, and what the book's
        own words say about it (how rare each of its words is, which of its names the book never uses)."""
        selection_only_mode = bool(selection) and mode == "selection_only"
        reading = await to_thread.run_sync(read_question, question, selection, selection_only_mode)
        if reading.intent is not None:
            return Brief(question, selection, selection_only_mode, reading.intent)
        looked_up = set(reading.lookups)
        names = [w for sp in reading.specifics for w in sp.words if w in looked_up]
        facts = await self.retrieval.word_facts(reading.lookups, reading.phrases, names)
        return await to_thread.run_sync(brief_of, question, selection, selection_only_mode, reading, facts)

    async def _find(self, brief: Brief, k: int, flt: SearchFilter, preference: Preference) -> Found:
        selection = brief.selection
        if selection and brief.selection_only:
            return selection_only(brief.question, selection)
        # "Explain this" about a selection is searched by the selection's content, not by "explain this".
        query = selection[:SELECTION_QUERY_CHARS] if selection and brief.intent else brief.question
        wanted = max(k, EXAMPLE_PASSAGES) if brief.intent and brief.intent.kind == "example" else k
        found = await self.search_agent.find(query, wanted, flt, preference)
        # The highlighted passage comes first; the book fills in the rest.
        return selection_first(found, selection, self.settings.evidence_threshold) if selection else found

    async def _record(self, asked: Asked, route: Route, session_id: str, result: AnswerResponse) -> None:
        """The turn, with what the author's reports need: how it was answered, where in the book it
        landed, and the searched question's embedding (already cached by the search), for grouping."""
        source_file, chapter, section, url = landing(result)
        searched = result.route in ("book", "selection") and not (asked.selection and intent_of(asked.question))
        vector = to_bytes(await self.retrieval.embed_query(route.question)) if searched else None
        question = asked.question
        await self.recorder.record(
            Turn(
                answer_id=result.answer_id,
                session_id=session_id,
                question=question,
                answer=result.answer,
                citations=[c.model_dump() for c in result.citations],
                provider=result.provider,
                latency_ms=result.latency_ms,
                prompt_tokens=approx_tokens(question),
                completion_tokens=approx_tokens(result.answer),
                refused=result.refused,
                confidence=result.confidence_score,
                standalone_question=result.standalone_question,
                page=asked.page,
                route=result.route,
                selection_mode=asked.mode if asked.selection else None,
                degraded=result.degraded,
                top_source_file=source_file,
                top_chapter=chapter,
                top_section=section,
                top_url=url,
                question_vector=vector,
            )
        )

    def _history(self, session_id: str) -> HistoryLoader:
        async def load() -> list[PastTurn]:
            return await self._previous_questions(session_id)

        return load

    async def _previous_questions(self, session_id: str, turns: int = 3) -> list[PastTurn]:
        """The session's latest turns (as they were resolved, with the files their answers cited); none if
        the database cannot be read right now. Its own short transaction: a streamed answer outlives the
        request's."""
        if self.db is None:
            return []
        try:
            async with asyncio.timeout(self.settings.db_timeout_seconds), transaction(self.db) as session:
                messages = await SessionRepository(session).history(session_id, turns)
        except (DBAPIError, OSError, TimeoutError):
            return []
        return [
            PastTurn(m.standalone_question or m.question, cited_sources(m.citations), cited_sections(m.citations), cited_quotes(m.citations))
            for m in messages
            if m.question
        ]
