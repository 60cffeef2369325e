"""What every parser produces: a document's title and its sections in reading order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Section:
    heading_path: list[str]
    anchor: str | None
    text: str
    page: int | None = None


@dataclass
class ParsedDocument:
    title: str
    sections: list[Section]
    front_matter: dict[str, Any] = field(default_factory=dict)
