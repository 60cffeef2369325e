"""PDF into one section per page, with the page number in the metadata and `#page=N` as anchor
(the open parameter PDF viewers follow)."""

from __future__ import annotations

import io
import re

from pypdf import PdfReader
from pypdf.errors import PdfReadError

from src.ingestion.document import ParsedDocument, Section
from src.kit.errors import InvalidInput


class UnreadablePdf(InvalidInput):
    """Rendered as a 422 by the app's error handler."""


def parse_pdf(data: bytes, default_title: str | None = None) -> ParsedDocument:
    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
        info_title = (reader.metadata.title if reader.metadata else None) or ""
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise UnreadablePdf(f"not a readable PDF: {exc}") from exc
    title = str(info_title).strip() or default_title or ""
    if not title:
        first = next((p for p in pages if p.strip()), "")
        title = first.strip().split("\n", 1)[0][:200]
    sections = []
    for number, text in enumerate(pages, start=1):
        text = re.sub(r"[ \t]+\n", "\n", text).strip()
        # Lines broken by the layout are joined into paragraphs; blank lines stay paragraph breaks.
        text = re.sub(r"(?<![.!?:;\n])\n(?!\n)", " ", text)
        if text:
            sections.append(Section(heading_path=[title, f"Page {number}"] if title else [f"Page {number}"], anchor=f"page={number}", text=text, page=number))
    return ParsedDocument(title=title, sections=sections)
