"""What the commands print besides their results: one console on stderr, and labelled lines."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

console = Console(stderr=True)


def say(label: str, style: str, detail: str) -> None:
    """A coloured label, then text from files or errors exactly as it is: never read as Rich markup
    (a file named `[bold]x.md`) or emoji codes, and on one line, for grep."""
    console.print(Text.assemble((label, style), " ", detail), soft_wrap=True)
