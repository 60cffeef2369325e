"""reStructuredText (as Sphinx projects write it) into sections under their titles.

A line-based reader rather than docutils' parser: Sphinx sources are full of directives and roles
that docutils alone does not know, and an unknown one must not lose the text around it. Section
anchors are the ids Sphinx gives (docutils' `make_id` of the title).
"""

from __future__ import annotations

import re
import textwrap

from docutils.nodes import make_id

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
_MAX_NESTING = 20  # directives inside directives; Sphinx sources nest a few
_CODE_DIRECTIVES = {"code-block", "code", "sourcecode", "highlight"}
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
    "image",
    "figure",
    "raw",
    "contents",
    "include",
    "literalinclude",
    "only",
    "index",
    "meta",
    "highlight",
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


def _indented_block(lines: list[str], start: int) -> tuple[list[str], int]:
    """Lines from `start` that are blank or indented, dedented; returns them and the next index."""
    block: list[str] = []
    i = start
    while i < len(lines) and (not lines[i].strip() or lines[i][:1] in " \t"):
        block.append(lines[i])
        i += 1
    while block and not block[-1].strip():
        block.pop()
        i -= 1
    first = next((n for n, line in enumerate(block) if line.strip()), len(block))
    block = block[first:]  # one slice: pop(0) per leading blank line was quadratic
    return textwrap.dedent("\n".join(block)).split("\n") if block else [], i


def _body_lines(lines: list[str], depth: int = 0) -> list[str]:
    """Directives, literal blocks and roles of one region into plain Markdown-like lines. Each level of
    directives inside directives reads its block again, so the depth is capped (_MAX_NESTING)."""
    if depth > _MAX_NESTING:
        raise UnreadableDocument(f"the reStructuredText nests directives deeper than {_MAX_NESTING} levels")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        directive = _DIRECTIVE.match(line)
        if directive:
            name, argument = directive.group(2).lower(), directive.group(3).strip()
            j = i + 1
            while j < len(lines) and re.match(r"^\s+:[\w-]+:", lines[j]):  # directive options
                j += 1
            block, i = _indented_block(lines, j)
            if name in _CODE_DIRECTIVES:
                out.extend([f"```{argument}".rstrip(), *block, "```", ""])
            elif name in _ADMONITIONS:
                label = name.capitalize() if name != "admonition" else (argument or "Note")
                out.extend([f"{label}:", *_body_lines(block, depth + 1), ""])
            elif name not in _SKIP_DIRECTIVES:
                if argument and name in {"tab", "group-tab", "code-tab", "topic", "rubric", "sidebar"}:
                    out.append(inline(argument) + ":")
                out.extend([*_body_lines(block, depth + 1), ""])
            continue
        if _TARGET_OR_COMMENT.match(line):
            _, i = _indented_block(lines, i + 1)  # a target, substitution or comment: nothing to read
            continue
        if line.rstrip().endswith("::") and not line.strip().startswith(".."):
            text = line.rstrip()[:-2].rstrip()
            if text:
                out.append(inline(text) + ":")
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            if j < len(lines) and lines[j][:1] in " \t":
                block, i = _indented_block(lines, j)
                out.extend(["```", *block, "```", ""])
                continue
            i += 1
            continue
        out.append(inline(line))
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
    for level, title, body in regions:
        if level:
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, title))
        content = "\n".join(_body_lines(body)).strip("\n")
        content = re.sub(r"\n{3,}", "\n\n", content)
        if content.strip():
            anchor = make_id(title) if level > 1 else None
            sections.append(Section(heading_path=[t for _, t in stack], anchor=anchor or None, text=content))
    return ParsedDocument(title=doc_title, sections=sections)
