"""reStructuredText (as Sphinx projects write it) into sections under their titles.

A line-based reader rather than docutils' parser: Sphinx sources are full of directives and roles
that docutils alone does not know, and an unknown one must not lose the text around it. Section
anchors are the ids Sphinx gives (docutils' `make_id` of the title).

Blocks come out as standard Markdown (emit.py): code-block, code, sourcecode and `::` literal blocks as
fences with their language (`.. highlight::` gives the language of later blocks that name none);
list-tables, grid tables and simple tables as pipe tables; figures and images as `![alt](path)` with
the caption under them. A literalinclude is read only where the book's folder is at hand:
`expand_literalincludes` turns each one whose file is inside the book into a code-block before parsing;
a text without it (the API gets one file's text) skips them.
"""

from __future__ import annotations

import itertools
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

from docutils.nodes import make_id

from src.ingestion import emit
from src.ingestion.document import ParsedDocument, Section, UnreadableDocument

_ADORNMENT = re.compile(r"^([=\-~^\"*+#'`:._!$%&,;/<>?@\\|])\1{2,}\s*$")
_DIRECTIVE = re.compile(r"^(\s*)\.\.\s+([\w:-]+)::\s*(.*)$")
_TARGET_OR_COMMENT = re.compile(r"^(\s*)\.\.(\s|$)")
# Linear on any input: a role's name is bounded (unbounded, every `:` of a long run of `:` rescanned the
# run); a `<target>` ends at the next backtick (it ran to the next `>`, however far, from every start);
# the text before it is taken whole and its trailing blanks stripped in Python (a lazy `*?` before `\s*`
# tried every split of a run of blanks).
_ROLE_WITH_TARGET = re.compile(r":[\w:+-]{1,64}:`([^`<]*)<[^>`]*>`")
_ROLE = re.compile(r":[\w:+-]{1,64}:`([^`]*)`")
_LINK = re.compile(r"`([^`<]+)<[^>`]+>`__?")
_REF = re.compile(r"`([^`]+)`__?")
_LITERAL = re.compile(r"``([^`]+)``")
_SUBST = re.compile(r"\|([^|\s][^|]*)\|")
_OPTION = re.compile(r"^(\s+):([\w-]+):(.*)$")
_ENUMERATED = re.compile(r"^(\s*)#\.(\s)")
_BULLET = re.compile(r"^[*+-](?: +|$)")
_LITERALINCLUDE = re.compile(r"^(\s*)\.\.\s+literalinclude::(.*)$")
MAX_INCLUDE_BYTES = 256_000  # one file a literalinclude reads
MAX_INCLUDED_CHARS = 1_000_000  # all that one document's literalincludes add
_MAX_NESTING = 20  # directives inside directives; Sphinx sources nest a few
_CODE_DIRECTIVES = {"code-block", "code", "sourcecode"}
_IMAGE_DIRECTIVES = {"image", "figure"}
_TABLE_DIRECTIVES = {"list-table"}
_ADMONITIONS = {
    "note",
    "warning",
    "tip",
    "important",
    "attention",
    "caution",
    "danger",
    "hint",
    "error",
    "seealso",
    "admonition",
    "versionadded",
    "versionchanged",
    "deprecated",
}
_SKIP_DIRECTIVES = {
    "toctree",
    "raw",
    "contents",
    "include",
    "literalinclude",
    "only",
    "index",
    "meta",
    "redirect-from",
    "autosummary",
}


def _label(match: re.Match[str]) -> str:
    r"""The text before ` <target>`: what a lazy `(...*?)\s*<` would capture (at least one character for a link)."""
    text = match.group(1)
    return text.rstrip() or text[: match.re is _LINK]


def inline(text: str) -> str:
    text = _ROLE_WITH_TARGET.sub(_label, text)
    text = _ROLE.sub(r"\1", text)
    text = _LINK.sub(_label, text)
    text = _LITERAL.sub(r"`\1`", text)
    text = _REF.sub(r"\1", text)
    return _SUBST.sub(r"\1", text)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _indented_block(lines: list[str], start: int, margin: int = 0) -> tuple[list[str], int]:
    """Lines from `start` that are blank or indented past `margin` (the indent of the line that opens the
    block), dedented; returns them and the next index."""
    block: list[str] = []
    i = start
    while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > margin):
        block.append(lines[i])
        i += 1
    while block and not block[-1].strip():
        block.pop()
        i -= 1
    first = next((n for n, line in enumerate(block) if line.strip()), len(block))
    block = block[first:]  # one slice: pop(0) per leading blank line was quadratic
    return textwrap.dedent("\n".join(block)).split("\n") if block else [], i


@dataclass
class _Reading:
    """What one document's reading carries from region to region: the language `.. highlight::` set."""

    highlight: str = ""
    depth: int = 0  # directives inside directives being read


def _options(lines: list[str], start: int) -> tuple[dict[str, str], int]:
    """A directive's options from `start` (`:name: value`, a value continued on lines indented deeper than
    its name), and the index after them."""
    options: dict[str, str] = {}
    i = start
    while i < len(lines) and (option := _OPTION.match(lines[i])):
        indent, value = len(option.group(1)), option.group(3).strip()
        i += 1
        while (
            i < len(lines)
            and lines[i].strip()
            and len(lines[i]) - len(lines[i].lstrip()) > indent
            and not _OPTION.match(lines[i])
        ):
            value = f"{value} {lines[i].strip()}".strip()
            i += 1
        options[option.group(2).lower()] = value
    return options, i


def _bullet_items(lines: list[str]) -> list[list[str]] | None:
    """The items of one bullet list at the margin (`* ` or `- `), each its lines dedented without the
    bullet; None when the lines are anything else."""
    items: list[list[str]] = []
    for line in lines:
        bullet = _BULLET.match(line)
        if bullet:
            items.append([" " * bullet.end() + line[bullet.end() :]])
        elif items and (not line.strip() or line[:1] == " "):
            items[-1].append(line)
        elif line.strip():
            return None
    return [textwrap.dedent("\n".join(item)).split("\n") for item in items]


def _cell(lines: list[str], reading: _Reading) -> str:
    """A table cell's content on one line: its paragraphs, list items and code joined by blanks."""
    read = _body_lines(lines, reading)
    return " ".join(line.strip() for line in read if line.strip() and not line.lstrip().startswith("```"))


def _list_table(block: list[str], options: dict[str, str], reading: _Reading) -> list[str] | None:
    """A `list-table` (a list of rows, each a list of cells) as a pipe table; None when it is not one."""
    rows = _bullet_items(block)
    if not rows:
        return None
    table: list[list[str]] = []
    for row in rows:
        cells = _bullet_items(row)
        if cells is None:
            return None
        table.append([_cell(cell, reading) for cell in cells])
    headed = options.get("header-rows", "0").strip() not in {"", "0"}
    return emit.table(table[0], table[1:]) if headed else emit.table(None, table)


def _is_grid_border(line: str) -> bool:
    """`+-----+----+` or `+=====+====+`."""
    return (
        len(line) >= 3
        and line[0] == "+" == line[-1]
        and "++" not in line
        and (set(line) <= {"+", "-"} or set(line) <= {"+", "="})
    )


def _grid_table(lines: list[str], start: int) -> tuple[list[str], int]:
    """The grid table drawn from `start` and the index after it: a pipe table, its cells' lines joined (the
    rows above a `+===+` border are the header); drawn as it is in a fence when a cell spans columns or
    rows; the lines unchanged when they are not a table."""
    end = start + 1
    while end < len(lines) and lines[end][:1] in {"+", "|"}:
        end += 1
    drawn = [line.rstrip() for line in lines[start:end]]
    if len(drawn) < 3 or not _is_grid_border(drawn[-1]):
        return lines[start:end], end
    bounds = [k for k, c in enumerate(drawn[0]) if c == "+"]
    if not all(
        len(line) == len(drawn[0]) and (_is_grid_border(line) or all(line[b] == "|" for b in bounds)) for line in drawn
    ):
        return emit.fence("", drawn), end
    rows: list[list[str]] = []
    header_rows = 0
    parts: list[list[str]] = [[] for _ in bounds[1:]]
    for line in drawn[1:]:
        if not _is_grid_border(line):
            for column, (left, right) in enumerate(itertools.pairwise(bounds)):
                parts[column].append(line[left + 1 : right].strip())
            continue
        rows.append([inline(" ".join(p for p in part if p)) for part in parts])
        parts = [[] for _ in bounds[1:]]
        if "=" in line and not header_rows:
            header_rows = len(rows)
    return (emit.table(rows[0], rows[1:]) if header_rows else emit.table(None, rows)), end


def _simple_columns(line: str) -> list[int] | None:
    """Where each column of a simple table starts, if `line` is its border (`=====  =======`)."""
    stripped = line.rstrip()
    if not stripped.startswith("=") or set(stripped) != {"=", " "}:
        return None
    starts = [k for k, c in enumerate(stripped) if c == "=" and (k == 0 or stripped[k - 1] == " ")]
    return starts if len(starts) >= 2 else None


def _simple_rows(lines: list[str], starts: list[int]) -> list[list[str]] | None:
    """A simple table's lines cut at its columns; a line whose first column is blank continues the row
    above. None when text crosses a column's start."""
    rows: list[list[str]] = []
    for line in lines:
        if any(0 < k <= len(line) and line[k - 1] != " " for k in starts[1:]):
            return None
        cells = [line[a:b].strip() for a, b in itertools.pairwise([*starts, max(len(line), starts[-1])])]
        if rows and not cells[0]:
            rows[-1] = [f"{old} {new}".strip() for old, new in zip(rows[-1], cells, strict=True)]
        else:
            rows.append(cells)
    return rows


def _simple_table(lines: list[str], start: int) -> tuple[list[str], int] | None:
    """The simple table whose border is at `start` as a pipe table (the rows between its first two borders,
    when it has three, are the header) and the index after it; None when it is not one."""
    starts = _simple_columns(lines[start])
    if not starts:
        return None
    borders = [start]
    end = start + 1
    while end < len(lines) and lines[end].strip() and len(borders) < 3:
        if _simple_columns(lines[end]) is not None:
            borders.append(end)
        end += 1
    if len(borders) < 2 or borders[-1] != end - 1:
        return None
    if any(_simple_columns(lines[b]) != starts for b in borders):
        return emit.fence("", [line.rstrip() for line in lines[start:end]]), end
    header = _simple_rows(lines[borders[0] + 1 : borders[1]], starts) if len(borders) == 3 else []
    body = _simple_rows(lines[borders[-2] + 1 : borders[-1]], starts)
    if header is None or body is None:
        return emit.fence("", [line.rstrip() for line in lines[start:end]]), end
    head = [inline(" ".join(column)) for column in zip(*header, strict=True)] if header else None
    return emit.table(head, [[inline(cell) for cell in row] for row in body]), end


def _image(name: str, argument: str, options: dict[str, str], block: list[str], reading: _Reading) -> list[str]:
    """An image or a figure: `![alt](path)`, a figure's caption (its first paragraph) under it, and its legend."""
    caption: list[str] = []
    legend = block
    if name == "figure":
        end = next((k for k, line in enumerate(block) if not line.strip()), len(block))
        caption, legend = block[:end], block[end:]
    image = emit.figure(options.get("alt", ""), argument, inline(" ".join(line.strip() for line in caption)))
    return [*image, *(_body_lines(legend, reading) if legend else []), ""]


def _directive(name: str, argument: str, options: dict[str, str], block: list[str], reading: _Reading) -> list[str]:
    """One directive's block as Markdown lines."""
    if name == "highlight":
        reading.highlight = argument
        return []
    if name in _CODE_DIRECTIVES:
        return [*emit.fence(argument or reading.highlight, block), ""]
    if name in _IMAGE_DIRECTIVES:
        return _image(name, argument, options, block, reading)
    if name in _TABLE_DIRECTIVES and (table := _list_table(block, options, reading)):
        return [*([inline(argument), ""] if argument else []), *table, ""]
    if name in _ADMONITIONS:
        label = name.capitalize() if name != "admonition" else (argument or "Note")
        return [f"{label}:", *_body_lines(block, reading), ""]
    if name in _SKIP_DIRECTIVES:
        return []
    titled = argument and name in {"tab", "group-tab", "code-tab", "topic", "rubric", "sidebar"}
    return [*([inline(argument) + ":"] if titled else []), *_body_lines(block, reading), ""]


def _literal_block(lines: list[str], i: int, reading: _Reading) -> tuple[list[str], int] | None:
    """A paragraph's last line ending in `::` and the indented block after it: the line (`text::` keeps one
    colon, `text ::` none) and the block fenced in the `.. highlight::` language. None inside a paragraph."""
    j = i + 1
    if j < len(lines) and lines[j].strip():
        return None  # the paragraph goes on: `::` inside it is text (`rclcpp::`)
    text = lines[i].rstrip()[:-2]
    intro = [] if not text.strip() else [inline(text.rstrip())] if text[-1:].isspace() else [inline(text) + ":"]
    while j < len(lines) and not lines[j].strip():
        j += 1
    if j == len(lines) or _indent(lines[j]) <= _indent(lines[i]):
        return intro, i + 1
    block, end = _indented_block(lines, j, _indent(lines[i]))
    return [*intro, *emit.fence(reading.highlight, block)], end


def _block_at(lines: list[str], i: int, reading: _Reading) -> tuple[list[str], int] | None:
    """The table or literal block that starts at line `i`, as Markdown lines, and the index after it."""
    line = lines[i].rstrip()
    if _is_grid_border(line):
        return _grid_table(lines, i)
    if line.startswith("="):
        return _simple_table(lines, i)
    return _literal_block(lines, i, reading) if line.endswith("::") else None


def _body_lines(lines: list[str], reading: _Reading) -> list[str]:
    """Directives, tables, literal blocks and roles of one region into Markdown lines. Each level of
    directives inside directives reads its block again, so the depth is capped (_MAX_NESTING)."""
    if reading.depth > _MAX_NESTING:
        raise UnreadableDocument(f"the reStructuredText nests directives deeper than {_MAX_NESTING} levels")
    reading.depth += 1
    try:
        return _read_lines(lines, reading)
    finally:
        reading.depth -= 1


def _read_lines(lines: list[str], reading: _Reading) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        directive = _DIRECTIVE.match(line)
        if directive:
            options, j = _options(lines, i + 1)
            block, i = _indented_block(lines, j, len(directive.group(1)))
            out.extend(_directive(directive.group(2).lower(), directive.group(3).strip(), options, block, reading))
            continue
        if _TARGET_OR_COMMENT.match(line):
            _, i = _indented_block(lines, i + 1, _indent(line))  # a target, substitution or comment: nothing to read
            continue
        at = _block_at(lines, i, reading)
        if at:
            found, i = at
            out.extend([*found, ""])
            continue
        out.append(inline(_ENUMERATED.sub(r"\g<1>1.\g<2>", line)))
        i += 1
    return out


def parse_rst(text: str, default_title: str | None = None) -> ParsedDocument:
    lines = text.replace("\r\n", "\n").replace("\t", "    ").split("\n")
    styles: list[tuple[str, bool]] = []
    regions: list[tuple[int, str, list[str]]] = [(0, "", [])]
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        after = lines[i + 2] if i + 2 < len(lines) else ""
        over = _ADORNMENT.match(line)
        if over and nxt.strip() and _ADORNMENT.match(after) and after.strip()[0] == line.strip()[0]:
            style, title, i = (line.strip()[0], True), nxt.strip(), i + 3
        elif (
            line.strip()
            and not line[:1].isspace()
            and _ADORNMENT.match(nxt)
            and len(nxt.strip()) >= len(line.strip()) - 1
        ):
            style, title, i = (nxt.strip()[0], False), line.strip(), i + 2
        else:
            regions[-1][2].append(line)
            i += 1
            continue
        if style not in styles:
            styles.append(style)
        regions.append((styles.index(style) + 1, inline(title), []))
    doc_title = next((t for level, t, _ in regions if level == 1), "") or (default_title or "")
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    reading = _Reading()
    for level, title, body in regions:
        if level:
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, title))
        content = "\n".join(_body_lines(body, reading)).strip("\n")
        content = re.sub(r"\n{3,}", "\n\n", content)
        if content.strip():
            anchor = make_id(title) if level > 1 else None
            sections.append(Section(heading_path=[t for _, t in stack], anchor=anchor or None, text=content))
    return ParsedDocument(title=doc_title, sections=sections)


def _line_numbers(spec: str, total: int) -> list[int] | None:
    """Sphinx's `:lines:` (`1,3,5-10,20-`) as indices into `total` lines; None when it is malformed."""
    chosen: list[int] = []
    for part in spec.split(","):
        begin, dash, end = part.strip().partition("-")
        if not (begin.strip() or dash):
            return None
        try:
            first = int(begin) if begin.strip() else 1
            last = (int(end) if end.strip() else total) if dash else first
        except ValueError:
            return None
        if first < 1 or last < first:
            return None
        chosen.extend(range(first - 1, min(last, total)))
        if len(chosen) > total:
            return None
    return chosen


def _between(lines: list[str], options: dict[str, str]) -> list[str] | None:
    """The lines after `:start-after:`/`:start-at:` and before `:end-before:`/`:end-at:` (the first line
    holding each text); None when a text is not found."""
    for key, inclusive in (("start-after", False), ("start-at", True)):
        if key in options:
            at = next((k for k, line in enumerate(lines) if options[key] in line), None)
            if at is None:
                return None
            lines = lines[at if inclusive else at + 1 :]
    for key, inclusive in (("end-before", False), ("end-at", True)):
        if key in options:
            at = next((k for k, line in enumerate(lines) if options[key] in line), None)
            if at is None:
                return None
            lines = lines[: at + 1 if inclusive else at]
    return lines


def _dedented(lines: list[str], dedent: str) -> list[str] | None:
    if not dedent:
        return textwrap.dedent("\n".join(lines)).split("\n")
    if not dedent.isdigit():
        return None
    width = int(dedent)
    return [line[min(width, len(line) - len(line.lstrip())) :] for line in lines]


def _read_included(path: Path) -> str | None:
    try:
        if not path.is_file() or path.stat().st_size > MAX_INCLUDE_BYTES:
            return None
        return path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _included(
    argument: str, options: dict[str, str], document: Path, book: Path, cache: dict[Path, str | None]
) -> list[str] | None:
    """The lines a literalinclude shows, its options applied as Sphinx applies them (text bounds, then
    `:lines:`, then `:dedent:`); None when its file is outside the book, missing, too large or not UTF-8,
    or an option is one this reader does not apply (`:pyobject:`, `:diff:`)."""
    if not argument or "pyobject" in options or "diff" in options:
        return None
    target = (book / argument.lstrip("/")) if argument.startswith("/") else (document.parent / argument)
    try:
        target = target.resolve()
    except OSError:
        return None
    if book not in target.parents:
        return None
    if target not in cache:
        cache[target] = _read_included(target)
    text = cache[target]
    if text is None:
        return None
    lines: list[str] | None = text.replace("\r\n", "\n").removesuffix("\n").split("\n")
    lines = _between(lines, options) if lines is not None else None
    if lines is not None and "lines" in options:
        numbers = _line_numbers(options["lines"], len(lines))
        lines = [lines[k] for k in numbers] if numbers is not None else None
    if lines is not None and "dedent" in options:
        lines = _dedented(lines, options["dedent"])
    if lines is None:
        return None
    return [*filter(None, [options.get("prepend")]), *lines, *filter(None, [options.get("append")])]


def expand_literalincludes(text: str, document: Path, root: Path) -> str:
    """`text`, the reStructuredText of the file `document` in the book at `root`, with each literalinclude
    whose file is inside the book (a path from `document`'s folder, or from `root` when it starts with
    `/`) as a code-block that holds the lines it shows, in its `:language:`. One that cannot be read so
    stays as it is, and parse_rst skips it: a file outside the book, missing, past MAX_INCLUDE_BYTES or
    not UTF-8, and any past MAX_INCLUDED_CHARS for the document."""
    if "literalinclude::" not in text:
        return text
    book = root.resolve()
    cache: dict[Path, str | None] = {}
    budget = MAX_INCLUDED_CHARS
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        found = _LITERALINCLUDE.match(lines[i])
        if not found:
            out.append(lines[i])
            i += 1
            continue
        options, end = _options(lines, i + 1)
        code = _included(found.group(2).strip(), options, document, book, cache)
        size = sum(len(line) + 1 for line in code or [])
        if code is None or size > budget:
            out += lines[i:end]
        else:
            budget -= size
            indent = found.group(1)
            out += [f"{indent}.. code-block:: {options.get('language', '')}".rstrip(), ""]
            out += [f"{indent}   {line}" if line.strip() else "" for line in code]
            out.append("")
        i = end
    return "\n".join(out)
