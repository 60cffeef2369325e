"""A passage's stored Markdown read back as the book's blocks (src/retrieval/blocks.py): code with its
language, lists with their items, tables with header and rows, display math, figures with their caption,
and the paragraph that leads into a block. Hand-written Markdown only."""

from __future__ import annotations

from src.retrieval.blocks import Block, blocks_of


def only(content: str, kind: str) -> Block:
    found = [b for b in blocks_of(content) if b.kind == kind]
    assert len(found) == 1, found
    return found[0]


def test_code_keeps_its_language_and_its_own_blank_lines() -> None:
    block = only("Install it:\n\n```bash\npip install foo\n\nfoo --help\n```\n\nDone.", "code")
    assert block.language == "bash"
    assert block.text == "pip install foo\n\nfoo --help"
    assert block.source == "```bash\npip install foo\n\nfoo --help\n```"


def test_code_without_a_language_and_a_tilde_fence() -> None:
    assert only("```\nls -la\n```", "code").language is None
    block = only("~~~rust\nfn main() {}\n~~~", "code")
    assert (block.language, block.text) == ("rust", "fn main() {}")


def test_an_unclosed_fence_reads_to_the_end() -> None:
    blocks = blocks_of("Run:\n\n```python\nprint(1)\n\nprint(2)")
    assert [b.kind for b in blocks] == ["paragraph", "code"]
    assert blocks[1].text == "print(1)\n\nprint(2)" and blocks[1].language == "python"


def test_a_list_item_continued_on_an_indented_line_is_one_item_in_plain_text() -> None:
    block = only("- **First** item that runs\n  over two lines\n- Second with [a link](https://x.example/a)\n", "list")
    assert block.items == ("First item that runs over two lines", "Second with a link")
    assert block.ordered is False


def test_a_list_item_continued_lazily_on_an_unindented_line_is_one_item() -> None:
    """CommonMark's lazy continuation: a paragraph inside an item may go on without indentation (d2l writes
    its lists this way); the next item still belongs to the same list."""
    block = only(
        "Examples:\n\n* New products are launched,\nold ones fade.\n* Lenses degrade.\n* News changes.\n", "list"
    )
    assert block.items == ("New products are launched, old ones fade.", "Lenses degrade.", "News changes.")


def test_an_ordered_list() -> None:
    block = only("1. one\n2. two\n3) three\n", "list")
    assert block.ordered is True and block.items == ("one", "two", "three")


def test_a_loose_list_with_blank_lines_between_items_is_one_list() -> None:
    assert only("- a\n\n- b\n\n- c", "list").items == ("a", "b", "c")


def test_a_bullet_list_then_a_numbered_list_are_two_lists() -> None:
    lists = [b for b in blocks_of("- a\n- b\n\n1. one\n2. two") if b.kind == "list"]
    assert [(b.items, b.ordered) for b in lists] == [(("a", "b"), False), (("one", "two"), True)]


def test_a_pipe_table_has_its_header_and_rows_without_the_separator() -> None:
    block = only("| Name | **Kind** |\n|------|:---:|\n| `a` | x |\n| b | y |\n\nAfter.", "table")
    assert block.header == ("Name", "Kind")
    assert block.rows == (("a", "x"), ("b", "y"))


def test_display_math_over_several_lines_and_on_one() -> None:
    block = only("Where:\n\n$$\na = b +\nc\n$$\n\nSo.", "math")
    assert block.text == "a = b +\nc"
    assert only("$$E = mc^2$$", "math").text == "E = mc^2"


def test_a_figure_with_its_caption_line() -> None:
    block = only("![A robot **arm**](img/arm.png)\n*The arm in its cell*\n\nText.", "figure")
    assert (block.alt, block.caption, block.src) == ("A robot arm", "The arm in its cell", "img/arm.png")
    bare = only('![Map](../img/map.png "Soda names")', "figure")
    assert (bare.alt, bare.caption, bare.src) == ("Map", "Soda names", "../img/map.png")


def test_the_paragraph_right_before_a_block_is_its_lead() -> None:
    blocks = blocks_of("Intro.\n\nROS 2 offers tools. Run the command:\n\n```bash\nros2 topic list\n```\n\n- a\n- b")
    assert [b.kind for b in blocks] == ["paragraph", "paragraph", "code", "list"]
    assert blocks[2].lead == "ROS 2 offers tools. Run the command:"
    assert blocks[3].lead is None  # a block after a block has no lead
    assert blocks[1].lead is None  # a paragraph is not led


def test_the_blocks_come_in_the_books_order() -> None:
    content = "Text.\n\n| a | b |\n| --- | --- |\n| 1 | 2 |\n\n$$x$$\n\n```\ncode\n```\n\n![alt](i.png)\n\n- item"
    assert [b.kind for b in blocks_of(content)] == ["paragraph", "table", "math", "code", "figure", "list"]


def test_a_separator_row_of_single_dashes_is_not_a_row() -> None:
    """GFM's delimiter row needs one hyphen per cell, no more."""
    block = only("| a | b |\n| - | :-: |\n| 1 | 2 |", "table")
    assert (block.header, block.rows) == (("a", "b"), (("1", "2"),))
