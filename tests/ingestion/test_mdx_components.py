"""JSX components and HTML tags in MDX and Markdown prose (mdx.py through parse_markdown): every tag goes
with all its attributes, however many lines they span; the text a reader sees stays, the known wrappers'
labels and captions as lines; fences, code spans and types are left alone; hostile text costs linear time."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from src.ingestion.markdown import parse_markdown, strip_html_comments
from src.ingestion.mdx import read_components
from tests.conftest import shared_path
from tests.ingestion.test_hostile_documents import best_of_3


def text_of(markdown: str) -> str:
    return "\n".join(section.text for section in parse_markdown(markdown).sections)


def prose_lines(markdown: str) -> list[str]:
    """The lines outside code fences."""
    lines, fence = [], False
    for line in markdown.split("\n"):
        if re.match(r"^\s{0,3}(```|~~~)", line):
            fence = not fence
        elif not fence:
            lines.append(line)
    return lines


QUIZ = """# Topics

A topic is a named bus.

<Quiz
  question="Which one is a topic?"
  options={["a bus", "a node",
            "a {nested} service"]}
  correctAnswer={1}
  explanation={`Topics ${"carry"} messages: } and " do not end this`}
  {...rest}
/>

Publishers write to it.
"""


def test_a_component_spanning_lines_goes_with_all_its_attributes() -> None:
    text = text_of(QUIZ)
    assert "A topic is a named bus.\n\nPublishers write to it." in text
    for prop in ("question=", "options={", "correctAnswer=", "explanation=", "Which one", "nested", "<Quiz", "/>"):
        assert prop not in text


def test_unknown_components_keep_their_children_and_self_closing_ones_leave_nothing() -> None:
    text = text_of('<Card title="Nodes" href="/nodes">\nA node is a process.\n</Card>\n\n<Spacer size={4} />\n\nAfter.')
    assert text == "A node is a process.\n\nAfter."


def test_a_tag_inside_a_line_of_prose_leaves_its_text() -> None:
    assert text_of('A topic <Highlight color="#ff0">carries</Highlight> messages.') == "A topic carries messages."
    assert text_of("Line one<br/>line two, H<sub>2</sub>O.") == "Line one line two, H2O."


def test_details_keep_their_summary_as_a_bold_line_and_their_children() -> None:
    text = text_of("<details>\n<summary>Show the answer</summary>\n\nThe answer is **b**.\n\n</details>\n")
    assert text == "**Show the answer**\n\nThe answer is **b**."


def test_each_tab_labels_its_code() -> None:
    text = text_of(
        """<Tabs groupId="language">
<TabItem value="py" label="Python" default>

```python
node = rclpy.create_node("talker")
```

</TabItem>
<TabItem value="cpp">

```cpp
auto node = rclcpp::Node::make_shared("talker");
```

</TabItem>
</Tabs>
"""
    )
    assert 'Python:\n\n```python\nnode = rclpy.create_node("talker")\n```' in text
    assert "cpp:\n\n```cpp\n" in text  # no label: the value is the tab's name
    assert "TabItem" not in text and "groupId" not in text and "default" not in text


def test_an_admonition_component_is_labelled_as_a_fenced_admonition_is() -> None:
    text = text_of('<Admonition type="warning">\nMotors get hot.\n</Admonition>\n\n:::tip Key idea\nRest.\n:::')
    assert text == "Warning:\nMotors get hot.\n\nKey idea:\nRest."
    assert text_of('<Admonition type="note" title="Careful">\nHot.\n</Admonition>') == "Careful:\nHot."


def test_figures_and_bare_images_become_markdown_images_with_their_caption() -> None:
    figure = """Before.

<figure>

<img src="img/walk-cycle.svg" class="center" alt="A gait cycle: stance, then swing" />

<figcaption>Figure 3-1: One gait cycle of a biped</figcaption>

</figure>

After."""
    assert text_of(figure) == (
        "Before.\n\n![A gait cycle: stance, then swing](img/walk-cycle.svg)\n*Figure 3-1: One gait cycle of a biped*"
        "\n\nAfter."
    )
    assert text_of('<img alt="Two [nested] lists" src="img/lists.svg" class="center" />') == (
        r"![Two \[nested\] lists](img/lists.svg)"
    )
    row = '| <img src="img/no.svg" class="icon" alt="A crab with a question mark"/> | This code does not compile! |'
    assert text_of(row) == "| ![A crab with a question mark](img/no.svg) | This code does not compile! |"
    assert text_of("![The fitted line](../img/fit.svg)\n:label:`fig_fit`") == "![The fitted line](../img/fit.svg)"


def test_mdx_comments_go_and_fences_code_spans_and_types_stay() -> None:
    source = """{/* a comment
over two lines */}
Use the `<Tabs>` component, not <Quiz a="1" /> here; `Vec<T>` and Option<String> are types, and so is `Result<T,
E>`.

```jsx
<Quiz
  options={["a"]}
/>
```

$$
a <B> c
$$
"""
    text = text_of(source)
    assert text.startswith("Use the `<Tabs>` component, not  here; `Vec<T>` and Option<String> are types")
    assert "`Result<T,\nE>`" in text
    assert '```jsx\n<Quiz\n  options={["a"]}\n/>\n```' in text
    assert "$$\na <B> c\n$$" in text
    assert "comment" not in text


def test_heading_lines_are_read_as_before_so_their_anchors_stay() -> None:
    doc = parse_markdown(
        '# Book\n\n## Logo <img src="logo.png" alt="The logo"/>\n\nA.\n\n## The <Highlight>Zero</Highlight> point\n\nB.'
    )
    assert [section.anchor for section in doc.sections] == ["logo", "the-zero-point"]


@pytest.mark.parametrize(
    "prose",
    [
        "if a <B then c, d",  # not a tag: the scan stops at the comma
        'an unclosed <Quiz question="a',
        "an unclosed <Quiz options={[1, 2",
        "x <y and 3 < 4",
        "mail <a@b.example> or <https://b.example>",
        "{/* never closed",
    ],
)
def test_what_is_not_a_well_formed_tag_stays_text(prose: str) -> None:
    assert read_components(prose) == prose


def test_a_rust_book_chapter_keeps_its_figures_and_drops_its_listings() -> None:
    root = shared_path("data", "textbooks", "rust-book", "src")
    text = text_of((root / "ch17-00-async-await.md").read_text(encoding="utf-8"))
    image = re.search(r"^!\[A diagram with boxes labeled Task A and Task B[^\]]*\]\(img/trpl17-01\.svg\)$", text, re.M)
    assert image, "the figure's image line is missing"
    assert text[image.end() :].startswith("\n*Figure 17-1: A concurrent workflow, switching between Task A and Task B*")
    assert "<figure" not in text and "figcaption" not in text and "<img" not in text
    intro = text_of((root / "ch00-00-introduction.md").read_text(encoding="utf-8"))
    assert re.search(
        r"^\| !\[Ferris with a question mark\]\(img/ferris/does_not_compile\.svg\) +\| This code", intro, re.M
    )


@pytest.mark.parametrize("book", ["rust-book", "physical-ai", "d2l"])
def test_no_component_or_prop_is_left_in_the_prose_of_a_shared_book(book: str) -> None:
    root = shared_path("data", "textbooks", book)
    files = sorted(root.rglob("*.md*"))
    assert files
    props = re.compile(r"<Listing\b|</Listing>|\bfile-name=\"|\bcorrectAnswer=|\boptions=\{|<figure|<figcaption|<img\b")
    for path in files:
        source = path.read_text(encoding="utf-8")
        text = text_of(source)
        for line in prose_lines(text):
            assert not props.search(line.replace("`<img>`", "")), (path, line)
        fences = len([line for line in strip_html_comments(source).split("\n") if re.match(r"^\s{0,3}```", line)])
        assert len([line for line in text.split("\n") if re.match(r"^\s{0,3}```", line)]) == fences, path


# --- Linear time ------------------------------------------------------------------------------------------

N = 25_000  # and 4N: linear work takes about 4 times as long, quadratic 16


def runs_of_every_length(size: int) -> str:
    """`` ` a `` a `` ``` a ``...: no run closes another, so each one looks ahead for its match."""
    parts, length, k = [], 0, 1
    while length < size:
        parts.append("`" * k + " a ")
        length += k + 3
        k += 1
    return "".join(parts)


HOSTILE: dict[str, Callable[[int], str]] = {
    "an unclosed <Quiz and 100k characters after it": lambda n: (
        '<Quiz\n  question="a"\n  options={[' + "x, " * (n // 3)
    ),
    "an unclosed tag with only attributes after it": lambda n: "<Quiz " + "a " * (n // 2),
    "<A { repeated": lambda n: "<A {" * (n // 4),
    '<A a=" repeated': lambda n: '<A a="' * (n // 6),
    "a template literal opened again and again": lambda n: "<A b={`${" * (n // 9),
    "strings in an expression": lambda n: "<A b={'\"" * (n // 8),
    "{/* repeated": lambda n: "{/*" * (n // 3),
    "{/* repeated before one */": lambda n: "{/*" * (n // 3) + "*/ x",
    "< repeated": lambda n: "<" * n,
    "</A repeated": lambda n: "</A" * (n // 3),
    "<summary> never closed": lambda n: "<summary>" * (n // 9),
    "<figure> never closed": lambda n: "<figure>a\n" * (n // 10),
    "backtick runs of every length": lambda n: runs_of_every_length(n),
    "backticks across blank lines": lambda n: "` a\n\n" * (n // 5),
}


def assert_linear(parse: Callable[[str], object], make: Callable[[int], str], size: int) -> None:
    """`parse` of `make(4 * size)` takes less than ten times as long as of `make(size)` (linear: about 4,
    quadratic: about 16), or under 2 ms; a ratio past it is measured once more, the CPU being shared."""
    small, large = best_of_3(parse, make(size)), best_of_3(parse, make(4 * size))
    if large >= 0.002 and large / small > 10:
        small, large = best_of_3(parse, make(size)), best_of_3(parse, make(4 * size))
    assert large < 0.002 or large / small <= 10, (size, small, large)


@pytest.mark.parametrize("shape", HOSTILE)
def test_hostile_components_take_linear_time(shape: str) -> None:
    assert_linear(parse_markdown, HOSTILE[shape], N)
