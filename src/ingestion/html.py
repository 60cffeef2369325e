"""HTML into sections: headings h1-h6 open sections; an element's `id` is its anchor.

Read with lxml (libxml2): the standard library's html.parser takes quadratic time on unclosed `<!--`,
`<a` or `</` (80,000 characters of `<a`: 22 s), lxml linear time. It runs in a child process with
limits all the same (sandbox.py). A heading or block nested in another is read again with it, so the
nesting depth is capped: past _MAX_DEPTH the work grows with depth times length (a few kilobytes of
`<h2>a` repeated took seconds)."""

from __future__ import annotations

from bs4 import BeautifulSoup, Tag

from src.ingestion.document import ParsedDocument, Section, UnreadableDocument
from src.ingestion.markdown import slugify

_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_BLOCKS = {"p", "pre", "li", "blockquote", "dt", "dd", "td", "th", "figcaption", "caption"}
_DROP = ["script", "style", "nav", "header", "footer", "noscript", "template", "svg", "form", "button"]
_MAX_DEPTH = 100  # elements inside elements; published pages are 20 to 40 deep


def _check_depth(root: Tag) -> None:
    """Refuses a tree nested deeper than _MAX_DEPTH, in one walk without recursion."""
    stack = [(root, 0)]
    while stack:
        element, depth = stack.pop()
        if depth > _MAX_DEPTH:
            raise UnreadableDocument(f"the HTML is nested deeper than {_MAX_DEPTH} elements")
        stack.extend((child, depth + 1) for child in element.children if isinstance(child, Tag))


def parse_html(text: str, default_title: str | None = None) -> ParsedDocument:
    soup = BeautifulSoup(text, "lxml")
    _check_depth(soup)
    for tag in soup(_DROP):
        tag.decompose()
    page_title = soup.title.get_text(" ", strip=True) if soup.title else ""
    root = soup.find("main") or soup.find("article") or soup.body or soup
    stack: list[tuple[int, str]] = []
    sections: list[Section] = []
    anchor: str | None = None
    lines: list[str] = []
    first_h1 = ""

    def flush() -> None:
        if any(line.strip() for line in lines):
            sections.append(Section(heading_path=[t for _, t in stack], anchor=anchor, text="\n\n".join(lines)))
        lines.clear()

    for el in root.find_all(list(_HEADINGS | _BLOCKS)):  # searched by tag name: Tags only
        if el.name in _HEADINGS:
            flush()
            level = int(el.name[1])
            title = el.get_text(" ", strip=True)
            if level == 1 and not first_h1:
                first_h1 = title
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, title))
            ident = el.get("id")
            anchor = str(ident) if ident else (slugify(title) if level > 1 else None)
            continue
        if el.find_parent(list(_BLOCKS - {"td", "th"})) is not None and el.name != "pre":
            continue  # nested inside a block already taken whole
        if el.name == "pre":
            lines.append("```\n" + el.get_text().strip("\n") + "\n```")
        else:
            piece = el.get_text(" ", strip=True)
            if piece:
                lines.append(("- " + piece) if el.name == "li" else piece)
    flush()
    return ParsedDocument(title=page_title or first_h1 or (default_title or ""), sections=sections)


def parse_text(text: str, default_title: str | None = None) -> ParsedDocument:
    body = text.replace("\r\n", "\n").strip()
    return ParsedDocument(
        title=default_title or "", sections=[Section(heading_path=[], anchor=None, text=body)] if body else []
    )
