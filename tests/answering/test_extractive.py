"""The extractive composer (`compose`) on hand-made passages: the book's definition opens a "what is X?"
answer, each sentence is quoted and cited, objectives and exercises give way to prose, the answer keeps
to one book, a follow-up is led by what the student has not read, and links outside the book stay out."""

from __future__ import annotations

from src.answering.extractive import compose
from src.answering.question import Question
from src.retrieval.fusion import Fused
from src.retrieval.passage import Passage


def hit(
    chunk: str,
    content: str,
    section: str = "Digital Twins",
    source: str = "physical-ai/docs/twin.md",
    url: str | None = None,
) -> Fused:
    return Fused(
        chunk,
        0.8,
        0.8,
        None,
        Passage(content=content, source_file=source, title="Simulation", section=section, url=url),
    )


TWIN = hit(
    "twin",
    "Engineers build many models of robots today. A digital twin is a virtual replica of a physical robot that mirrors its state. "
    "It is updated from the robot's sensors in real time.",
    url="https://book.example/twin#digital-twins",
)
OBJECTIVES = hit(
    "goals",
    "Understand what a digital twin is and why a digital twin helps robot testing.",
    section="Learning Objectives",
)


def test_a_definition_question_opens_with_the_books_definition_and_cites_it() -> None:
    composed = compose(Question.parse("What is a digital twin?"), [OBJECTIVES, TWIN])
    assert composed is not None
    assert composed.answer.startswith(
        "A digital twin is a virtual replica of a physical robot that mirrors its state. [1]"
    ), composed.answer
    [citation] = composed.citations
    assert (citation.id, citation.chunk_id, citation.kind, citation.url) == (1, "twin", "book", TWIN.passage.url)
    assert "A digital twin is a virtual replica" in citation.quote and "Understand" not in composed.answer
    assert composed.used_ranks == [1]


def test_nothing_is_composed_when_no_passage_bears_on_the_question() -> None:
    assert compose(Question.parse("How do lidar scanners measure distance?"), [TWIN]) is None
    assert compose(Question.parse("the of and"), [TWIN]) is None  # a question without content words
    assert compose(Question.parse("What is a digital twin?"), []) is None


def test_the_answer_keeps_to_the_book_ranked_first() -> None:
    rust = hit(
        "rust",
        "A digital twin in Rust is a struct that mirrors a robot's state in memory.",
        source="rust-book/src/twin.md",
    )
    composed = compose(Question.parse("What does a digital twin mirror?"), [TWIN, rust])
    assert composed is not None and {c.chunk_id for c in composed.citations} == {"twin"}


def test_a_sentence_the_student_has_read_does_not_open_a_follow_up() -> None:
    definition = "A digital twin is a virtual replica of a physical robot that mirrors its state."
    question = Question.parse("What is a digital twin?")
    fresh = compose(question, [TWIN])
    assert fresh is not None and fresh.answer.startswith(definition)
    follow_up = compose(question, [TWIN], seen=(definition,), own_words=Question.parse("and how is it updated?"))
    assert follow_up is not None and not follow_up.answer.startswith(definition), follow_up.answer
    assert "It is updated from the robot's sensors in real time. [1]" in follow_up.answer


def test_a_link_outside_the_book_is_left_out_of_the_answer_but_kept_in_the_quote() -> None:
    linked = hit("links", "A digital twin is described at https://evil.example/page in detail for robot testing.")
    composed = compose(Question.parse("What is a digital twin?"), [linked])
    assert composed is not None and "evil.example" not in composed.answer
    assert "https://evil.example/page" in composed.citations[0].quote
