"""Every textbook format into sections and chunks: Docusaurus MDX, mdBook and d2lbook Markdown,
reStructuredText, HTML, text and PDF; and the four shared books index cleanly."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from src.ingestion.chunking import chunk_document
from src.ingestion.files import discover, read_document
from src.ingestion.html import parse_html
from src.ingestion.markdown import parse_markdown, slugify
from src.ingestion.parsers import parse
from src.ingestion.pdf import parse_pdf
from src.ingestion.rst import parse_rst
from src.ingestion.service import IndexingService
from src.ingestion.sites import page_url
from src.retrieval.embedder import Embedder
from tests.conftest import make_settings, shared_path
from tests.ingestion.pdf_maker import make_pdf

MDX = """---
title: Bipedal Walking
slug: /walking
sidebar_position: 3
---
import Tabs from '@theme/Tabs';
import TabItem from '@theme/TabItem';

# Bipedal Walking

Walking robots balance on a small support polygon.

<Tabs>
<TabItem value="py">

```python
# this comment is not a heading
def zmp(x):
    return x
```

</TabItem>
</Tabs>

## Zero Moment Point (ZMP)

:::tip Key idea
The ZMP must stay inside the support polygon.
:::

$$
x_{zmp} = x_{com} - \\frac{z_{com}}{g} \\ddot{x}_{com}
$$

## Custom anchor {#my-anchor}

Text under a custom anchor.

## Zero Moment Point (ZMP)

The same title again gets a numbered anchor.
"""


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


def test_docusaurus_mdx(embedder: Embedder) -> None:
    doc = parse_markdown(MDX)
    assert doc.title == "Bipedal Walking"
    assert doc.front_matter["slug"] == "/walking"
    paths = [s.heading_path for s in doc.sections]
    assert ["Bipedal Walking", "Zero Moment Point (ZMP)"] in paths
    anchors = [s.anchor for s in doc.sections]
    assert anchors == [None, "zero-moment-point-zmp", "my-anchor", "zero-moment-point-zmp-1"]
    text = "\n".join(s.text for s in doc.sections)
    assert "import Tabs" not in text and "<Tabs>" not in text and "<TabItem" not in text
    assert "# this comment is not a heading" in text
    assert "Key idea:" in text and ":::" not in text
    chunks = chunk_document(doc, 256, 32, embedder.count_tokens)
    zmp = next(c for c in chunks if c.anchor == "zero-moment-point-zmp")
    assert "$$\nx_{zmp} = x_{com} - \\frac{z_{com}}{g} \\ddot{x}_{com}\n$$" in zmp.content
    code = next(c for c in chunks if "def zmp" in c.content)
    assert "```python\n# this comment is not a heading\ndef zmp(x):\n    return x\n```" in code.content


def test_slugs_follow_the_generators() -> None:
    assert slugify("Zero Moment Point (ZMP)") == "zero-moment-point-zmp"
    assert slugify("What Is `Ownership`?") == "what-is-ownership"
    assert slugify("ROS 1 vs. ROS 2") == "ros-1-vs-ros-2"
    assert (
        page_url("docs/02-humanoid-robotics/index.md", "https://b.example", "docusaurus")
        == "https://b.example/docs/humanoid-robotics"
    )
    assert (
        page_url("docs/01-intro/walking.md", "https://b.example/", "docusaurus", {"slug": "/walking"})
        == "https://b.example/docs/walking"
    )
    assert (
        page_url("src/ch04-01-what-is-ownership.md", "https://rust.example", "mdbook")
        == "https://rust.example/ch04-01-what-is-ownership.html"
    )
    assert (
        page_url("source/Concepts/Basic/About-Nodes.rst", "https://ros.example/en", "sphinx")
        == "https://ros.example/en/Concepts/Basic/About-Nodes.html"
    )


def test_mdbook_and_d2l_markdown() -> None:
    rust = parse_markdown(
        '## What Is Ownership?\n\n{{#quiz ../quizzes/ch04-01.toml}}\n\nOwnership is a discipline.<!-- ignore -->\n\n### The Stack\n\n<span class="filename">Filename: src/main.rs</span>\n\nText.'
    )
    assert rust.title == "What Is Ownership?"
    body = "\n".join(s.text for s in rust.sections)
    assert "{{#quiz" not in body and "<span" not in body and "Filename: src/main.rs" in body
    d2l = parse_markdown(
        "# Linear Regression\n:label:`sec_linear_regression`\n\nAs shown in :numref:`fig_fit`, see :cite:`Legendre.1805`.\n\n```{.python .input}\nimport torch\n```\n"
    )
    text = d2l.sections[0].text
    assert (
        ":label:" not in text
        and ":cite:" not in text
        and "fig_fit" in text
        and "```{.python .input}\nimport torch\n```" in text
    )


def test_restructuredtext() -> None:
    doc = parse_rst(
        """.. _about-nodes:

Understanding nodes
===================

**Goal:** learn what a node is. See :doc:`the tutorial <../Tutorials/Nodes>` and :ref:`concepts`.

Background
----------

A node is a process that performs computation::

    ros2 run turtlesim turtlesim_node

.. note::

   Each node should be responsible for one purpose.

.. code-block:: console

   ros2 node list

.. toctree::
   :maxdepth: 1

   Hidden-Page
"""
    )
    assert doc.title == "Understanding nodes"
    background = next(s for s in doc.sections if s.heading_path[-1] == "Background")
    assert background.anchor == "background"
    assert "```\nros2 run turtlesim turtlesim_node\n```" in background.text
    assert "Note:" in background.text and "one purpose" in background.text
    assert "```console\nros2 node list\n```" in background.text
    assert "Hidden-Page" not in background.text
    intro = doc.sections[0].text
    assert "the tutorial" in intro and ":doc:" not in intro and "concepts" in intro


def test_html_and_text() -> None:
    doc = parse_html(
        "<html><head><title>Sensors</title><script>x()</script></head><body><nav>menu</nav><main><h1>Sensors</h1><p>Intro text.</p>"
        "<h2 id='lidar'>Lidar</h2><p>Lidar measures distance.</p><pre>scan = lidar.read()</pre><ul><li>fast</li><li>accurate</li></ul></main></body></html>"
    )
    assert doc.title == "Sensors"
    lidar = next(s for s in doc.sections if s.anchor == "lidar")
    assert lidar.heading_path == ["Sensors", "Lidar"]
    assert (
        "Lidar measures distance." in lidar.text
        and "```\nscan = lidar.read()\n```" in lidar.text
        and "- fast" in lidar.text
    )
    assert "menu" not in "".join(s.text for s in doc.sections) and "x()" not in "".join(s.text for s in doc.sections)
    text = parse("text", "Plain notes about robots.", "Notes")
    assert text.title == "Notes" and text.sections[0].text == "Plain notes about robots."


def test_pdf_pages_are_kept(embedder: Embedder) -> None:
    data = make_pdf(
        [
            ["Forward kinematics maps joint angles", "to the pose of the end effector."],
            ["Inverse kinematics solves the reverse problem."],
        ],
        title="Kinematics",
    )
    doc = parse_pdf(data)
    assert doc.title == "Kinematics"
    assert [s.page for s in doc.sections] == [1, 2]
    assert doc.sections[0].text == "Forward kinematics maps joint angles to the pose of the end effector."
    chunks = chunk_document(doc, 256, 32, embedder.count_tokens)
    assert [c.page for c in chunks] == [1, 2] and chunks[1].anchor == "page=2"


def test_long_sections_split_with_overlap_and_fit_the_model(embedder: Embedder) -> None:
    sentences = [
        f"Sentence number {i} talks about actuators, sensors and the control loop of robot {i}." for i in range(120)
    ]
    doc = parse_markdown("# Control\n\n## Loops\n\n" + " ".join(sentences))
    chunks = chunk_document(doc, 256, 32, embedder.count_tokens)
    assert len(chunks) > 3
    for c in chunks:
        assert embedder.count_tokens(c.embed_text) + 2 <= 256
        assert c.embed_text.startswith("Control > Loops")
    for a, b in itertools.pairwise(chunks):
        last_sentence = a.content.split(". ")[-1].rstrip(".")
        assert last_sentence in b.content  # the overlap carries the previous chunk's tail


@pytest.mark.parametrize("book", ["physical-ai", "rust-book", "d2l", "ros2-docs"])
def test_shared_textbooks_index_cleanly(book: str, embedder: Embedder, tmp_path: Path) -> None:
    root = shared_path("data", "textbooks", book)
    files = discover(root)
    assert len(files) > 10
    service = IndexingService(make_settings(tmp_path), embedder, None, None, None, None)  # type: ignore[arg-type]
    total = 0
    for path in files:
        content, meta = read_document(path, root, "https://book.example")
        doc, chunks = service.prepare(content, meta)
        assert doc.title, path
        for c in chunks:
            assert c.content.strip(), path
            assert embedder.count_tokens(c.embed_text) + 2 <= 256, (path, c.position)
            assert len(re.findall(r"^\s{0,3}```", c.content, re.M)) % 2 == 0, (
                path,
                c.position,
            )  # code fences stay whole
        total += len(chunks)
    assert total > len(files)


def test_docusaurus_book_metadata() -> None:
    root = shared_path("data", "textbooks", "physical-ai")
    path = root / "docs" / "02-humanoid-robotics" / "index.md"
    _, meta = read_document(path, root, "https://book.example/")
    assert meta.site == "docusaurus"
    assert meta.chapter == "Chapter 2: Basics of Humanoid Robotics"
    assert meta.chapter_number == 2
    assert meta.url == "https://book.example/docs/humanoid-robotics"


def test_rst_book_metadata() -> None:
    root = shared_path("data", "textbooks", "ros2-docs")
    path = next(p for p in discover(root) if p.name == "About-Security.rst")
    _, meta = read_document(path, root, "https://docs.ros.example/en/rolling")
    assert meta.document_type == "rst" and meta.site == "sphinx"
    assert meta.url is not None and meta.url.endswith("Concepts/Intermediate/About-Security.html")
