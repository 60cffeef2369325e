"""The answer agent: writes the answer from the passages the search agent found. With a model
provider, the model writes it and every sentence passes the grounding checker first; otherwise, or
when the model fails, is too slow or writes nothing the book supports, the extractive composer
quotes the book (marked `degraded` when it stands in for a model). When the book does not answer
the question, the writer refuses: why, and the closest sections (`refusals.py`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from anyio import to_thread

from src.answering.brief import Brief, model_question
from src.answering.citations import Composed
from src.answering.deadline import Deadline
from src.answering.events import CitationEvent, Delta, Writing, whole
from src.answering.generative import OPENING_FILLER, Outcome, generate
from src.answering.providers import Provider
from src.answering.quoting import extractive, found_in, not_covered_parts
from src.answering.refusals import OFF_TASK, not_covered, not_mentioned, refusal_text
from src.answering.routes import Route
from src.answering.schemas import AnswerResponse, Refusal
from src.answering.search_agent import Found
from src.answering.showing import AnswerBlock
from src.kit.settings import Settings
from src.retrieval.passage import Citation
from src.retrieval.schemas import RetrievedContext

EXTRACTIVE = "extractive"


@dataclass(frozen=True)
class Written:
    """What the writer made of a turn: the answer and its citations, or the refusal it makes instead."""

    answer: str = ""
    citations: list[Citation] = field(default_factory=list)
    blocks: list[AnswerBlock] = field(default_factory=list)
    refusal: Refusal | None = None
    provider: str = EXTRACTIVE
    degraded: bool = False  # the model was too slow or failed: the extractive answer stands in
    removed_sentences: int = 0  # the model's sentences the grounding checker removed
    partial: bool = False  # the model's answer, shown in part: sentences removed, or cut at its time cap

    def response(
        self,
        answer_id: str,
        session_id: str,
        route: Route,
        contexts: list[RetrievedContext],
        confidence: float,
        redirect: bool = False,
    ) -> AnswerResponse:
        """The answer as clients get it. A refusal's English text is made from its structure (`redirect`:
        the turn reached for the instructions)."""
        refusal = self.refusal
        return AnswerResponse(
            answer_id=answer_id,
            session_id=session_id,
            answer=refusal_text(refusal, redirect=redirect) if refusal else self.answer,
            citations=self.citations,
            blocks=[] if refusal else self.blocks,
            retrieved_contexts=contexts,
            confidence_score=confidence,
            refused=refusal is not None,
            provider=self.provider,
            latency_ms=0.0,
            route=route,
            degraded=self.degraded,
            removed_sentences=self.removed_sentences,
            partial=self.partial and refusal is None,
            refusal=refusal,
        )


def refusal_for(found: Found, brief: Brief) -> Refusal:
    """Why the book does not answer the turn: not in the highlighted passage (alone), a task that is not
    a question for the book, names the book never uses, or a question it does not cover."""
    if brief.selection_only:
        return Refusal(reason="no_example" if brief.intent and brief.intent.kind == "example" else "not_in_selection")
    if brief.task_request:
        return OFF_TASK
    book = [h for h in found.hits if h.passage.kind == "book"]
    missing = [name for name in brief.missing if not found_in(name, book)]
    return not_mentioned(missing, book) if missing else not_covered(book)


class AnswerWriter:
    def __init__(self, settings: Settings, provider: Provider | None) -> None:
        self.settings = settings
        self.provider = provider

    async def write(self, found: Found, brief: Brief) -> AsyncIterator[Writing | Written]:
        """`Delta` and `CitationEvent` as the answer is written, then what was `Written`."""
        # CPU work on text a client sent: in a worker thread, so the event loop keeps serving, and bounded
        # by ANSWER_COMPOSE_SECONDS (the thread cannot be cancelled; the composer checks the deadline).
        deadline = Deadline.after(self.settings.answer_compose_seconds)
        composed, uncovered = await to_thread.run_sync(
            extractive, found, brief, self.settings.evidence_threshold, deadline
        )
        if composed is None:
            yield Written(refusal=refusal_for(found, brief))
            return
        degraded, removed = False, 0
        if self.provider is not None:
            outcome = Outcome()
            async for event in self._from_model(found, brief, outcome):
                yield event
                if isinstance(event, Written):
                    return
            degraded, removed = (
                True,
                len(outcome.removed),
            )  # the model failed, timed out or wrote nothing the book supports
        async for event in self._quoted(composed, uncovered if len(found.parts) > 1 else [], degraded, removed):
            yield event

    @staticmethod
    async def _quoted(
        composed: Composed, uncovered: list[str], degraded: bool, removed: int
    ) -> AsyncIterator[Writing | Written]:
        """The extractive answer, with a note on the parts of the question the book does not cover."""
        # After a block the note is a paragraph of its own: the block's Markdown stays whole.
        ends_in_block = bool(composed.blocks) and composed.answer.endswith(composed.blocks[-1].markdown)
        note = ("\n\n" if ends_in_block else " ") + not_covered_parts(uncovered) if uncovered else ""
        answer = composed.answer + note
        for event in whole(answer, composed.citations, composed.blocks):
            yield event
        yield Written(answer, composed.citations, composed.blocks, degraded=degraded, removed_sentences=removed)

    async def _from_model(self, found: Found, brief: Brief, outcome: Outcome) -> AsyncIterator[Writing | Written]:
        """The model's checked sentences as they come. Ends with `Written` unless the extractive answer
        must stand in (nothing was said: a failure, the deadline, or nothing the book supports)."""
        assert self.provider is not None
        citations: dict[int, Citation] = {}
        sentences: list[str] = []
        async for checked, passages in generate(
            self.provider, self.settings, model_question(brief), found.hits, outcome, brief.streamed
        ):
            yield Delta((" " if sentences else "") + checked.text)
            sentences.append(checked.text)
            for n, quote in checked.quotes.items():
                if n not in citations:
                    citations[n] = Citation.of(n, passages[n].id, passages[n].passage, [quote])
                    yield CitationEvent(citations[n])
                elif quote not in citations[n].quote:
                    citations[n].quote += " " + quote
        name = self.provider.name
        if sentences:
            cited = sorted(citations.values(), key=lambda c: c.id)
            failed = outcome.failure is not None
            yield Written(
                " ".join(sentences),
                cited,
                provider=name,
                degraded=failed,
                removed_sentences=len(outcome.removed),
                # A removed "Sure!" leaves nothing out; a removed claim does.
                partial=any(c.reason not in OPENING_FILLER for c in outcome.removed) or outcome.truncated,
            )
        elif outcome.said_not_in_book and not brief.selection_only:
            yield Written(refusal=not_covered([h for h in found.hits if h.passage.kind == "book"]), provider=name)
