"""Answers that show the book's own blocks (issue 20): the command a "how do I ...?" question asks for in
its code block, the list a definition announces with its colon, the comparison table, a figure with its
alt text, a chapter's learning objectives; `blocks` in the response and `block` events in the stream.
Over real HTTP (a uvicorn process) with the real model and the embedded store, on chapters of the shared
Physical AI book, Rust Book, ROS 2 docs (reStructuredText) and d2l indexed through the API, plus one
hand-written MDX page."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from src.kit.text import terms
from tests.conftest import answer_of, served_book, shared_path

INTRO = "physical-ai/docs/01-introduction/index.md"
ROS2 = "physical-ai/docs/03-ros2-fundamentals/index.md"
CARGO = "rust-book/src/ch01-03-hello-cargo.md"
PARAMS = "ros2-docs/source/Tutorials/Beginner-CLI-Tools/Understanding-ROS2-Parameters/Understanding-ROS2-Parameters.rst"
SHIFT = "d2l/chapter_linear-classification/environment-and-distribution-shift.md"
CHAPTERS = [(INTRO, "markdown"), (ROS2, "markdown"), (CARGO, "markdown"), (PARAMS, "rst"), (SHIFT, "markdown")]

# A made-up page (no book text) whose quiz component spans lines: none of its attributes may be indexed.
MDX = "handmade/docs/glimmerwick-relays.mdx"
MDX_PAGE = """---
title: Glimmerwick Relays
---

import Quiz from '@site/src/components/Quiz';

# Glimmerwick Relays

A glimmerwick relay is a made-up switch that passes a lantern signal from one tower to the next.

<Quiz
  question="Which thing crosses between the towers?"
  options={[
    "A lantern signal",
    "A bucket of pebbles",
    "A {curly} parcel"
  ]}
  correctAnswer={1}
  explanation="Only the lantern's flicker travels; the pebbles stay home."
/>

## Tuning a Relay

Each glimmerwick relay is tuned by turning its brass dial until the lantern glows green.
A relay that glows red has lost the signal of the tower before it.
"""
QUIZ_LEAKS = ("correctAnswer", "options={", "<Quiz", "Which thing crosses", "bucket of pebbles", "pebbles stay home")

COLON_END = re.compile(r":\s*(?:\[\d+\])?$")


def page_url(source_file: str) -> str:
    return f"https://book.example/{source_file.rsplit('.', 1)[0]}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A uvicorn serving the real app, with the chapters and the MDX page indexed through POST /api/v1/index."""
    books = shared_path("data", "textbooks")
    documents = [(chapter, kind, (books / chapter).read_text()) for chapter, kind in CHAPTERS]
    documents.append((MDX, "markdown", MDX_PAGE))
    indexed = [
        (content, {"source_file": source_file, "url": page_url(source_file), "document_type": kind})
        for source_file, kind, content in documents
    ]
    with served_book(tmp_path_factory.mktemp("blocks"), indexed) as (url, _):
        yield url


@pytest.fixture
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=120) as client:
        yield client


ask = answer_of


def segments(body: dict[str, Any]) -> list[tuple[str, Any]]:
    """The answer's segments in order: ("prose", text) and ("block", block). Each block's Markdown is found
    after the one before it (code may hold blank lines of its own, so the answer is not split at them)."""
    answer, at, out = body["answer"], 0, []
    for block in body["blocks"]:
        found = answer.find(block["markdown"], at)
        assert found >= 0, (block["markdown"], answer)  # every block stands in the answer, in order, verbatim
        if prose := answer[at:found].strip("\n"):
            out.append(("prose", prose))
        out.append(("block", block))
        at = found + len(block["markdown"])
    if rest := answer[at:].strip("\n"):
        out.append(("prose", rest))
    return out


def citation(body: dict[str, Any], n: int) -> dict[str, Any]:
    cited: dict[str, Any] = next(c for c in body["citations"] if c["id"] == n)
    return cited


def blocks_of_kind(body: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [b for b in body["blocks"] if b["kind"] == kind]


def sentences(prose: str) -> list[str]:
    return [" ".join(s.split()) for s in re.split(r"\s*\[\d+\]\s*", prose) if s.strip()]


def book_paragraph(chapter: str, opening: str) -> str:
    """The paragraph of a chapter that opens with `opening`, as a reader highlights it (emphasis marks gone)."""
    text = shared_path("data", "textbooks", chapter).read_text()
    paragraph = next(p for p in text.split("\n\n") if p.replace("**", "").startswith(opening))
    return " ".join(paragraph.replace("**", "").split())


# --- how do I ...? : the book's command -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "command", "files"),
    [
        ("How do I create a new project with Cargo?", "cargo new", {CARGO}),
        ("How do I get a parameter value?", "ros2 param get", {PARAMS, ROS2}),
        ("How do I list active topics?", "ros2 topic list", {ROS2}),
    ],
)
def test_a_how_to_question_shows_the_books_command_in_its_code_block(
    http: httpx.Client, question: str, command: str, files: set[str]
) -> None:
    body = ask(http, question)
    assert body["refused"] is False
    code = [b for b in blocks_of_kind(body, "code") if command in b["text"]]
    assert code, (question, body["answer"], body["blocks"])
    block = code[0]
    assert block["markdown"] in body["answer"]
    assert block["markdown"] == f"```{block['language'] or ''}\n{block['text']}\n```"
    assert block["citation"] in {c["id"] for c in body["citations"]}
    assert citation(body, block["citation"])["source_file"] in files


# --- a definition and its list, a comparison and its table --------------------------------------------------------


def test_a_definition_that_announces_a_list_shows_the_list_after_its_colon(http: httpx.Client) -> None:
    body = ask(http, "What is embodied AI?")
    parts = segments(body)
    at = next((i for i, (kind, s) in enumerate(parts) if kind == "block" and s["kind"] == "list"), None)
    assert at is not None and at > 0, body["answer"]
    kind, before = parts[at - 1]
    assert kind == "prose" and COLON_END.search(before), body["answer"]
    listed = parts[at][1]
    assert len(listed["items"]) >= 2 and any(item.startswith("Perceive") for item in listed["items"]), listed
    assert citation(body, listed["citation"])["source_file"] == INTRO


def test_a_comparison_is_answered_with_the_books_table(http: httpx.Client) -> None:
    body = ask(http, "How do topics, services and actions compare?")
    tables = blocks_of_kind(body, "table")
    assert tables, body["answer"]
    table = tables[0]
    assert table["header"] and len(table["rows"]) >= 3
    assert all(len(row) == len(table["header"]) for row in table["rows"])
    assert {row[0] for row in table["rows"]} >= {"Topic", "Service", "Action"}, table
    assert citation(body, table["citation"])["source_file"] == ROS2


# --- a figure -----------------------------------------------------------------------------------------------------


FIGURE_QUESTION = "How do names for soft drinks change across the United States?"


def test_a_question_about_what_a_figure_shows_shows_the_figure_with_its_alt_text(http: httpx.Client) -> None:
    body = ask(http, FIGURE_QUESTION)
    figures = blocks_of_kind(body, "figure")
    assert figures, body["answer"]
    figure = figures[0]
    assert "soft drink" in figure["alt"]
    assert figure["src"] and figure["src"].startswith("https://book.example/") and figure["src"].endswith(".png")
    assert figure["markdown"].startswith(f"![{figure['alt']}]({figure['src']})")
    assert citation(body, figure["citation"])["source_file"] == SHIFT


def test_a_figure_shown_is_not_also_read_out_as_a_sentence(http: httpx.Client) -> None:
    """The figure's Markdown line is a block, not prose: its alt text is not said again as a sentence (nor
    as "!alt", the image line with its link taken out)."""
    body = ask(http, FIGURE_QUESTION)
    figure = blocks_of_kind(body, "figure")[0]
    prose = " ".join(s for kind, s in segments(body) if kind == "prose")
    assert figure["alt"] not in prose, body["answer"]


# --- no dangling colon ----------------------------------------------------------------------------------------------


VARIED = [
    "How do I create a new project with Cargo?",
    "How do I get a parameter value?",
    "What is embodied AI?",
    "How do topics, services and actions compare?",
    "How do I list active topics?",
    "What is a ROS 2 topic?",
    "What is Cargo?",
    "How do I build and run a Cargo project?",
    "What is a parameter in ROS 2?",
    "How do I save parameters to a file?",
    "What are the key characteristics of physical AI?",
    "What is covariate shift?",
    "What is concept shift?",
    "How does ROS1 differ from ROS2?",
    "What are QoS policies?",
    "How do I launch multiple nodes?",
    "What is the perception-action loop?",
]


def test_a_sentence_ending_in_a_colon_is_always_followed_by_its_block(http: httpx.Client) -> None:
    answered = 0
    for question in VARIED:
        body = ask(http, question)
        if body["refused"]:
            continue
        answered += 1
        parts = segments(body)
        for i, (kind, text) in enumerate(parts):
            if kind != "prose" or not COLON_END.search(text.rstrip()):
                continue
            assert i + 1 < len(parts) and parts[i + 1][0] == "block", (question, body["answer"])
        assert not COLON_END.search(body["answer"].rstrip()), (question, body["answer"])
    assert answered >= 12, answered


# --- explain this -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("chapter", "opening"),
    [(ROS2, "Topics enable asynchronous"), (INTRO, "Physical AI, also known as embodied AI")],
)
def test_explain_this_in_book_mode_says_more_than_the_selection(http: httpx.Client, chapter: str, opening: str) -> None:
    selection = book_paragraph(chapter, opening)
    body = ask(http, "Explain this", selected_text=selection)
    assert body["refused"] is False
    said = [s for kind, text in segments(body) if kind == "prose" for s in sentences(text)]
    assert said and any(s not in selection for s in said), (selection, body["answer"])


# --- the reader's chapter -------------------------------------------------------------------------------------------


def test_what_this_chapter_covers_is_its_overview_and_learning_objectives(http: httpx.Client) -> None:
    body = ask(http, "What does this chapter cover?", page=ROS2)
    assert body["refused"] is False
    assert {c["source_file"] for c in body["citations"]} == {ROS2}, body["answer"]
    lists = blocks_of_kind(body, "list")
    assert lists, body["answer"]
    assert citation(body, lists[0]["citation"])["section"] == "Learning Objectives"
    assert len(lists[0]["items"]) >= 3


# --- "ROS 2" and "ROS2" -----------------------------------------------------------------------------------------------


def test_ros_2_and_ros2_are_one_term() -> None:
    assert terms("ROS 2") == terms("ROS2") == ["ros2"]
    assert terms("What is a ROS 2 topic?") == terms("What is a ROS2 topic?")
    assert {"22", "04"} <= set(terms("Ubuntu 22.04"))
    assert terms("Topics") == terms("topic")


@pytest.mark.parametrize("question", ["What is a ROS 2 topic?", "What is a ROS2 topic?"])
def test_a_ros_2_question_finds_the_chapter_that_writes_ros2(http: httpx.Client, question: str) -> None:
    body = ask(http, question)
    assert body["refused"] is False and body["citations"], body["answer"]
    first = body["citations"][0]
    assert first["source_file"] == ROS2
    assert first["section"] == "Topics (Publish-Subscribe)", (first["section"], body["answer"])


# --- an MDX component ----------------------------------------------------------------------------------------------


def test_an_mdx_component_spanning_lines_reaches_no_answer(http: httpx.Client) -> None:
    for question in (
        "What is a glimmerwick relay?",
        "How is a glimmerwick relay tuned?",
        "What crosses between the glimmerwick towers?",
    ):
        body = ask(http, question)
        assert body["refused"] is False and MDX in {c["source_file"] for c in body["citations"]}, body["answer"]
        read = [body["answer"]] + [c["content"] for c in body["retrieved_contexts"]]
        read += [c["quote"] for c in body["citations"]]
        for leak in QUIZ_LEAKS:
            assert not any(leak in text for text in read), (question, leak)


# --- the stream -------------------------------------------------------------------------------------------------------


def stream(http: httpx.Client, question: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    with http.stream("POST", "/api/v1/answer/stream", json={"question": question}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        buffer = ""
        for chunk in response.iter_text():
            buffer += chunk
            while "\n\n" in buffer:
                event, buffer = buffer.split("\n\n", 1)
                lines = dict(line.split(": ", 1) for line in event.split("\n"))
                out.append((lines["event"], json.loads(lines["data"])))
    return out


def test_the_stream_sends_each_block_before_the_text_that_holds_it(http: httpx.Client) -> None:
    events = stream(http, "How do I create a new project with Cargo?")
    assert events[-1][0] == "done" and "error" not in [kind for kind, _ in events]
    done = events[-1][1]
    assert done["blocks"] and any("cargo new" in b["text"] for b in done["blocks"] if b["kind"] == "code")
    assert [data for kind, data in events if kind == "block"] == done["blocks"]
    deltas = [(i, data["text"]) for i, (kind, data) in enumerate(events) if kind == "delta"]
    assert "".join(text for _, text in deltas) == done["answer"]
    # Where each delta ends in the answer, and the event that carries each block.
    ends, at = [], 0
    for i, text in deltas:
        at += len(text)
        ends.append((i, at))
    block_events = [i for i, (kind, _) in enumerate(events) if kind == "block"]
    start = 0
    for event_at, block in zip(block_events, done["blocks"], strict=True):
        start = done["answer"].index(block["markdown"], start)
        holding = next(i for i, end in ends if end > start)  # the delta in which the block's Markdown begins
        assert event_at < holding, (event_at, holding)
        start += len(block["markdown"])


# --- the API user's Markdown ------------------------------------------------------------------------------------------


def test_the_answer_markdown_holds_a_fenced_code_block_and_a_pipe_table(http: httpx.Client) -> None:
    how_to = ask(http, "How do I create a new project with Cargo?")["answer"]
    assert re.search(r"(?m)^```[\w-]*\n(?:.*\n)*?.*cargo new.*\n(?:.*\n)*?```$", how_to), how_to
    compared = ask(http, "How do topics, services and actions compare?")["answer"]
    assert re.search(r"(?m)^\| .+ \|\n\|(?: --- \|)+\n(?:\| .+ \|\n?)+", compared), compared
