"""Markdown and MDX (as Docusaurus and mdBook write them) into sections under their headings.

A section is the text between one heading and the next, with the path of headings above it and
the anchor the site generator gives that heading, so a citation can open the exact section.
Code fences and math blocks are never read as headings and are kept intact. JSX components and HTML
tags in the prose are read by mdx.py (a figure becomes `![alt](src)` and its caption), front matter by
front_matter.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from src.ingestion.document import ParsedDocument, Section
from src.ingestion.front_matter import split_front_matter as split_front_matter
from src.ingestion.mdx import read_components

# Every pattern here costs time linear in its input: no search may rescan an unbounded run from each
# start (an unclosed `<!--` or `[` did), and no line pattern may backtrack over nested runs (the old
# heading pattern took 25 s on a 2 KB line of spaces). Those are scanned by hand below.
_SETEXT_H1 = re.compile(r"^=+\s*$")
_SETEXT_H2 = re.compile(r"^-+\s*$")
_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})")
_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_IMPORT_EXPORT = re.compile(r"^(import|export)\s.+$")
_ADMONITION_OPEN = re.compile(
    r"^\s*:::\s*(note|tip|info|caution|warning|danger|important|success|secondary)\b\s*(.*)$", re.I
)
_ADMONITION_CLOSE = re.compile(r"^\s*:::\s*$")
_MDBOOK_DIRECTIVE = re.compile(r"^\s*\{\{#\w[^}]*\}\}\s*$")
# d2lbook / MyST roles: `:label:` lines go, `:numref:`x`` and `:eqref:` keep their target, `:cite:` goes.
_ROLE_LINE = re.compile(
    r"^\s*:(label|eqlabel|width|height|bibliography|begin_tab|end_tab)?:`[^`]*`\s*$|^\s*:(begin_tab|end_tab)\b.*$"
)
_ROLE_CITE = re.compile(r":cite:`[^`]*`")
_ROLE_REF = re.compile(r":(numref|ref|eqref|doc|numref):`([^`]*)`")
_INLINE_HTML = re.compile(
    r"</?(span|div|a|img|br|sup|sub|p|details|summary|figure|figcaption|center|kbd|small|b|i|u|em|strong|section|picture|source)\b[^>]*>",
    re.I,
)
_INLINE_MARKUP = re.compile(r"(\*\*|__|`)")
_TAG = re.compile(r"<[^>]+>")


def _sub_closed(pattern: re.Pattern[str], repl: str, text: str, closer: str) -> str:
    """`pattern.sub(repl, text)` for a pattern that ends at the first `closer` after its start: past the
    last `closer` nothing can match, so only the text before it is searched (an unclosed opener would
    otherwise be scanned to the end from every start)."""
    end = text.rfind(closer) + 1
    return pattern.sub(repl, text[:end]) + text[end:] if end else text


def unlink(text: str) -> str:
    r"""`[label](target)` -> `label`, as `re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)` does, in one pass."""
    out: list[str] = []
    done = 0
    start = text.find("[")
    while start != -1:
        close = text.find("]", start + 1)
        if close == -1:
            break
        if not text.startswith("(", close + 1):
            start = text.find("[", close + 1)  # every `[` before `close` ends at this `]` too
            continue
        end = text.find(")", close + 2)
        if end == -1:
            break  # no `)` left: no later link can close either
        out += [text[done:start], text[start + 1 : close]]
        done = end + 1
        start = text.find("[", done)
    return "".join(out) + text[done:] if out else text


def strip_html_comments(text: str) -> str:
    """`<!-- ... -->` removed, as `re.sub(r"<!--.*?-->", "", text, flags=re.S)` does, in one pass: an
    unclosed `<!--` costs one search, not one per `<!--` after it."""
    out: list[str] = []
    done = 0
    while (start := text.find("<!--", done)) != -1:
        end = text.find("-->", start + 4)
        if end == -1:
            break
        out.append(text[done:start])
        done = end + 3
    return "".join(out) + text[done:] if out else text


def slugify(heading: str) -> str:
    """The anchor Docusaurus (github-slugger) and mdBook derive from a heading's text."""
    text = unlink(heading)
    text = _INLINE_MARKUP.sub("", text).strip().lower()
    text = _sub_closed(_TAG, "", text, ">")
    text = re.sub(r"[^\w\- ]", "", text, flags=re.UNICODE)
    return text.replace(" ", "-")


def heading_of(line: str) -> tuple[int, str] | None:
    r"""An ATX heading's level and raw text, as `^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$` matches it (closing
    `#`s and the blanks around them dropped), without that pattern's backtracking."""
    level = len(line) - len(line.lstrip("#"))
    if not 1 <= level <= 6:
        return None
    after = line[level:]
    body = after.lstrip(" \t")
    blanks = len(after) - len(body)
    if not blanks:
        return None
    if not body:  # only blanks: the pattern takes one of them as the text
        return (level, after[-1]) if blanks > 1 else None
    text = body.rstrip(" \t").rstrip("#").rstrip(" \t")
    return level, text or body[:1]


def _custom_id(raw: str) -> tuple[str, str | None]:
    """A trailing `{#id}` (Docusaurus' explicit anchor): the text without it, and the id."""
    stripped = raw.rstrip()
    if stripped.endswith("}"):
        start = stripped.rfind("{#")
        ident = stripped[start + 2 : -1] if start != -1 else ""
        if ident and _ID_CHARS.issuperset(ident):
            return stripped[:start].rstrip(), ident
    return raw, None


@dataclass
class _Open:
    level: int
    title: str
    anchor: str | None
    lines: list[str] = field(default_factory=list)


def clean_heading(raw: str, slugger: Callable[[str], str] = slugify) -> tuple[str, str | None]:
    title, anchor = _custom_id(raw)
    title = _sub_closed(_INLINE_HTML, "", unlink(title.strip()), ">")
    title = _INLINE_MARKUP.sub("", title).strip()
    return title, anchor or slugger(title)


def parse_markdown(
    text: str, default_title: str | None = None, slugger: Callable[[str], str] = slugify
) -> ParsedDocument:
    front, body = split_front_matter(text.replace("\r\n", "\n"))
    sections = _sections(_components_read(strip_html_comments(body)), slugger)
    title = str(front.get("title") or "").strip()
    if not title:
        levels = [s.level for s in sections if s.level > 0]
        top = next((s for s in sections if levels and s.level == min(levels)), None)  # mdBook pages often start at ##
        title = top.title if top else (default_title or "")
    return ParsedDocument(title=title, sections=_nested(sections), front_matter=front)


def _verbatim(lines: list[str]) -> list[bool]:
    """For each line, whether it is part of a code fence or a `$$` math block (its opening and closing
    lines too): kept as it is, never read as a heading or as prose."""
    marks: list[bool] = []
    fence: str | None = None
    in_math = False
    for line in lines:
        stripped = line.strip()
        if fence:
            if stripped.startswith(fence[0] * len(fence)) and set(stripped) <= {fence[0]}:
                fence = None
            marks.append(True)
            continue
        fence_match = _FENCE.match(line)
        if fence_match:
            fence = fence_match.group(1)
        elif (in_math and stripped.count("$$") % 2 == 1) or (
            stripped.startswith("$$") and stripped.count("$$") % 2 == 1
        ):
            in_math = not in_math
        else:
            marks.append(in_math)
            continue
        marks.append(True)
    return marks


def _components_read(body: str) -> str:
    """The body with the components and tags of its prose read (mdx.py). Fences and math blocks are left
    untouched, and so are ATX heading lines: clean_heading reads their tags, as the site's anchors do."""
    if "<" not in body and "{/*" not in body:
        return body
    lines = body.split("\n")
    out: list[str] = []
    prose: list[str] = []
    for line, verbatim in zip(lines, _verbatim(lines), strict=True):
        if not verbatim and not heading_of(line):
            prose.append(line)
            continue
        if prose:
            out += read_components("\n".join(prose)).split("\n")
            prose.clear()
        out.append(line)
    if prose:
        out += read_components("\n".join(prose)).split("\n")
    return "\n".join(out)


def _sections(body: str, slugger: Callable[[str], str]) -> list[_Open]:
    """The body cut at its headings (ATX and setext), each section with its lines as indexed; the text before
    the first heading is a section of level 0. Fences and math blocks are kept whole, never read as headings."""
    lines = body.split("\n")
    verbatim = _verbatim(lines)
    sections: list[_Open] = [_Open(level=0, title="", anchor=None)]
    slug_counts: dict[str, int] = {}

    def open_heading(level: int, raw: str) -> None:
        title, anchor = clean_heading(raw, slugger)
        if anchor:
            # Generators number repeated anchors: intro, intro-1, intro-2.
            seen = slug_counts.get(anchor, 0)
            slug_counts[anchor] = seen + 1
            if seen:
                anchor = f"{anchor}-{seen}"
        sections.append(_Open(level=level, title=title, anchor=anchor))

    for i, line in enumerate(lines):
        current = sections[-1]
        if verbatim[i]:
            current.lines.append(line)
            continue
        heading = heading_of(line)
        if heading:
            open_heading(*heading)
            continue
        if i + 1 < len(lines) and line.strip() and not line.startswith((" ", "\t", "-", "*", ">", "|")):
            nxt = lines[i + 1]
            if _SETEXT_H1.match(nxt) or (
                _SETEXT_H2.match(nxt) and len(nxt.strip()) >= 3 and current.lines and not current.lines[-1].strip()
            ):
                open_heading(1 if nxt.strip().startswith("=") else 2, line)
                lines[i + 1] = ""
                continue
        kept = _prose_line(line)
        if kept is not None:
            current.lines.append(kept)
    return sections


def _prose_line(line: str) -> str | None:
    """A line outside fences and math as indexed (its tags already read by mdx.py): None for MDX imports,
    mdBook directives, role lines and an admonition's end; roles and citations dropped; an admonition's
    start as its label."""
    if _IMPORT_EXPORT.match(line) or _MDBOOK_DIRECTIVE.match(line) or _ROLE_LINE.match(line):
        return None
    line = _ROLE_REF.sub(r"\2", _ROLE_CITE.sub("", line))
    admonition = _ADMONITION_OPEN.match(line)
    if admonition:
        label = admonition.group(2).strip() or admonition.group(1).capitalize()
        return f"{label}:"
    if _ADMONITION_CLOSE.match(line):
        return None
    return line


def _nested(sections: list[_Open]) -> list[Section]:
    """Each section that has text, under the path of headings above it; an anchor for headings below the title."""
    doc_sections: list[Section] = []
    stack: list[_Open] = []
    for sec in sections:
        while stack and stack[-1].level >= sec.level and sec.level > 0:
            stack.pop()
        if sec.level > 0:
            stack.append(sec)
        content = "\n".join(sec.lines).strip("\n")
        if not content.strip():
            continue
        path = [s.title for s in stack]
        doc_sections.append(Section(heading_path=path, anchor=sec.anchor if sec.level > 1 else None, text=content))
    return doc_sections
