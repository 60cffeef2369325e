"""A passage read back as the book's blocks, in order: paragraphs, lists (their items), code (its language),
tables (header and rows), display math (its TeX) and figures (alt text, caption, image path).

The parsers store a section as standard Markdown (fenced code, pipe tables, list items, `$$` math,
`![alt](src)` with an optional `*caption*` line), so the blocks are read from the stored text itself: an
index built before blocks existed is read the same way, as far as its text kept them. Linear in the text:
each line is looked at once."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Literal

BlockKind = Literal["paragraph", "list", "code", "table", "math", "figure"]
BLOCKS_CACHED = 512  # passages whose blocks are remembered (a chunk's text is a few kilobytes)
SHOWN_KINDS: frozenset[str] = frozenset({"list", "code", "table", "math", "figure"})  # what an answer can show whole

_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})[ \t]*([^`\s]*)")
_LIST_ITEM = re.compile(r"^[ \t]{0,3}([-*+]|\d{1,9}[.)])[ \t]+(.*)$")
_FIGURE = re.compile(r"^!\[([^\]\n]*)\]\(\s*([^)\s]+)(?:\s+\"([^\"\n]*)\")?\s*\)$")
_CAPTION = re.compile(r"^\*([^*\n].*?)\*$")
_TABLE_RULE = re.compile(r"^:?-+:?$")
_EMPHASIS = re.compile(r"(\*\*|__|`)")
_LINK = re.compile(r"\[([^\[\]]+)\]\([^)\[\]]*\)")


@dataclass(frozen=True)
class Block:
    kind: BlockKind
    source: str  # the block's Markdown as stored
    language: str | None = None  # code: the fence's language
    text: str = ""  # code: the code without its fences; math: the TeX; paragraph: its text on one line
    items: tuple[str, ...] = ()  # list: each item as plain text
    ordered: bool = False
    header: tuple[str, ...] = ()  # table
    rows: tuple[tuple[str, ...], ...] = ()
    alt: str = ""  # figure
    caption: str = ""
    src: str = ""
    lead: str | None = field(default=None, compare=False)  # the paragraph right before it, when it leads into it


def plain(text: str) -> str:
    """Inline Markdown as plain text: links as their label, emphasis and code marks dropped, one line."""
    return " ".join(_EMPHASIS.sub("", _LINK.sub(r"\1", text)).split())


def _cells(line: str) -> tuple[str, ...]:
    return tuple(plain(c) for c in line.strip().strip("|").split("|"))


@lru_cache(maxsize=BLOCKS_CACHED)
def blocks_of(content: str) -> tuple[Block, ...]:
    """The blocks of a passage's stored text, in the book's order. A block right after a paragraph carries
    that paragraph as its `lead` (the sentence that introduces a command, a list, a table). Remembered for
    the latest passages: one answer reads the same passage for its search order, its task and its lead-ins."""
    blocks: list[Block] = []
    lines = content.split("\n")
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            i += 1
            continue
        fence = _FENCE.match(line)
        if fence:
            i = _code(lines, i, fence, blocks)
        elif stripped.startswith("$$"):
            i = _math(lines, i, blocks)
        elif stripped.startswith("|"):
            i = _table(lines, i, blocks)
        elif _LIST_ITEM.match(line):
            i = _list(lines, i, blocks)
        elif _FIGURE.match(stripped):
            i = _figure(lines, i, blocks)
        else:
            i = _paragraph(lines, i, blocks)
    return tuple(_with_leads(blocks))


def _code(lines: list[str], i: int, fence: re.Match[str], blocks: list[Block]) -> int:
    marker = fence.group(1)
    language = fence.group(2).strip("{}.").lower() or None
    body: list[str] = []
    j = i + 1
    while j < len(lines):
        stripped = lines[j].strip()
        if stripped.startswith(marker[0] * len(marker)) and set(stripped) <= {marker[0]}:
            break
        body.append(lines[j])
        j += 1
    code = "\n".join(body).strip("\n")
    blocks.append(Block("code", "\n".join(lines[i : j + 1]), language=language, text=code))
    return j + 1


def _math(lines: list[str], i: int, blocks: list[Block]) -> int:
    j = i
    if lines[i].strip().count("$$") % 2 == 1:  # a display formula over several lines
        j = i + 1
        while j < len(lines) and lines[j].strip().count("$$") % 2 == 0:
            j += 1
    source = "\n".join(lines[i : j + 1])
    tex = source.strip().removeprefix("$$").removesuffix("$$").strip()
    blocks.append(Block("math", source, text=tex))
    return j + 1


def _table(lines: list[str], i: int, blocks: list[Block]) -> int:
    j = i
    while j < len(lines) and lines[j].strip().startswith("|"):
        j += 1
    rows = [_cells(line) for line in lines[i:j]]
    body = [r for r in rows if not all(_TABLE_RULE.match(c.replace(" ", "")) for c in r if c)]
    if body:
        blocks.append(Block("table", "\n".join(lines[i:j]), header=body[0], rows=tuple(body[1:])))
    return j


def _list(lines: list[str], i: int, blocks: list[Block]) -> int:
    items: list[list[str]] = []
    ordered = False
    j = i
    while j < len(lines):
        line = lines[j]
        item = _LIST_ITEM.match(line)
        if item:
            numbered = item.group(1)[0].isdigit()
            if items and numbered != ordered and not line[:1].isspace():
                break  # a bulleted list then a numbered one (or the reverse): two lists
            ordered = numbered if not items else ordered
            items.append([item.group(2)])
        elif line.strip() and items and (line[:1] in (" ", "\t") or lines[j - 1].strip()):
            items[-1].append(line.strip())  # an item's continuation, indented or lazy (a nested item reads as its text)
        elif not line.strip() and j + 1 < len(lines) and _LIST_ITEM.match(lines[j + 1]):
            pass  # a loose list: blank lines between items
        else:
            break
        j += 1
    texts = tuple(t for t in (plain(" ".join(parts)) for parts in items) if t)
    blocks.append(Block("list", "\n".join(lines[i:j]).strip("\n"), items=texts, ordered=ordered))
    return j


def _figure(lines: list[str], i: int, blocks: list[Block]) -> int:
    match = _FIGURE.match(lines[i].strip())
    assert match is not None
    alt, src, title = match.group(1), match.group(2), match.group(3) or ""
    j = i + 1
    caption = title
    if j < len(lines) and (cap := _CAPTION.match(lines[j].strip())):
        caption, j = cap.group(1), j + 1
    blocks.append(Block("figure", "\n".join(lines[i:j]), alt=plain(alt), caption=plain(caption), src=src))
    return j


def _paragraph(lines: list[str], i: int, blocks: list[Block]) -> int:
    j = i
    while j < len(lines):
        line = lines[j]
        stripped = line.strip()
        if j > i and (
            not stripped
            or _FENCE.match(line)
            or stripped.startswith(("$$", "|"))
            or _LIST_ITEM.match(line)
            or _FIGURE.match(stripped)
        ):
            break
        j += 1
    source = "\n".join(lines[i:j])
    blocks.append(Block("paragraph", source, text=" ".join(source.split())))
    return j


def _with_leads(blocks: list[Block]) -> list[Block]:
    """Each block that follows a paragraph, with that paragraph as its lead."""
    out: list[Block] = []
    for k, block in enumerate(blocks):
        before = blocks[k - 1] if k else None
        if block.kind in SHOWN_KINDS and before is not None and before.kind == "paragraph":
            block = replace(block, lead=before.text)
        out.append(block)
    return out
