"""Markdown and MDX (as Docusaurus and mdBook write them) into sections under their headings.

A section is the text between one heading and the next, with the path of headings above it and
the anchor the site generator gives that heading, so a citation can open the exact section.
Code fences and math blocks are never read as headings and are kept intact.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from src.ingestion.document import ParsedDocument, Section

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
_SETEXT_H1 = re.compile(r"^=+\s*$")
_SETEXT_H2 = re.compile(r"^-+\s*$")
_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})")
_CUSTOM_ID = re.compile(r"\s*\{#([A-Za-z0-9_-]+)\}\s*$")
_IMPORT_EXPORT = re.compile(r"^(import|export)\s.+$")
_JSX_LINE = re.compile(r"^\s*</?[A-Z][A-Za-z0-9.]*(\s[^>]*)?/?>\s*$")
_ADMONITION_OPEN = re.compile(r"^\s*:::\s*(note|tip|info|caution|warning|danger|important|success|secondary)\b\s*(.*)$", re.I)
_ADMONITION_CLOSE = re.compile(r"^\s*:::\s*$")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
_MDBOOK_DIRECTIVE = re.compile(r"^\s*\{\{#\w+[^}]*\}\}\s*$")
# d2lbook / MyST roles: `:label:` lines go, `:numref:`x`` and `:eqref:` keep their target, `:cite:` goes.
_ROLE_LINE = re.compile(r"^\s*:(label|eqlabel|width|height|bibliography|begin_tab|end_tab)?:`[^`]*`\s*$|^\s*:(begin_tab|end_tab)\b.*$")
_ROLE_CITE = re.compile(r":cite:`[^`]*`")
_ROLE_REF = re.compile(r":(numref|ref|eqref|doc|numref):`([^`]*)`")
_INLINE_HTML = re.compile(
    r"</?(span|div|a|img|br|sup|sub|p|details|summary|figure|figcaption|center|kbd|small|b|i|u|em|strong|section|picture|source)\b[^>]*>", re.I
)
_INLINE_MARKUP = re.compile(r"(\*\*|__|`)")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


def slugify(heading: str) -> str:
    """The anchor Docusaurus (github-slugger) and mdBook derive from a heading's text."""
    text = _LINK.sub(r"\1", heading)
    text = _INLINE_MARKUP.sub("", text).strip().lower()
    text = re.sub(r"<[^>]+>", "", text)
    text = re.sub(r"[^\w\- ]", "", text, flags=re.UNICODE)
    return text.replace(" ", "-")


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    if not text.startswith("---"):
        return {}, text
    match = re.match(r"^---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(\r?\n|$)", text, re.S)
    if not match:
        return {}, text
    try:
        data = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError:
        data = {}
    return (data if isinstance(data, dict) else {}), text[match.end() :]


@dataclass
class _Open:
    level: int
    title: str
    anchor: str | None
    lines: list[str] = field(default_factory=list)


def clean_heading(raw: str, slugger: Callable[[str], str] = slugify) -> tuple[str, str | None]:
    custom = _CUSTOM_ID.search(raw)
    anchor = custom.group(1) if custom else None
    title = _CUSTOM_ID.sub("", raw).strip()
    title = _INLINE_HTML.sub("", _LINK.sub(r"\1", title))
    title = _INLINE_MARKUP.sub("", title).strip()
    return title, anchor or slugger(title)


def parse_markdown(text: str, default_title: str | None = None, slugger: Callable[[str], str] = slugify) -> ParsedDocument:
    front, body = split_front_matter(text.replace("\r\n", "\n"))
    body = _HTML_COMMENT.sub("", body)
    lines = body.split("\n")
    sections: list[_Open] = [_Open(level=0, title="", anchor=None)]
    fence: str | None = None
    in_math = False
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
        if fence:
            current.lines.append(line)
            stripped = line.strip()
            if stripped.startswith(fence[0] * len(fence)) and set(stripped) <= {fence[0]}:
                fence = None
            continue
        fence_match = _FENCE.match(line)
        if fence_match:
            fence = fence_match.group(1)
            current.lines.append(line)
            continue
        if (in_math and line.strip().count("$$") % 2 == 1) or (line.strip().startswith("$$") and line.strip().count("$$") % 2 == 1):
            in_math = not in_math
            current.lines.append(line)
            continue
        if in_math:
            current.lines.append(line)
            continue
        heading = _HEADING.match(line)
        if heading:
            open_heading(len(heading.group(1)), heading.group(2))
            continue
        if i + 1 < len(lines) and line.strip() and not line.startswith((" ", "\t", "-", "*", ">", "|")):
            nxt = lines[i + 1]
            if _SETEXT_H1.match(nxt) or (_SETEXT_H2.match(nxt) and len(nxt.strip()) >= 3 and current.lines and not current.lines[-1].strip()):
                open_heading(1 if nxt.strip().startswith("=") else 2, line)
                lines[i + 1] = ""
                continue
        if _IMPORT_EXPORT.match(line) or _JSX_LINE.match(line) or _MDBOOK_DIRECTIVE.match(line) or _ROLE_LINE.match(line):
            continue
        line = _INLINE_HTML.sub("", _ROLE_REF.sub(r"\2", _ROLE_CITE.sub("", line)))
        admonition = _ADMONITION_OPEN.match(line)
        if admonition:
            label = admonition.group(2).strip() or admonition.group(1).capitalize()
            current.lines.append(f"{label}:")
            continue
        if _ADMONITION_CLOSE.match(line):
            continue
        current.lines.append(line)

    title = str(front.get("title") or "").strip()
    if not title:
        levels = [s.level for s in sections if s.level > 0]
        top = next((s for s in sections if levels and s.level == min(levels)), None)  # mdBook pages often start at ##
        title = top.title if top else (default_title or "")
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
    return ParsedDocument(title=title, sections=doc_sections, front_matter=front)
