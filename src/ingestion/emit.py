"""The standard Markdown a parser writes for a block that is more than a paragraph: fenced code with its
language, an image with its caption, a pipe table.

Stored passages are read back into blocks from this Markdown, so every parser (markdown.py and mdx.py,
rst.py) writes these blocks the same way: code as a fence with its language after the backticks, an
image as `![alt](src)` with its caption, when it has one, on the next line as `*caption*`, and a table as
a header row, a `| --- |` row and one line a row.
"""

from __future__ import annotations


def _one_line(text: str) -> str:
    return " ".join(text.split())


def fence(language: str, code: list[str]) -> list[str]:
    """`code` between fences tagged with `language`: the fence is longer than any run of backticks that
    starts a line of the code, so that no line of it can close the fence."""
    longest = 0
    for line in code:
        stripped = line.lstrip()
        if stripped.startswith("`"):
            longest = max(longest, len(stripped) - len(stripped.lstrip("`")))
    ticks = "`" * max(3, longest + 1)
    return [ticks + _one_line(language).replace("`", ""), *code, ticks]


def image(alt: str, src: str) -> str:
    r"""`![alt](src)`: the alt text on one line with its brackets escaped; a source with blanks or
    parentheses in `<...>`."""
    alt = _one_line(alt).replace("[", r"\[").replace("]", r"\]")
    src = src.strip()
    if any(c in src for c in " \t()<>"):
        src = "<" + src.replace("<", "%3C").replace(">", "%3E") + ">"
    return f"![{alt}]({src})"


def caption(text: str) -> str | None:
    """The line under an image: `*caption*` (its own asterisks escaped), or None for an empty caption."""
    text = _one_line(text)
    return "*" + text.replace("*", r"\*") + "*" if text else None


def figure(alt: str, src: str, caption_text: str = "") -> list[str]:
    """An image line, and its caption line when it has one."""
    under = caption(caption_text)
    return [image(alt, src), *([under] if under else [])]


def _row(cells: list[str], width: int) -> str:
    padded = [_one_line(c).replace("|", r"\|") for c in cells] + [""] * (width - len(cells))
    return "| " + " | ".join(padded) + " |"


def table(header: list[str] | None, rows: list[list[str]]) -> list[str]:
    """A pipe table: each cell on one line, `|` in a cell escaped, short rows padded. A table without a
    header row gets an empty one (a pipe table must have one; the first row is not a header)."""
    width = max([len(header or [])] + [len(r) for r in rows])
    return [
        _row(header or [], width),
        "| " + " | ".join(["---"] * width) + " |",
        *(_row(r, width) for r in rows),
    ]
