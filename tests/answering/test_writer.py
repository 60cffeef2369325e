"""The answer writer on hand-made passages (no model): what it streams equals what it writes, and when
the book does not answer, the refusal says why (not in the selection, no example, an errand, a name the
book never uses, not covered) with the closest sections of the book, never the highlighted passage."""

from __future__ import annotations

from pathlib import Path

from src.answering.brief import Brief
from src.answering.events import CitationEvent, Delta
from src.answering.highlight import Intent
from src.answering.question import Question
from src.answering.routes import Route
from src.answering.search_agent import Found, Part
from src.answering.selection import selection_first, selection_hit
from src.answering.writer import AnswerWriter, Written
from src.retrieval.fusion import Fused
from src.retrieval.passage import Passage
from tests.conftest import make_settings

ZMP = Fused(
    "zmp",
    0.8,
    0.8,
    None,
    Passage(
        content="The Zero Moment Point is the point where the net moment of the ground forces is zero. A walking robot keeps it inside the support polygon.",
        source_file="docs/balance.md",
        title="Humanoids",
        section="Balance",
        url="https://book.example/balance#zmp",
    ),
)


def found(question: str, evidence: float, hits: list[Fused] | None = None) -> Found:
    hits = [ZMP] if hits is None else hits
    return Found(hits, evidence, [Part(question, hits, evidence, Question.parse(question))])


async def write(tmp_path: Path, found: Found, brief: Brief) -> tuple[list[Delta | CitationEvent], Written]:
    writer = AnswerWriter(make_settings(tmp_path), None)
    events: list[Delta | CitationEvent] = []
    async for event in writer.write(found, brief):
        if isinstance(event, Written):
            return events, event
        events.append(event)
    raise AssertionError("the writer ended without Written")


async def test_what_is_streamed_is_what_is_written(tmp_path: Path) -> None:
    question = "What is the Zero Moment Point?"
    events, written = await write(tmp_path, found(question, 0.8), Brief(Question.parse(question)))
    assert written.refusal is None and written.answer.startswith("The Zero Moment Point is the point")
    assert "".join(e.text for e in events if isinstance(e, Delta)) == written.answer
    assert [e.citation for e in events if isinstance(e, CitationEvent)] == written.citations
    assert [(c.id, c.chunk_id, c.kind) for c in written.citations] == [(1, "zmp", "book")]
    response = written.response("a1", "s1", Route.BOOK, [], 0.8)
    assert (response.answer, response.refused, response.refusal, response.route) == (
        written.answer,
        False,
        None,
        Route.BOOK,
    )


async def test_below_the_evidence_the_book_does_not_cover_it_and_the_closest_sections_are_the_books(
    tmp_path: Path,
) -> None:
    question = "Who won the 1998 football world cup?"
    book = found(question, 0.05)
    with_selection = selection_first(book, "A highlighted passage about walking.", 0.0)
    _, written = await write(tmp_path, found(question, 0.05, with_selection.hits), Brief(Question.parse(question)))
    assert written.refusal is not None and written.refusal.reason == "not_covered"
    assert [(c.title, c.section, c.url) for c in written.refusal.closest] == [("Humanoids", "Balance", ZMP.passage.url)]
    response = written.response("a1", "s1", Route.BOOK, [], 0.05)
    assert response.refused and response.answer.startswith("The textbook does not seem to cover this question")
    assert response.answer.endswith("The closest sections are: Humanoids > Balance (https://book.example/balance#zmp).")


async def test_a_name_the_book_never_uses_is_named(tmp_path: Path) -> None:
    question = "How tall is the Unitree G1?"
    brief = Brief(Question.parse(question), missing=("Unitree G1",))
    _, written = await write(tmp_path, found(question, 0.8), brief)
    assert written.refusal is not None and (written.refusal.reason, written.refusal.names) == (
        "not_mentioned",
        ["Unitree G1"],
    )


async def test_a_task_the_book_does_not_answer_is_off_task(tmp_path: Path) -> None:
    question = "Write a limerick about football"
    _, written = await write(tmp_path, found(question, 0.05), Brief(Question.parse(question), task_request=True))
    assert written.refusal is not None and written.refusal.reason == "off_task" and not written.refusal.closest


async def test_a_selection_without_the_answer_or_an_example_says_so(tmp_path: Path) -> None:
    selection = "Balance is hard. Robots fall."
    alone = Found([selection_hit(selection)], 1.0, [Part("q", [selection_hit(selection)], 1.0, Question.parse("q"))])
    _, unanswered = await write(
        tmp_path, alone, Brief(Question.parse("What is the capital of Australia?"), selection, True)
    )
    assert unanswered.refusal is not None and unanswered.refusal.reason == "not_in_selection"
    _, no_example = await write(
        tmp_path, alone, Brief(Question.parse("give me an example"), selection, True, Intent("example"))
    )
    assert no_example.refusal is not None and no_example.refusal.reason == "no_example"


async def test_explain_this_quotes_the_selection_and_cites_it_as_the_selection(tmp_path: Path) -> None:
    selection = "The Zero Moment Point must stay inside the support polygon. Otherwise the robot tips over."
    alone = Found([selection_hit(selection)], 1.0, [])
    _, written = await write(tmp_path, alone, Brief(Question.parse("explain this"), selection, True, Intent("explain")))
    assert written.refusal is None and written.answer.startswith(
        "The Zero Moment Point must stay inside the support polygon. [1]"
    )
    assert [(c.chunk_id, c.kind) for c in written.citations] == [("selection", "selection")]
