"""The scans and patterns that replaced quadratic regular expressions (issue 18) give what the old
patterns gave, on any text made of the characters those patterns care about. The old patterns are
written out here as the reference."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from src.ingestion import front_matter, markdown, rst
from src.ingestion.pdf import _join_lines

OLD_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
OLD_CUSTOM_ID = re.compile(r"\s*\{#([A-Za-z0-9_-]+)\}\s*$")
OLD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
OLD_COMMENT = re.compile(r"<!--.*?-->", re.S)
OLD_MDBOOK = re.compile(r"^\s*\{\{#\w+[^}]*\}\}\s*$")
OLD_FRONT = re.compile(r"^---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(\r?\n|$)", re.S)
OLD_ROLE_WITH_TARGET = re.compile(r":[\w:+-]+:`([^`<]*?)\s*<[^>]*>`")
OLD_ROLE = re.compile(r":[\w:+-]+:`([^`]*)`")
OLD_RST_LINK = re.compile(r"`([^`<]+?)\s*<[^>]+>`__?")

# Short texts over the characters that matter, so that openers, closers and blanks meet often.
MARKUP = st.text(alphabet="#[]()<>!-{}a b\t:`_*/\n\r.", max_size=40)
SETTINGS = hypothesis_settings(max_examples=400, deadline=None, derandomize=True, database=None)


def old_clean_heading(raw: str) -> tuple[str, str | None]:
    custom = OLD_CUSTOM_ID.search(raw)
    anchor = custom.group(1) if custom else None
    title = OLD_CUSTOM_ID.sub("", raw).strip()
    title = markdown._INLINE_HTML.sub("", OLD_LINK.sub(r"\1", title))
    title = markdown._INLINE_MARKUP.sub("", title).strip()
    return title, anchor


@SETTINGS
@given(MARKUP)
def test_headings_links_comments_and_anchors_read_as_before(text: str) -> None:
    line = text.replace("\n", " ").replace("\r", " ")
    old = OLD_HEADING.match(line)
    assert markdown.heading_of(line) == ((len(old.group(1)), old.group(2)) if old else None)
    assert markdown.unlink(text) == OLD_LINK.sub(r"\1", text)
    assert markdown.strip_html_comments(text) == OLD_COMMENT.sub("", text)
    title, anchor = markdown.clean_heading(line, lambda t: "")
    assert (title, anchor or None) == old_clean_heading(line)
    assert bool(markdown._MDBOOK_DIRECTIVE.match(line)) == bool(OLD_MDBOOK.match(line))


@SETTINGS
@given(st.text(alphabet="-\n\r \ta:", max_size=30))
def test_front_matter_is_found_where_it_was(text: str) -> None:
    old = OLD_FRONT.match(text)
    found = front_matter.front_matter_block(text)
    assert found == ((old.group(1), old.end()) if old else None)


@SETTINGS
@given(st.text(alphabet=":`<> a_\t-+", max_size=40))
def test_rst_roles_and_links_read_as_before(text: str) -> None:
    # A target never holds a backtick, and a role's name is short, in the texts the old patterns read.
    old = OLD_RST_LINK.sub(r"\1", OLD_ROLE.sub(r"\1", OLD_ROLE_WITH_TARGET.sub(r"\1", text)))
    new = rst._LINK.sub(rst._label, rst._ROLE.sub(r"\1", rst._ROLE_WITH_TARGET.sub(rst._label, text)))
    if not re.search(r"<[^>]*`[^>]*>", text):
        assert new == old


@SETTINGS
@given(st.text(alphabet=" \t\na.!", max_size=40))
def test_pdf_lines_are_joined_as_before(text: str) -> None:
    old = re.sub(r"(?<![.!?:;\n])\n(?!\n)", " ", re.sub(r"[ \t]+\n", "\n", text).strip())
    assert _join_lines(text) == old
