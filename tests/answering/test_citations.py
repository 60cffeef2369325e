"""answering/citations.py on hand-made answers: the mark, cutting an answer at its marks, renumbering,
and merging the answers of a compound question's parts."""

from __future__ import annotations

from src.answering.citations import Composed, marks, merge, pieces, renumber, unmarked
from src.retrieval.passage import Citation, Passage

ZMP = Passage(
    content="The ZMP is a point.", source_file="a.md", title="Balance", section="ZMP", url="https://b.example/a#zmp"
)
GAIT = Passage(content="A gait is a pattern.", source_file="b.md", title="Walking", section="Gait")


def cite(n: int, chunk: str, passage: Passage, quote: str) -> Citation:
    return Citation.of(n, chunk, passage, [quote])


def test_marks_and_pieces() -> None:
    answer = "The ZMP is a point [1]. It moves [2] [1]. And more"
    assert marks(answer) == [1, 2, 1]
    assert unmarked("A point [1]. B [22].") == "A point . B ."
    assert pieces(answer) == ["The ZMP is a point [1]", ". It moves [2] ", "[1]", ". And more"]
    assert "".join(pieces(answer)) == answer
    assert pieces("") == [] and pieces("No marks at all.") == ["No marks at all."]


def test_renumber_keeps_unknown_marks() -> None:
    assert renumber("A [1]. B [2]. C [3].", {1: 2, 2: 1}) == "A [2]. B [1]. C [3]."


def test_merge_gives_a_passage_cited_by_two_parts_one_number() -> None:
    first = Composed("The ZMP is a point. [1]", [cite(1, "zmp", ZMP, "The ZMP is a point.")], [0], 0.9)
    second = Composed(
        "A gait is a pattern. [1] The ZMP is a point. [2] The ZMP moves. [2]",
        [cite(1, "gait", GAIT, "A gait is a pattern."), cite(2, "zmp", ZMP, "The ZMP moves.")],
        [1, 0],
        0.6,
    )
    merged = merge([first, second])
    # The sentence both parts chose is said once; the ZMP passage keeps number 1 in both parts.
    assert merged.answer == "The ZMP is a point. [1] A gait is a pattern. [2] The ZMP moves. [1]"
    assert [(c.id, c.chunk_id, c.quote) for c in merged.citations] == [
        (1, "zmp", "The ZMP is a point. The ZMP moves."),
        (2, "gait", "A gait is a pattern."),
    ]
    assert merged.used_ranks == [0, 1] and merged.coverage == 0.6
    assert (
        first.citations[0].quote == "The ZMP is a point." and first.citations[0].id == 1
    )  # the parts are left as they were


def test_a_citation_carries_its_passage_and_kind() -> None:
    book = Citation.of(3, "zmp", ZMP, ["One.", "Two."])
    assert (book.id, book.source_file, book.section, book.url, book.quote, book.kind) == (
        3,
        "a.md",
        "ZMP",
        ZMP.url,
        "One. Two.",
        "book",
    )
    selected = Citation.of(1, "selection", Passage.selection("Highlighted text."), ["Highlighted text."])
    assert selected.kind == "selection" and selected.title == "Selected text"
    # A citation an earlier release stored, before `kind`: the highlighted passage was known by its id.
    assert Citation.model_validate({"id": 1, "chunk_id": "selection", "quote": "x"}).kind == "selection"
    assert Citation.model_validate({"id": 1, "chunk_id": "c1", "quote": "x"}).kind == "book"
