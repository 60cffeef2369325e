"""The search agent on hand-made passages. The retrieval service is a stand-in (`HandMadeSearch`) that
answers each query with passages written here, so what the agent does with them is all that is tested:
a compound question searched part by part, a weak search retried with keywords, the passage that
defines a "what is X?" subject brought first, and signposts moved down."""

from __future__ import annotations

from src.answering.question import Question
from src.answering.search_agent import SearchAgent, for_answer
from src.kit.text import terms
from src.retrieval.fusion import Fused, Preference
from src.retrieval.passage import Passage
from src.retrieval.service import SearchResult
from src.retrieval.store.base import SearchFilter

THRESHOLD = 0.35


def passage(chunk: str, section: str, content: str = "", score: float = 0.5) -> Fused:
    return Fused(
        chunk,
        score,
        score,
        None,
        Passage(content=content or f"About {section}.", source_file=f"{chunk}.md", section=section),
    )


class HandMadeSearch:
    """A stand-in for RetrievalService's searches: each query's passages and evidence are given, and the
    sections the book titles with some words (none unless given)."""

    def __init__(
        self, answers: dict[str, tuple[list[Fused], float]], titled: dict[tuple[str, ...], list[Fused]] | None = None
    ) -> None:
        self.answers = answers
        self.titled = titled or {}
        self.asked: list[str] = []

    async def named_sections(
        self, wanted: tuple[str, ...], question: str, flt: SearchFilter | None, preference: Preference | None
    ) -> list[Fused]:
        return self.titled.get(wanted, [])

    async def rest_of_section(self, first: Fused, limit: int) -> list[Fused]:
        return []

    async def search(
        self,
        question: str,
        k: int,
        flt: SearchFilter | None = None,
        per_source: int | None = None,
        preference: Preference | None = None,
    ) -> SearchResult:
        self.asked.append(question)
        hits, evidence = self.answers.get(question, ([], 0.0))
        return SearchResult(hits[:k], evidence, 0.0)


def agent(
    answers: dict[str, tuple[list[Fused], float]], titled: dict[tuple[str, ...], list[Fused]] | None = None
) -> tuple[SearchAgent, HandMadeSearch]:
    search = HandMadeSearch(answers, titled)
    return SearchAgent(search, THRESHOLD), search  # type: ignore[arg-type]  # the stand-in has the methods used


async def test_a_compound_question_is_searched_part_by_part_and_interleaved() -> None:
    zmp = [passage("z1", "ZMP"), passage("z2", "ZMP 2")]
    polygon = [passage("p1", "Support polygon"), passage("p2", "Polygons")]
    finder, search = agent({"What is the ZMP?": (zmp, 0.7), "what is a support polygon?": (polygon, 0.6)})
    found = await finder.find(Question.parse("What is the ZMP and what is a support polygon?"), 2, SearchFilter())
    assert search.asked[:2] == ["What is the ZMP?", "what is a support polygon?"]
    assert [p.question for p in found.parts] == ["What is the ZMP?", "what is a support polygon?"]
    assert [h.id for h in found.hits] == ["z1", "p1", "z2", "p2"] and found.evidence == 0.7


async def test_a_weak_search_is_retried_with_keywords_and_the_better_one_kept() -> None:
    question = "hey so um what exactly is that zero moment point thing people talk about?"
    finder, search = agent(
        {question: ([passage("x", "Other")], 0.2), "zero moment point": ([passage("z", "Zero moment point")], 0.6)}
    )
    found = await finder.find(Question.parse(question), 3, SearchFilter())
    assert search.asked[:2] == [question, "zero moment point"]
    [part] = found.parts
    assert part.query.text == "zero moment point" and part.question == question
    assert [h.id for h in found.hits] == ["z"] and found.evidence == 0.6


async def test_the_passage_whose_heading_names_the_subject_comes_first() -> None:
    mentions = [passage("m1", "Simulation", score=0.9), passage("m2", "Testing", score=0.8)]
    defining = passage("d", "Digital Twin", "A digital twin is a virtual replica of a robot.", score=0.4)
    finder, search = agent({"What is a digital twin?": (mentions, 0.6), "digital twin": ([defining], 0.5)})
    found = await finder.find(Question.parse("What is a digital twin?"), 2, SearchFilter())
    assert "digital twin" in search.asked and [h.id for h in found.hits] == ["d", "m1"]


async def test_a_section_the_book_titles_with_the_subject_comes_first_though_no_search_found_it() -> None:
    mentions = [passage("m1", "Cross-Entropy Revisited", score=0.9), passage("m2", "Joint Entropy", score=0.8)]
    titled = passage("e", "Entropy", "Shannon measured information in bits.", score=0.3)
    finder, _ = agent({"what is entropy": (mentions, 0.6), "entropy": (mentions, 0.6)}, {("entropi",): [titled]})
    found = await finder.find(Question.parse("what is entropy"), 2, SearchFilter())
    assert [h.id for h in found.hits] == ["e", "m1"]


async def test_a_section_titled_with_all_the_questions_words_beats_one_titled_with_the_subject() -> None:
    question = "Can you explain dropout in practice?"
    dropout = passage("d", "Dropout", "Dropout zeroes activations at random.", score=0.6)
    in_practice = passage("p", "Dropout in Practice", "In practice we apply dropout after each layer.", score=0.3)
    titled = {tuple(terms(question)): [in_practice], tuple(terms("dropout")): [dropout]}
    finder, _ = agent({question: ([dropout], 0.6), "dropout": ([dropout], 0.6)}, titled)
    found = await finder.find(Question.parse(question), 2, SearchFilter())
    assert Question.parse(question).subject == "dropout"
    assert [h.id for h in found.hits] == ["p", "d"]


async def test_a_how_to_opens_with_the_step_titled_as_the_student_wrote_the_task() -> None:
    found_by_search = [passage("x", "Sensors", score=0.3)]
    # Both headings have the task's words; the one written as the student wrote it comes first.
    titled = [passage("a", "Launch the talker node", score=0.5), passage("b", "2 Launch talker node", score=0.4)]
    question = "How do I launch talker node?"
    finder, _ = agent({question: (found_by_search, 0.2)}, {tuple(terms(question)): titled})
    found = await finder.find(Question.parse(question), 3, SearchFilter())
    assert [h.id for h in found.hits] == ["b", "x"]
    # Every word of the task is a heading of the book: the book covers it, however weak the search was.
    assert found.evidence == THRESHOLD


async def test_a_how_to_no_heading_names_keeps_the_searchs_evidence() -> None:
    question = "How do I bake bread?"
    finder, _ = agent({question: ([passage("x", "Sensors", score=0.2)], 0.2)})
    found = await finder.find(Question.parse(question), 3, SearchFilter())
    assert [h.id for h in found.hits] == ["x"] and found.evidence == 0.2


def test_signposts_go_down_and_a_heading_naming_the_question_comes_up() -> None:
    objectives = passage("o", "Learning Objectives", score=0.62)
    kalman = passage("k", "Kalman Filter", score=0.55)
    other = passage("x", "Sensors", score=0.6)
    ordered = for_answer(Question.parse("What is a Kalman filter used for?"), [objectives, other, kalman])
    assert [h.id for h in ordered] == ["k", "x", "o"]
