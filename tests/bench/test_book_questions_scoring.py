"""The scoring of bench/book_questions.py on hand-made answers: headings compared without case, marks and
numbering; the command found whatever its whitespace and case; "cited first" read from the citation numbered
[1], in the gold file and under the gold heading; the command's rank among the retrieved passages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.book_questions import (
    command_rank,
    contains_command,
    first_citation,
    gold_keys,
    heading_key,
    report,
    score,
    section_cited_first,
)

HOWTO = {
    "id": "h-1",
    "book": "tools",
    "kind": "howto",
    "question": "How do I polish a widget?",
    "gold_file": "tools/guide/widgets.md",
    "gold_section": "Polish a widget",
    "must_contain": "wdg polish --all",
}
CONCEPT = {
    "id": "c-1",
    "book": "tools",
    "kind": "concept",
    "question": "What is the gizmo registry?",
    "gold_file": "tools/guide/gizmos.rst",
    "gold_section": "1.2 The ``gizmo`` registry",
    "gold_section_clean": "The gizmo registry",
}


def cite(n: int, source_file: str, section: str) -> dict[str, Any]:
    return {"id": n, "chunk_id": f"c{n}", "source_file": source_file, "section": section}


def answer(
    text: str, citations: list[dict[str, Any]], contexts: Sequence[str] = (), refused: bool = False
) -> dict[str, Any]:
    return {
        "answer": text,
        "citations": citations,
        "retrieved_contexts": [
            {"chunk_id": f"r{i}", "content": c, "score": 1.0, "metadata": {}} for i, c in enumerate(contexts)
        ],
        "refused": refused,
    }


def test_headings_compare_without_case_marks_numbering_and_spaces() -> None:
    assert heading_key("  1.2 The ``gizmo`` registry ") == heading_key("the gizmo registry") == "the gizmo registry"
    assert heading_key("## **Gizmo** _Basics_") == "gizmo basics"
    assert heading_key("Step 3: Polish") == heading_key("3. Polish") == heading_key("3\\. Polish") == "polish"
    assert heading_key("[Gizmo basics](gizmos.md#basics)") == "gizmo basics"
    assert heading_key("Gizmo basics") != heading_key("Gizmo basics in depth")
    assert heading_key(None) == ""


def test_gold_keys_take_the_heading_as_written_and_cleaned() -> None:
    row = {"gold_section": "2\\. Make a key", "gold_section_clean": "\\. Make a key"}
    assert "make a key" in gold_keys(row)
    assert gold_keys({"gold_section": "Polish a widget"}) == {"polish a widget"}


def test_the_command_is_found_whatever_its_whitespace_and_case() -> None:
    assert contains_command("Run:\n\n    WDG  polish\n--all", "wdg polish --all")
    assert not contains_command("Run wdg polish --some", "wdg polish --all")
    assert not contains_command("", "wdg polish")


def test_the_first_citation_is_the_one_numbered_first() -> None:
    body = answer("x", [cite(2, "b.md", "B"), cite(1, "a.md", "A")])
    assert first_citation(body) == cite(1, "a.md", "A")
    assert first_citation(answer("x", [])) is None


def test_cited_first_needs_the_gold_file_and_heading_in_citation_one() -> None:
    gold = cite(1, "tools/guide/gizmos.rst", "The gizmo registry")
    assert section_cited_first(answer("x", [gold]), CONCEPT)
    second = {**gold, "id": 2}
    assert not section_cited_first(answer("x", [cite(1, "tools/guide/gizmos.rst", "Other"), second]), CONCEPT)
    assert not section_cited_first(answer("x", [{**gold, "source_file": "tools/guide/other.rst"}]), CONCEPT)
    assert not section_cited_first(answer("not in the book", [], refused=True), CONCEPT)


def test_howto_scores_and_the_commands_rank_among_retrieved_passages() -> None:
    body = answer(
        "Run `wdg polish --all` [1].",
        [cite(1, "tools/other/notes.md", "Notes"), cite(2, "tools/guide/widgets.md", "Polish a widget")],
        ["no command here", "still none", "then: wdg  polish --all"],
    )
    s = score(HOWTO, body)
    assert (s.command_shown, s.section_first, s.file_cited, s.command_rank) == (True, False, True, 2)
    assert s.missed() == ["section cited first"]
    assert command_rank(answer("x", [], ["nothing"]), "wdg polish") is None


def test_concept_scores_have_no_command_and_the_table_counts_each_book() -> None:
    hit = score(CONCEPT, answer("A registry [1].", [cite(1, "tools/guide/gizmos.rst", "1.2 The gizmo registry")]))
    miss = score(CONCEPT, answer("Not in the book.", [], refused=True))
    assert hit.command_shown is None and hit.missed() == []
    assert miss.missed() == ["section cited first", "gold file cited"] and miss.refused
    table = report([hit, miss], ["tools"])
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()]
    assert cells[0][1:] == ["tools", "all"]
    rows = {label: values for label, *values in cells[2:]}
    assert rows["concept: named section cited first"] == ["0.500", "0.500"]
    assert rows["concept: refused"] == ["0.500", "0.500"]
    assert rows["concept: n"] == ["2", "2"]
    assert rows["howto: n"] == ["0", "0"]
    assert rows["howto: gold section cited first"] == ["—", "—"]
