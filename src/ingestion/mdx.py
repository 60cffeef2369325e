"""JSX components and HTML tags in the prose of an MDX or Markdown page, read as a reader sees the page.

Every tag goes with all its attributes, however many lines they span: quoted values, `{...}` expressions
with their own braces, strings, template literals and comments. What a reader sees stays:

- the text children of any component or tag (an unknown self-closing component leaves nothing);
- `<details>`: its `<summary>` as a bold line;
- `<Tabs>`/`<TabItem label="Python">`: each tab's label as a line `Python:` before its children, so that
  the code under it keeps its label; `<Admonition type="note">` as a line `Note:`, as `:::note` is;
- `<figure>` with its `<img>` and `<figcaption>`, and a bare `<img>`: the image as `![alt](src)` with its
  caption on the next line as `*caption*` (emit.py).

`{/* comments */}` go. Code spans are code: a tag inside backticks stays. Code fences and math blocks
never reach this module (markdown.py passes prose only).

A capitalised name right after a letter or digit is a type, not a tag (`Vec<T>`, `Result<String, E>`).
A `<` that does not open a well-formed tag is text, and so is the text its scan read: the next tag is
looked for after it. Every scan moves forward, so the work is linear in the text whatever it holds (an
unclosed `<Quiz {` costs one read to the end, not one per later `<`).
"""

from __future__ import annotations

import html
import re
from bisect import bisect_right
from dataclasses import dataclass, field

from src.ingestion import emit

# HTML tags read here (the others stay as text); any capitalised name is a component.
_HTML_TAGS = frozenset(
    "span div a img br sup sub p details summary figure figcaption center kbd small b i u em strong section "
    "picture source".split()
)
_SUMMARY = frozenset({"summary", "Summary"})
_NAME = re.compile(r"[A-Za-z][\w.:-]*")
_ATTR_NAME = re.compile(r"[A-Za-z_:$][\w:.$-]*")
_BLANKS = re.compile(r"\s*")
_UNQUOTED = re.compile(r"[^\s\"'=<>`{}]+")
_TEXT_STOP = re.compile(r"[<`{]")
_BACKTICKS = re.compile(r"`+")
_BLANK_LINE = re.compile(r"\n[ \t]*(?=\n)")
_IN_BRACES = re.compile(r"[{}\"'`/]")
_IN_TEMPLATE = re.compile(r"[\\`$]")
_STRING_STOP = {'"': re.compile(r'["\\\n]'), "'": re.compile(r"['\\\n]")}
_STRING_LITERAL = re.compile(r"""\s*(?:"([^"\\]*)"|'([^'\\]*)')\s*""")


@dataclass
class _Tag:
    name: str
    closing: bool = False
    self_closing: bool = False
    attrs: dict[str, str] = field(default_factory=dict)

    def opens(self) -> bool:
        return not self.closing and not self.self_closing


@dataclass(frozen=True)
class _Piece:
    """What a tag leaves: `inline` inside a line of prose, `block` (lines) when the tag has its lines to itself."""

    inline: str = ""
    block: tuple[str, ...] = ()


_NOTHING = _Piece()
_COMMENT = _Tag("{/* */}", self_closing=True)


class _Finder:
    """`text.find(needle, start)` for starts that only grow, each character searched once: a later
    start before the last match found gets that match again."""

    def __init__(self, text: str, needle: str) -> None:
        self.text, self.needle = text, needle
        self.start, self.found = len(text) + 1, -1

    def find(self, start: int) -> int:
        if not (self.start <= start and (self.found < 0 or self.found >= start)):
            self.start, self.found = start, self.text.find(self.needle, start)
        return self.found


class _CodeSpans:
    """Where the code span opened by a run of backticks ends: at the next run of the same length, within
    the paragraph (a blank line ends it). Every run and blank line is found once, up front."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.runs: dict[int, list[int]] = {}
        for run in _BACKTICKS.finditer(text):
            self.runs.setdefault(run.end() - run.start(), []).append(run.start())
        self.blanks = [blank.start() for blank in _BLANK_LINE.finditer(text)]

    def end_of(self, start: int) -> int:
        """The index past the code span whose opening run is at `start`, or past that run when none closes it."""
        run = _BACKTICKS.match(self.text, start)
        length = run.end() - start if run else 1
        same = self.runs.get(length, [])
        k = bisect_right(same, start)
        if k < len(same):
            close = same[k]
            b = bisect_right(self.blanks, start)
            if b == len(self.blanks) or self.blanks[b] > close:
                return close + length
        return start + length


def _skip_blanks(text: str, j: int) -> int:
    blanks = _BLANKS.match(text, j)
    return blanks.end() if blanks else j


def _string_end(text: str, start: int) -> int:
    """`text[start]` opens a JavaScript string: the index past its closing quote. A string ends at the end
    of its line at the latest (an apostrophe in JSX text must not swallow the rest of the page)."""
    stop = _STRING_STOP[text[start]]
    j = start + 1
    while found := stop.search(text, j):
        if found.group() == "\\":
            j = found.end() + 1
            continue
        return found.start() if found.group() == "\n" else found.end()
    return len(text)


def _expression_end(text: str, start: int) -> int:
    """`text[start]` is `{`: the index past its matching `}`, nested braces, strings, template literals
    (with their `${...}`) and comments skipped; -1 when the text ends first."""
    stack = ["{"]
    j = start + 1
    while stack:
        if stack[-1] == "`":
            found = _IN_TEMPLATE.search(text, j)
            if not found:
                return -1
            j, c = found.end(), found.group()
            if c == "\\":
                j += 1
            elif c == "`":
                stack.pop()
            elif text.startswith("{", j):
                stack.append("{")
                j += 1
            continue
        found = _IN_BRACES.search(text, j)
        if not found:
            return -1
        j, c = found.end(), found.group()
        if c == "{":
            stack.append("{")
        elif c == "}":
            stack.pop()
        elif c == "`":
            stack.append("`")
        elif c in "\"'":
            j = _string_end(text, j - 1)
        elif text.startswith("/", j):
            j = text.find("\n", j)
            if j < 0:
                return -1
        elif text.startswith("*", j):
            end = text.find("*/", j + 1)
            if end < 0:
                return -1
            j = end + 2
    return j


def _literal(expression: str) -> str:
    """A `{"Python"}` attribute's string; any other expression reads as empty."""
    found = _STRING_LITERAL.fullmatch(expression)
    return (found.group(1) if found.group(1) is not None else found.group(2) or "") if found else ""


def _read_tag(text: str, start: int) -> tuple[_Tag | None, int]:
    """`text[start]` is `<`: the tag there and the index past it; or None and how far the scan read (the
    text up to there is prose)."""
    closing = text.startswith("/", start + 1)
    name_match = _NAME.match(text, start + 2 if closing else start + 1)
    if not name_match:
        return None, start + 1
    name = name_match.group()
    before = text[start - 1] if start else " "
    if before == "\\" or (
        name not in _HTML_TAGS and (not name[0].isupper() or (not closing and (before.isalnum() or before == "_")))
    ):  # `Vec<T>`, `Option<String>`: a type
        return None, start + 1
    tag = _Tag(name, closing)
    j, n = name_match.end(), len(text)
    while True:
        j = _skip_blanks(text, j)
        if j >= n:
            return None, n
        c = text[j]
        if c == ">":
            return tag, j + 1
        if c == "/" and text.startswith(">", j + 1) and not closing:
            tag.self_closing = True
            return tag, j + 2
        if closing or not text[j - 1].isspace():
            return None, j
        if c == "{":  # `{...props}`
            end = _expression_end(text, j)
            if end < 0:
                return None, n
            j = end
            continue
        attribute = _ATTR_NAME.match(text, j)
        if not attribute:
            return None, j
        key = attribute.group()
        j = _skip_blanks(text, attribute.end())
        if not text.startswith("=", j):
            tag.attrs[key] = ""
            continue
        j = _skip_blanks(text, j + 1)
        if j >= n:
            return None, n
        c = text[j]
        if c in "\"'":
            end = text.find(c, j + 1)
            if end < 0:
                return None, n
            tag.attrs[key] = html.unescape(text[j + 1 : end])
            j = end + 1
        elif c == "{":
            end = _expression_end(text, j)
            if end < 0:
                return None, n
            tag.attrs[key] = _literal(text[j + 1 : end - 1])
            j = end
        else:
            value = _UNQUOTED.match(text, j)
            if not value:
                return None, j
            tag.attrs[key] = html.unescape(value.group())
            j = value.end()


def _comment_end(text: str, start: int, comments: _Finder) -> int:
    """`{/* ... */}` at `start`: the index past it, or -1."""
    if not text.startswith("{/*", start):
        return -1
    end = comments.find(start + 3)
    if end < 0:
        return -1
    j = _skip_blanks(text, end + 2)
    return j + 1 if text.startswith("}", j) else -1


def _tokens(text: str) -> list[str | _Tag]:
    """The text as prose and tags, in order; an MDX comment as a tag that leaves nothing."""
    spans = _CodeSpans(text)
    comments = _Finder(text, "*/")
    out: list[str | _Tag] = []
    done = pos = 0
    while found := _TEXT_STOP.search(text, pos):
        i, c = found.start(), found.group()
        if c == "`":
            pos = spans.end_of(i)
            continue
        if c == "{":
            end = _comment_end(text, i, comments)
            if end < 0:
                pos = i + 1
            else:
                out += [text[done:i], _COMMENT]
                done = pos = end
            continue
        tag, end = _read_tag(text, i)
        if tag is None:
            pos = max(end, i + 1)
            continue
        out += [text[done:i], tag]
        done = pos = end
    out.append(text[done:])
    return out


def _label(text: str) -> _Piece:
    return _Piece(f"{text}: ", (f"{text}:",)) if text.strip() else _NOTHING


def _piece(tag: _Tag) -> _Piece:
    """What one tag leaves, by itself."""
    if tag.name == "img" and not tag.closing:
        src = tag.attrs.get("src", "")
        line = emit.image(tag.attrs.get("alt", ""), src)
        return _Piece(line, (line,)) if src else _NOTHING
    if tag.name == "br":
        return _Piece(" ")
    if tag.opens() and tag.name == "TabItem":
        return _label(tag.attrs.get("label") or tag.attrs.get("value", ""))
    if tag.opens() and tag.name == "Admonition":
        return _label(tag.attrs.get("title") or tag.attrs.get("type", "note").capitalize())
    return _NOTHING


def _plain(tokens: list[str | _Tag]) -> str:
    return " ".join("".join(t if isinstance(t, str) else _piece(t).inline for t in tokens).split())


def _figure(inside: list[str | _Tag]) -> _Piece:
    """A `<figure>`'s images, any other text in it, and its `<figcaption>` last."""
    images: list[str] = []
    other: list[str | _Tag] = []
    caption: list[str | _Tag] = []
    in_caption = False
    for token in inside:
        if isinstance(token, _Tag) and token.name == "figcaption":
            in_caption = not token.closing
        elif isinstance(token, _Tag) and token.name == "img":
            images.extend(_piece(token).block)
        else:
            (caption if in_caption else other).append(token)
    text, under = _plain(other), emit.caption(_plain(caption))
    lines = (*images, *([text] if text else []), *([under] if under else []))
    return _Piece(" ".join(lines), lines)


def _summary(inside: list[str | _Tag]) -> _Piece:
    text = _plain(inside)
    return _Piece(f"**{text}**", (f"**{text}**",)) if text else _NOTHING


def _pieces(tokens: list[str | _Tag]) -> list[str | _Piece]:
    """Each tag as what it leaves; a figure and a summary, from their opening to their closing tag, as one."""
    closes: dict[str, list[int]] = {}
    for k, token in enumerate(tokens):
        if isinstance(token, _Tag) and token.closing:
            closes.setdefault(token.name, []).append(k)
    out: list[str | _Piece] = []
    k = 0
    while k < len(tokens):
        token = tokens[k]
        k += 1
        if isinstance(token, str):
            out.append(token)
            continue
        whole = _figure if token.name == "figure" else _summary if token.name in _SUMMARY else None
        if whole and token.opens():
            ends = closes.get(token.name, [])
            at = bisect_right(ends, k - 1)
            if at < len(ends):
                out.append(whole(tokens[k : ends[at]]))
                k = ends[at] + 1
                continue
        out.append(_piece(token))
    return out


def _lines(pieces: list[str | _Piece]) -> list[str]:
    """The pieces back into lines. A line that holds only tags is their blocks (a blank line if they leave
    none, unless one is next to it already); tags inside a line of prose leave their inline text."""
    rows: list[list[str | _Piece]] = [[]]
    for piece in pieces:
        if isinstance(piece, str):
            first, *rest = piece.split("\n")
            rows[-1].append(first)
            rows.extend([line] for line in rest)
        else:
            rows[-1].append(piece)
    lines: list[str] = []
    made: list[bool] = []  # a blank line left by tags
    for row in rows:
        tags = [p for p in row if isinstance(p, _Piece)]
        texts = [p for p in row if isinstance(p, str)]
        if tags and not "".join(texts).strip():
            indent = texts[0] if texts else ""
            block = [indent + line for tag in tags for line in tag.block]
            lines.extend(block or [""])
            made.extend([not block] * (len(block) or 1))
        else:
            lines.append("".join(p if isinstance(p, str) else p.inline for p in row))
            made.append(False)
    return _collapsed(lines, made)


def _collapsed(lines: list[str], made: list[bool]) -> list[str]:
    """Each run of blank lines that holds one a tag left as one blank line (a block tag parts paragraphs)."""
    kept: list[str] = []
    k = 0
    while k < len(lines):
        if lines[k].strip():
            kept.append(lines[k])
            k += 1
            continue
        end = k
        while end < len(lines) and not lines[end].strip():
            end += 1
        kept += lines[k:end] if not any(made[k:end]) else [""]
        k = end
    return kept


def read_components(prose: str) -> str:
    """Prose (no code fences, no math blocks) with its JSX components and HTML tags read (module docstring)."""
    if "<" not in prose and "{/*" not in prose:
        return prose
    return "\n".join(_lines(_pieces(_tokens(prose))))
