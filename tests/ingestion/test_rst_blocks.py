"""reStructuredText blocks as standard Markdown (rst.py): code-block, code, sourcecode and `::` literal
blocks as fences with their language; list-tables, grid tables and simple tables as pipe tables; figures
and images as `![alt](path)` with their caption; literalincludes read from inside the book only, within
bounds; hostile tables cost linear time."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from src.ingestion import rst
from src.ingestion.rst import expand_literalincludes, parse_rst
from tests.conftest import shared_path
from tests.ingestion.test_mdx_components import assert_linear


def text_of(source: str) -> str:
    return "\n".join(section.text for section in parse_rst(source).sections)


def test_code_directives_and_literal_blocks_are_fences_with_their_language() -> None:
    text = text_of(
        """Build
=====

.. code-block:: bash
   :caption: Build the workspace
   :emphasize-lines: 1

   colcon build --symlink-install

.. sourcecode:: python

   import rclpy

.. code::

   no language named

Run it::

    ros2 run demo_nodes_cpp talker

.. highlight:: console

Then list the nodes ::

    ros2 node list

.. code-block::

   $ ros2 topic list

A call to rclcpp::
spin in the middle of a paragraph.
"""
    )
    assert "```bash\ncolcon build --symlink-install\n```" in text
    assert "```python\nimport rclpy\n```" in text
    assert "```\nno language named\n```" in text
    assert "Run it:\n```\nros2 run demo_nodes_cpp talker\n```" in text
    assert "Then list the nodes\n```console\nros2 node list\n```" in text  # `text ::` keeps no colon
    assert "```console\n$ ros2 topic list\n```" in text  # the language `.. highlight::` set
    assert "A call to rclcpp::\nspin in the middle" in text
    assert ":caption:" not in text and "emphasize" not in text
    assert text.count("```") == 12  # `.. highlight::` itself writes no block


def test_a_fence_is_longer_than_the_backticks_inside_its_code() -> None:
    text = text_of(".. code-block:: markdown\n\n   ```python\n   x = 1\n   ```\n")
    assert text == "````markdown\n```python\nx = 1\n```\n````"


def test_a_list_table_is_a_pipe_table() -> None:
    text = text_of(
        """.. list-table:: Built-in types
   :header-rows: 1
   :widths: 20 40

   * - Type name
     - C++
   * - bool
     - ``bool``
   * - string
     - a | pipe and a cell
       on two lines
   * -
     - an empty first cell
"""
    )
    assert text == (
        "Built-in types\n\n"
        "| Type name | C++ |\n"
        "| --- | --- |\n"
        "| bool | `bool` |\n"
        "| string | a \\| pipe and a cell on two lines |\n"
        "|  | an empty first cell |"
    )
    headless = text_of(".. list-table::\n\n   * - a\n     - b\n   * - c\n")
    assert headless == "|  |  |\n| --- | --- |\n| a | b |\n| c |  |"  # no header row: an empty one


def test_a_list_table_that_is_not_a_list_of_lists_stays_text() -> None:
    text = text_of(".. list-table::\n\n   Just a paragraph.\n")
    assert text == "Just a paragraph."


def test_grid_tables_are_pipe_tables_unless_a_cell_spans() -> None:
    text = text_of(
        """+------------+-----------------+
| Feature    | ROS 2           |
+============+=================+
| remapping  | -r foo:=bar     |
| (names)    |                 |
+------------+-----------------+
| parameters | -p foo:=bar     |
+------------+-----------------+
"""
    )
    assert text == (
        "| Feature | ROS 2 |\n| --- | --- |\n| remapping (names) | -r foo:=bar |\n| parameters | -p foo:=bar |"
    )
    spanning = """+-----+-----+
| both columns |
+-----+-----+
| a   | b   |
+-----+-----+"""
    assert text_of(spanning) == "```\n" + spanning + "\n```"


def test_simple_tables_are_pipe_tables() -> None:
    text = text_of(
        """The values:

=====  =================
value  statistic
=====  =================
1      average
       over the window
2      minimum
=====  =================

After.
"""
    )
    assert text == (
        "The values:\n\n| value | statistic |\n| --- | --- |\n| 1 | average over the window |\n| 2 | minimum |\n\nAfter."
    )
    assert text_of("====  ====\na     b\nc     d\n====  ====\n") == "|  |  |\n| --- | --- |\n| a | b |\n| c | d |"


def test_figures_and_images_are_markdown_images_with_their_caption() -> None:
    text = text_of(
        """.. figure:: ../images/stack.png
   :alt: The client library stack
   :width: 550px

   Figure: the stack, from ``rcl`` down to :doc:`rmw <../rmw>`.

   A legend paragraph.

.. image:: panels/3d.png
   :width: 500 px
   :alt: The 3D panel

.. image:: plain.png
"""
    )
    assert text == (
        "![The client library stack](../images/stack.png)\n"
        "*Figure: the stack, from `rcl` down to rmw.*\n\n"
        "A legend paragraph.\n\n"
        "![The 3D panel](panels/3d.png)\n\n"
        "![](plain.png)"
    )


def test_auto_numbered_items_are_a_markdown_list() -> None:
    assert text_of("#. first\n#. second\n\n   #. nested\n") == "1. first\n1. second\n\n   1. nested"


# --- literalinclude --------------------------------------------------------------------------------------

DOC = """Driver
======

.. tabs::

   .. group-tab:: Python

      .. literalinclude:: Code/driver.py
         :language: python
         :lines: 2-3
         :dedent: 4

      The class holds the robot.

.. literalinclude:: Code/driver.py
   :language: python
   :start-after: # begin
   :end-before: # end

.. literalinclude:: {outside}
   :language: python

.. literalinclude:: Code/missing.py
"""
DRIVER = "class Driver:\n    def init(self):\n        self.robot = None\n    # begin\nSPEED = 2\n    # end\n"


@pytest.fixture
def book(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "book"
    (root / "source" / "Code").mkdir(parents=True)
    (root / "source" / "Code" / "driver.py").write_text(DRIVER, encoding="utf-8")
    (tmp_path / "secret.py").write_text("TOKEN = 'outside the book'\n", encoding="utf-8")
    document = root / "source" / "Driver.rst"
    document.write_text(DOC.format(outside="../../secret.py"), encoding="utf-8")
    return root, document


def test_a_literalinclude_inside_the_book_is_a_fence_with_its_language(book: tuple[Path, Path]) -> None:
    root, document = book
    text = text_of(expand_literalincludes(document.read_text(encoding="utf-8"), document, root))
    assert "Python:\n```python\ndef init(self):\n    self.robot = None\n```\n\nThe class holds the robot." in text
    assert "```python\nSPEED = 2\n```" in text
    assert "outside the book" not in text and "TOKEN" not in text  # a path out of the book is not read
    assert "literalinclude" not in text and "missing.py" not in text


def test_a_literalinclude_is_skipped_without_the_book_or_past_its_bounds(
    book: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, document = book
    source = document.read_text(encoding="utf-8")
    alone = text_of(source)  # the API gets one file's text: nothing to read the code from
    assert "Python:\n\nThe class holds the robot." in alone and "```" not in alone and "literalinclude" not in alone
    monkeypatch.setattr(rst, "MAX_INCLUDE_BYTES", len(DRIVER) - 1)
    assert expand_literalincludes(source, document, root) == source
    monkeypatch.setattr(rst, "MAX_INCLUDE_BYTES", len(DRIVER))
    monkeypatch.setattr(rst, "MAX_INCLUDED_CHARS", 40)  # room for the first include (38 characters) only
    expanded = expand_literalincludes(source, document, root)
    assert expanded.count(".. code-block:: python") == 1 and expanded.count(".. literalinclude::") == 3


def test_a_symlink_out_of_the_book_is_not_followed(book: tuple[Path, Path]) -> None:
    root, document = book
    (root / "source" / "Code" / "link.py").symlink_to(root.parent / "secret.py")
    source = ".. literalinclude:: Code/link.py\n   :language: python\n"
    assert expand_literalincludes(source, document, root) == source


# --- The shared ROS 2 documentation ----------------------------------------------------------------------


def ros_page(relative: str) -> str:
    return text_of(shared_path("data", "textbooks", "ros2-docs", "source", relative).read_text(encoding="utf-8"))


def test_ros2_pages_keep_their_tables_code_and_figures() -> None:
    interfaces = ros_page("Concepts/Basic/About-Interfaces.rst")
    assert re.search(
        r"^\| Type name \| C\+\+ \| Python \| DDS type \|\n\| --- \| --- \| --- \| --- \|$", interfaces, re.M
    )
    assert re.search(r"^\| bool \| bool \| builtins\.bool \| boolean \|$", interfaces, re.M)
    assert "list-table" not in interfaces and "header-rows" not in interfaces
    scripts = ros_page("How-To-Guides/Migrating-from-ROS1/Migrating-Scripts.rst")
    assert re.search(r"^\| Feature \| ROS 1 \| ROS 2 \|\n\| --- \| --- \| --- \|\n\| remapping \|", scripts, re.M)
    internals = ros_page("Concepts/Advanced/About-Internal-Interfaces.rst")
    assert re.search(
        r"^!\[ros2 idl static type support stack\]\(\.\./images/ros_idl_api_stack_static\.png\)\n\*Figure: flow chart",
        internals,
        re.M,
    )


def test_every_ros2_code_block_is_a_fence_with_its_language() -> None:
    root = shared_path("data", "textbooks", "ros2-docs", "source")
    pages = sorted(root.rglob("*.rst"))
    assert len(pages) > 100
    languages = re.compile(r"^\s*\.\. code-block:: *(\S+)\s*$", re.M)
    for page in pages:
        source = page.read_text(encoding="utf-8")
        text = text_of(source)
        for language in set(languages.findall(source)):
            wanted = len(re.findall(rf"^\s*\.\. code-block:: *{re.escape(language)}\s*$", source, re.M))
            assert len(re.findall(rf"^`{{3,}}{re.escape(language)}$", text, re.M)) >= wanted, (page, language)
        assert not re.search(r"^\s*\.\. (code-block|list-table|figure|image)::", text, re.M), page


# --- Linear time ------------------------------------------------------------------------------------------

N = 8_000  # lines' worth of characters; and 4N: linear work takes about 4 times as long, quadratic 16
HOSTILE: dict[str, Callable[[int], str]] = {
    "grid borders that never end a table": lambda n: "+-+\n" * (n // 4) + "| x",
    "grid rows under one border": lambda n: "+-+-+\n" + "| | |\n" * (n // 6),
    "simple borders repeated": lambda n: "==  ==\n" * (n // 7),
    "a simple table that never closes": lambda n: "==  ==\n" + "a   b\n" * (n // 6),
    "a list-table of many rows": lambda n: ".. list-table::\n\n" + "   * - a\n     - b\n" * (n // 20),
    "literal block markers": lambda n: "a::\n\n" * (n // 5),
}


@pytest.mark.parametrize("shape", HOSTILE)
def test_hostile_tables_take_linear_time(shape: str) -> None:
    assert_linear(parse_rst, HOSTILE[shape], N)


def test_literalincludes_in_bulk_take_linear_time(book: tuple[Path, Path]) -> None:
    root, document = book
    include = ".. literalinclude:: Code/driver.py\n   :language: python\n   :lines: 1-2\n\n"
    assert_linear(lambda text: expand_literalincludes(text, document, root), lambda n: include * n, 200)


def test_the_cli_reads_a_literalinclude_from_the_book_folder(tmp_path: Path) -> None:
    """`read_document` (what `python -m src.cli index` reads a file with) expands the include from the book."""
    from src.ingestion.files import read_document

    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "talker.py").write_text("print('talking')\n")
    page = tmp_path / "page.rst"
    page.write_text("Talker\n======\n\nThe node:\n\n.. literalinclude:: code/talker.py\n   :language: python\n")
    content, meta = read_document(page, tmp_path, None)
    assert meta.document_type == "rst"
    assert ".. code-block:: python" in str(content) and "print('talking')" in str(content)
