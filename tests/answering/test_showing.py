"""What an answer shows of the book besides its sentences (src/answering/showing.py): which questions ask
for a command or a comparison, each block kind's Markdown as `answer` holds it (BLOCKS.md), a long list
cut with what it leaves out, a figure's image kept on the book's own site, and two answers with blocks
merged into one (src/answering/citations.py). Hand-written blocks only."""

from __future__ import annotations

import pytest

from src.answering.citations import Composed, marks, merge
from src.answering.showing import AnswerBlock, Shown, asks_comparison, asks_how_to, figure_src, render
from src.retrieval.blocks import Block, blocks_of
from src.retrieval.passage import Citation

PAGE = "https://book.example/docs/03-ros2/index#topics"


def shown(markdown: str) -> Shown:
    block = next(b for b in blocks_of(markdown) if b.kind != "paragraph")
    return Shown(0, block, None)


@pytest.mark.parametrize(
    "question",
    [
        "How do I create a new project with Cargo?",
        "how to list the topics",
        "So how can I set a parameter?",
        "What command lists the running nodes?",
        "Show me the code for a publisher",
    ],
)
def test_a_task_question_asks_how_to(question: str) -> None:
    assert asks_how_to(question)


@pytest.mark.parametrize(
    "question", ["What is a topic?", "How does a PID controller work?", "Why is ROS 2 a middleware?"]
)
def test_a_question_about_what_or_why_does_not_ask_how_to(question: str) -> None:
    assert not asks_how_to(question)


@pytest.mark.parametrize(
    "question",
    [
        "How do topics, services and actions compare?",
        "What is the difference between a topic and a service?",
        "topics vs services",
        "ROS1 versus ROS2",
        "How does a service differ from an action?",
    ],
)
def test_a_comparison_is_recognised(question: str) -> None:
    assert asks_comparison(question)


@pytest.mark.parametrize("question", ["What is a topic?", "How do I compile it?", "List the QoS policies"])
def test_other_questions_are_not_comparisons(question: str) -> None:
    assert not asks_comparison(question)


def test_code_renders_fenced_with_its_language() -> None:
    block = render(shown("```bash\nros2 topic list\n```"), 2, PAGE)
    assert block.markdown == "```bash\nros2 topic list\n```"
    assert (block.kind, block.language, block.text, block.citation, block.url) == (
        "code",
        "bash",
        "ros2 topic list",
        2,
        PAGE,
    )
    assert render(shown("```\nls\n```"), 1, None).markdown == "```\nls\n```"  # no language after the backticks


def test_a_list_renders_its_items_as_plain_text() -> None:
    block = render(shown("- **Perceive** the world\n- Act on [it](x.md)"), 1, PAGE)
    assert block.markdown == "- Perceive the world\n- Act on it"
    assert (block.items, block.ordered, block.more) == (["Perceive the world", "Act on it"], False, 0)
    numbered = render(shown("1. one\n2. two"), 1, PAGE)
    assert numbered.markdown == "1. one\n2. two" and numbered.ordered is True


def test_a_long_list_is_cut_saying_how_many_more() -> None:
    items = "\n".join(f"- item {i}" for i in range(1, 12))
    block = render(shown(items), 1, PAGE)
    assert block.items == [f"item {i}" for i in range(1, 9)] and block.more == 3
    assert block.markdown.split("\n")[-1] == "- … and 3 more"
    assert block.markdown.count("\n") == 8  # eight items and the line that says how many more


def test_a_table_renders_as_a_pipe_table() -> None:
    block = render(shown("| Mechanism | **Sync?** |\n|---|:---:|\n| Topic | No |\n| Service | Yes |"), 3, PAGE)
    assert block.markdown == "| Mechanism | Sync? |\n| --- | --- |\n| Topic | No |\n| Service | Yes |"
    assert block.header == ["Mechanism", "Sync?"] and block.rows == [["Topic", "No"], ["Service", "Yes"]]
    assert block.more == 0


def test_math_renders_between_double_dollars() -> None:
    block = render(shown("$$\na = b +\nc\n$$"), 1, PAGE)
    assert block.markdown == "$$\na = b +\nc\n$$" and block.text == "a = b +\nc"


def test_a_figure_renders_as_an_image_on_the_books_site_with_its_caption() -> None:
    block = render(shown("![A robot arm](img/arm.png)\n*The arm in its cell*"), 1, PAGE)
    assert block.src == "https://book.example/docs/03-ros2/img/arm.png"
    assert block.markdown == "![A robot arm](https://book.example/docs/03-ros2/img/arm.png)\n*The arm in its cell*"
    assert (block.alt, block.caption) == ("A robot arm", "The arm in its cell")


def test_a_figure_whose_image_cannot_be_known_says_its_alt_text() -> None:
    block = render(shown("![A robot arm](img/arm.png)"), 1, None)
    assert block.src is None and block.markdown == "*Figure: A robot arm*"
    link = Block("figure", "![A robot arm](javascript:alert`1`)", alt="A robot arm", src="javascript:alert`1`")
    hostile = render(Shown(0, link), 1, PAGE)
    assert hostile.src is None and "javascript" not in hostile.markdown


@pytest.mark.parametrize(
    ("src", "url"),
    [
        ("img/arm.png", "https://book.example/docs/03-ros2/img/arm.png"),
        ("../img/soda.png", "https://book.example/docs/img/soda.png"),
        ("/img/soda.png", "https://book.example/img/soda.png"),
        ("https://book.example/static/a.png", "https://book.example/static/a.png"),
        ("javascript:alert(1)", None),
        ("JavaScript:alert(1)", None),
        ("data:image/png;base64,iVBORw0KGgo=", None),
        ("https://elsewhere.example/a.png", None),
        ("//elsewhere.example/a.png", None),
        ("ftp://book.example/a.png", None),
    ],
)
def test_figure_src_keeps_the_image_on_the_pages_own_origin(src: str, url: str | None) -> None:
    assert figure_src(src, PAGE) == url


def test_figure_src_without_a_page_url_is_unknown() -> None:
    assert figure_src("img/arm.png", None) is None


def cite(n: int, chunk: str, quote: str) -> Citation:
    return Citation(id=n, chunk_id=chunk, source_file="book/ch.md", quote=quote)


def test_merging_two_answers_keeps_their_blocks_whole_and_renumbers_their_citations() -> None:
    code = AnswerBlock(
        kind="code", markdown="```bash\nros2 node list\n\nros2 node info /cam\n```", citation=1, language="bash"
    )
    first = Composed(
        f"Nodes are listed with the command: [1]\n\n{code.markdown}\n\nA node is a process. [2]",
        [cite(1, "chunk-cli", "Nodes are listed with the command:"), cite(2, "chunk-nodes", "A node is a process.")],
        [0, 1],
        1.0,
        [code],
    )
    listed = AnswerBlock(kind="list", markdown="- Decoupled\n- Unidirectional", citation=2, items=["Decoupled"])
    second = Composed(
        f"A node is a process. [1] Topics are: [2]\n\n{listed.markdown}",
        [cite(1, "chunk-nodes", "A node is a process."), cite(2, "chunk-topics", "Topics are:")],
        [1, 2],
        1.0,
        [listed],
    )
    merged = merge([first, second])
    assert [c.chunk_id for c in merged.citations] == ["chunk-cli", "chunk-nodes", "chunk-topics"]
    assert [b.markdown for b in merged.blocks] == [code.markdown, listed.markdown]  # whole, in order
    assert [b.citation for b in merged.blocks] == [1, 3]  # the list's passage is [3] in the merged answer
    answer = merged.answer
    assert answer.index(code.markdown) < answer.index(listed.markdown)
    assert "Topics are: [3]\n\n" + listed.markdown in answer
    assert answer.count("A node is a process.") == 1  # said once, under one number
    assert set(marks(answer)) == {1, 2, 3}
