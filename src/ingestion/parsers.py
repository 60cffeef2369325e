"""Which parser reads which document type."""

from __future__ import annotations

from collections.abc import Callable

from src.ingestion.document import ParsedDocument
from src.ingestion.html import parse_html, parse_text
from src.ingestion.markdown import parse_markdown

Parser = Callable[[str, str | None], ParsedDocument]
PARSERS: dict[str, Parser] = {"markdown": parse_markdown, "html": parse_html, "text": parse_text}


def parse(document_type: str, content: str, default_title: str | None) -> ParsedDocument:
    return PARSERS[document_type](content, default_title)
