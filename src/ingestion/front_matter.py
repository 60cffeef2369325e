"""YAML front matter (the `---` block that opens a Markdown or MDX page): its fields and the body after it.

Read by a loader that refuses what can make a small block expensive: anchors and aliases (nine aliases of
nine aliases ... expand exponentially once printed), nesting past _FRONT_MATTER_DEPTH (recursion), more than
_FRONT_MATTER_BYTES, and a title, slug or sidebar position that is not one short value. Merely malformed YAML
is an author's mistake: it is ignored.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

import yaml

from src.ingestion.document import UnreadableDocument

_FRONT_MATTER_BYTES = 64 * 1024
_FRONT_MATTER_DEPTH = 20
_FRONT_MATTER_FIELDS = {"title": 1000, "slug": 1000, "sidebar_position": 32}  # the fields read, and their longest value
_SCALARS = (str, int, float, bool, datetime.date)


class FrontMatterRefused(UnreadableDocument):
    """Front matter built to be expensive (aliases, deep nesting, oversized): the document gets a 422."""


class _FrontMatterLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no type hints
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        # Checked on the events, before any node is built, let alone expanded.
        if self.check_event(yaml.AliasEvent):
            raise FrontMatterRefused("front matter refused: YAML aliases (*name) are not accepted")
        if self.peek_event().anchor is not None:
            raise FrontMatterRefused("front matter refused: YAML anchors (&name) are not accepted")
        if self.depth >= _FRONT_MATTER_DEPTH:
            raise FrontMatterRefused(f"front matter refused: nested deeper than {_FRONT_MATTER_DEPTH} levels")
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def front_matter_block(text: str) -> tuple[str, int] | None:
    r"""The YAML between a first line `---` and the next line `---`, and where the body starts; as
    `^---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(\r?\n|$)` (re.S) finds them, in one forward scan."""
    opening = re.match(r"---[ \t]*\r?\n", text)
    if not opening:
        return None
    start = opening.end()
    at = text.find("\n---", start)
    while at != -1:
        after = at + 4
        while after < len(text) and text[after] in " \t":
            after += 1
        ending = 1 if text.startswith("\n", after) else 2 if text.startswith("\r\n", after) else 0
        if ending or after == len(text):
            end = at - 1 if at > start and text[at - 1] == "\r" else at
            return text[start:end], after + ending
        at = text.find("\n---", at + 1)
    return None


def _checked_fields(data: dict[str, Any]) -> dict[str, Any]:
    for name, longest in _FRONT_MATTER_FIELDS.items():
        value = data.get(name)
        if value is None:
            continue
        if not isinstance(value, _SCALARS):
            raise FrontMatterRefused(
                f"front matter refused: {name} must be a single value, not a {type(value).__name__}"
            )
        if len(str(value)) > longest:
            raise FrontMatterRefused(f"front matter refused: {name} is longer than {longest} characters")
    return data


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """The front matter's fields and the body after it. Raises FrontMatterRefused (a 422) for a
    hostile block; malformed YAML is read as no fields."""
    if not text.startswith("---"):
        return {}, text
    found = front_matter_block(text)
    if found is None:
        return {}, text
    block, body_start = found
    if len(block) > _FRONT_MATTER_BYTES or len(block.encode("utf-8", "surrogatepass")) > _FRONT_MATTER_BYTES:
        raise FrontMatterRefused(f"front matter refused: larger than {_FRONT_MATTER_BYTES // 1024} KiB")
    try:
        data = yaml.load(block, Loader=_FrontMatterLoader) or {}  # a SafeLoader that also refuses aliases
    except (yaml.YAMLError, ValueError):  # ValueError: an int past Python's digit limit, a date that does not exist
        data = {}
    return (_checked_fields(data) if isinstance(data, dict) else {}), text[body_start:]
