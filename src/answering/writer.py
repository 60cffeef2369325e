"""The answer agent: writes the answer from the passages the search agent found. With a model
provider, the model writes it and every sentence passes the grounding checker first; otherwise, or
when the model fails, is too slow or writes nothing the book supports, the extractive composer
quotes the book (marked `degraded` when it stands in for a model). Below the evidence threshold the
answer says the book does not cover the question and names the closest sections."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from anyio import to_thread

from src.answering.events import Event, whole
from src.answering.extractive import NEVER, Composed, Deadline, citation_for, compose, merge, shared_share
from src.answering.generative import Outcome, generate
from src.answering.guardrails import OFF_TOPIC, foreign_links, is_task_request
from src.answering.highlight import Intent, answering_sentences, examples_in, split_sentences
from src.answering.providers import Provider
from src.answering.schemas import AnswerResponse, Citation
from src.answering.search_agent import Found
from src.answering.selection import SELECTION_ID, from_selection
from src.kit.metrics import stage
from src.kit.settings import Settings
from src.kit.text import terms
from src.retrieval.fusion import Fused
from src.retrieval.schemas import RetrievedContext

EXTRACTIVE = "extractive"
NOT_COVERED = "The textbook does not seem to cover this question, so I can't answer it from the book."
NOT_IN_SELECTION = "The selected text does not answer this question. Ask without restricting to the selection to search the whole book."
NO_EXAMPLE_BUT_BOOK = "The selected text gives no example; the book gives these:"
NO_EXAMPLE_IN_SELECTION = "The selected text gives no example. Ask without restricting to the selection, and I'll look for one in the whole book."
MIN_TOPICAL = 0.2  # a sentence must hold this share of the question's weight to be quoted at all...
TOPICAL_TERMS = 1.6  # ...or, for a long question, the weight of this many of its terms on average
SELECTION_COVERAGE = 0.2  # a question about a selection (selection only) must find this share of its weight in it
BORDERLINE_EVIDENCE = 0.10
STRONG_COVERAGE = 0.75
FOLLOW_UP_COVERAGE = 0.5
SELECTION_IN_QUESTION = 400
CLOSEST_SECTIONS = 3  # sections a refusal points to


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
    """The refusal, naming the closest sections (with their links) so the student knows where to look:
    up to CLOSEST_SECTIONS of them, each once however many of its passages were found."""
    closest: list[str] = []
    for hit in hits:
        p = hit.payload
        title, section = p.get("title") or p.get("source_file") or "", p.get("section")
        label = f"{title} > {section}" if section and section != title else title
        named = f"{label} ({p['url']})" if p.get("url") else label
        if named and named not in closest:
            closest.append(named)
        if len(closest) == CLOSEST_SECTIONS:
            break
    if not closest:
        return lead
    return lead + " The closest sections are: " + "; ".join(closest) + "."


# "alice-1a2b3c4d5e", a hash, a token. Read from a run's first character only: from each one, the
# lookaheads would read the rest of a long run.
_ID_LIKE = re.compile(r"(?<![\w-])(?=[\w-]*\d)(?=[\w-]*[a-z])[\w-]{8,}", re.I)


def topical(question: str) -> float:
    """The share of a question's weight a sentence must hold to bear on it: a fifth, or less for a long
    question (a quiz's whole scenario), whose sentences each answer a part."""
    return min(MIN_TOPICAL, TOPICAL_TERMS / max(1, len(set(terms(question)))))


MAX_NAMES_ECHOED = 3  # a message naming more things the book lacks is a paste or an attack, not a question


def not_mentioned(names: list[str]) -> str:
    """The refusal for a question about something the book never names ("the Unitree G1"). A name is
    echoed only when short, free of links, and not an identifier or code, and only when there are at most
    MAX_NAMES_ECHOED of them (a student's words are not repeated into an answer that may be cached and
    shown to others, and a pasted jailbreak's hundred capitalised phrases are not read back to it)."""
    distinct: dict[str, str] = {}  # the first spelling of each name, in the question's order
    for name in names:
        distinct.setdefault(name.strip().casefold(), name.strip())
    distinct.pop("", None)
    shown = [n for n in distinct.values() if len(n) <= 60 and not foreign_links(n, set()) and not _ID_LIKE.search(n)]
    if not shown or len(distinct) > MAX_NAMES_ECHOED:
        return NOT_COVERED
    listed = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]
    return f"The textbook doesn't mention {listed}, so I can't answer this from the book."


def not_covered_parts(parts: list[str]) -> str:
    """The note on the parts of a compound question the book does not cover. The student's words are
    echoed only when short and free of links: a long or hostile message is not repeated back."""
    shown = [p for p in parts if len(p) <= 120 and not foreign_links(p, set())]
    if len(shown) < len(parts):
        return "The book does not seem to cover the rest of the question."
    return "The book does not seem to cover this part of the question: " + "; ".join(shown)


@dataclass(frozen=True)
class Brief:
    """What the writer knows of the turn besides the passages found."""

    question: str
    selection: str | None = None
    selection_only: bool = False
    intent: Intent | None = None  # what a question about a selection asks when it names no topic ("explain this")
    weights: dict[str, float] | None = None  # the question's terms by rarity in the book
    missing: tuple[str, ...] = ()  # names in the question the book never mentions
    rare_weight: float = float("inf")  # a term weighing this much is rare in the book
    follow_up: bool = False  # the question was resolved against a conversation the book has been answering
    seen: tuple[str, ...] = ()  # what the conversation's latest answer quoted (a follow-up's student has read it)
    asked: str = ""  # a follow-up's own words, before it was made standalone
    streamed: bool = False  # a stream may go on past the first sentence's deadline (ANSWER_STREAM_MAX_SECONDS)


def model_question(brief: Brief) -> str:
    """What the model is asked (and what its sentences must bear on): the student's question, and for
    "explain this" about a selection, the passage it points at."""
    if brief.selection and brief.intent:
        return f'{brief.question} (the selected passage: "{brief.selection[:SELECTION_IN_QUESTION]}")'
    return brief.question


def book_example(selection: str, book: list[Fused], deadline: Deadline = NEVER) -> Composed | None:
    """An example from the book for a passage that gives none: from the passage that shares most words
    with the selection among those that give examples (among those read by `deadline`)."""
    wanted = set(terms(selection))
    best: tuple[float, int, list[str]] | None = None
    for rank, hit in enumerate(book):
        if best is not None and deadline.passed():
            break
        examples = examples_in(str(hit.payload.get("content", "")))
        if examples:
            shared = len(wanted & set(terms(" ".join(examples) + " " + str(hit.payload.get("section") or "")))) - 0.01 * rank
            if best is None or shared > best[0]:
                best = (shared, rank, examples)
    if best is None or best[0] <= 0:
        return None
    _, rank, examples = best
    answer = NO_EXAMPLE_BUT_BOOK + " " + " ".join(f"{e if e.endswith(('.', '!', '?')) else e + '.'} [1]" for e in examples)
    return Composed(answer, [citation_for(1, book[rank], examples)], [rank], 1.0)


class AnswerWriter:
    def __init__(self, settings: Settings, provider: Provider | None) -> None:
        self.settings = settings
        self.provider = provider

    def extractive(self, found: Found, brief: Brief, deadline: Deadline = NEVER) -> tuple[Composed | None, list[str]]:
        """The extractive answer over every part the book covers, and the parts it does not cover. CPU
        work (`write` runs it in a worker thread); past `deadline` it answers with what it has composed."""
        if brief.selection and brief.intent:
            return self._about_selection(found, brief, deadline), []
        if brief.selection_only and brief.selection:
            return self._from_selection_alone(found, brief, deadline), []
        if brief.missing:
            return None, [brief.question]
        threshold = self.settings.evidence_threshold
        answers: list[Composed] = []
        uncovered: list[str] = []
        for part in found.parts:
            if answers and deadline.passed():
                break  # the parts composed so far are the answer
            composed = None
            if part.evidence >= threshold - BORDERLINE_EVIDENCE:
                with stage("answer"):
                    composed = compose(
                        part.query,
                        part.hits,
                        weights=brief.weights if len(found.parts) == 1 else None,
                        min_coverage=topical(part.query),
                        seen=brief.seen,
                        asked=brief.asked,
                        deadline=deadline,
                    )
                # Just under the threshold, answer only when one sentence covers most of the question's terms
                # (half of them, in a conversation the book has been answering).
                strong = FOLLOW_UP_COVERAGE if brief.follow_up else STRONG_COVERAGE
                if composed is not None and part.evidence < threshold and composed.coverage < strong:
                    composed = None
            if composed is None:
                uncovered.append(part.question)
            else:
                answers.append(composed)
        if not answers:
            return None, uncovered
        return (answers[0] if len(answers) == 1 else merge(answers)), uncovered

    def _from_selection_alone(self, found: Found, brief: Brief, deadline: Deadline) -> Composed | None:
        """A question of its own about a selection, answered from it alone: when the selection holds enough
        of the question's weight and none of its rare words is missing from it (a question naming
        something rare that the passage does not mention is about something else)."""
        assert brief.selection is not None
        held = set(terms(brief.selection))
        if any(w >= brief.rare_weight and t not in held for t, w in (brief.weights or {}).items()):
            return None
        with stage("answer"):
            composed = compose(brief.question, found.hits, weights=brief.weights, deadline=deadline)
        return composed if composed is not None and composed.coverage >= SELECTION_COVERAGE else None

    def _about_selection(self, found: Found, brief: Brief, deadline: Deadline) -> Composed | None:
        """ "Explain this", "summarize", "what does TERM mean here", "give me an example": the passage's
        own sentences that do it, cited to the selection; in book mode, then the book's explanation of
        the passage's terms (or, for an example the passage lacks, an example from the book)."""
        assert brief.selection is not None and brief.intent is not None
        sentences = split_sentences(brief.selection)
        chosen = answering_sentences(brief.intent, sentences)
        book = [h for h in found.hits if h.id != SELECTION_ID]
        if not chosen:
            if brief.selection_only or brief.intent.kind != "example" or not book:
                return None
            return book_example(brief.selection, book, deadline)
        own = from_selection(brief.selection, [sentences[i] for i in chosen])
        if brief.selection_only or not book or deadline.passed():
            return own
        selected = set(terms(brief.selection))  # once, not once per sentence of the book read
        with stage("answer"):
            explained = compose(brief.selection, book, max_sentences=2, accept=lambda s: shared_share(set(terms(s)), selected) < 0.6, deadline=deadline)
        return merge([own, explained]) if explained is not None else own

    async def write(self, session_id: str, found: Found, contexts: list[RetrievedContext], brief: Brief) -> AsyncIterator[Event]:
        """("delta", text) and ("citation", Citation) as the answer is written, then ("done", response)."""
        question, selection_only = brief.question, brief.selection_only
        route = "selection" if selection_only else "book"
        # CPU work on text a client sent: in a worker thread, so the event loop keeps serving, and bounded
        # by ANSWER_COMPOSE_SECONDS (the thread cannot be cancelled; the composer checks the deadline).
        deadline = Deadline.after(self.settings.answer_compose_seconds)
        composed, uncovered = await to_thread.run_sync(self.extractive, found, brief, deadline)
        confidence = round(min(1.0, max(0.0, found.evidence)), 4)
        if composed is None:
            if selection_only:
                answer = NO_EXAMPLE_IN_SELECTION if brief.intent and brief.intent.kind == "example" else NOT_IN_SELECTION
            elif is_task_request(question):
                answer, route = OFF_TOPIC, "out_of_scope"
            elif brief.missing:
                answer = not_covered([h for h in found.hits if h.id != SELECTION_ID], not_mentioned(list(brief.missing)))
            else:
                answer = not_covered([h for h in found.hits if h.id != SELECTION_ID])
            yield "done", respond(session_id, answer, retrieved_contexts=contexts, confidence_score=confidence, refused=True, route=route)
            return
        degraded, removed = False, 0
        if self.provider is not None:
            outcome = Outcome()
            async for event in self._from_model(model_question(brief), session_id, found, contexts, confidence, route, outcome, brief):
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
        brief: Brief,
    ) -> AsyncIterator[Event]:
        """The model's checked sentences as they come. Ends with "done" unless the extractive answer
        must stand in (nothing was said: a failure, the deadline, or nothing the book supports)."""
        assert self.provider is not None
        citations: dict[int, Citation] = {}
        sentences: list[str] = []
        async for checked, passages in generate(self.provider, self.settings, question, found.hits, outcome, brief.streamed):
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
        elif outcome.said_not_in_book and not brief.selection_only:
            answer = not_covered(found.hits)
            yield "done", respond(session_id, answer, retrieved_contexts=contexts, confidence_score=confidence, refused=True, provider=self.provider.name)
