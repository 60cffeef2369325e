"""PDF into one section per page, with the page number in the metadata and `#page=N` as anchor
(the open parameter PDF viewers follow)."""

from __future__ import annotations

import io
import re

from pypdf import PdfReader
from pypdf.errors import PyPdfError

from src.ingestion.document import DocumentCaps, ParsedDocument, Section, UnreadableDocument


class UnreadablePdf(UnreadableDocument):
    """Rendered as a 422 by the app's error handler."""


def _extract(reader: PdfReader, caps: DocumentCaps | None, file_bytes: int) -> list[str]:
    """Each page's text, refused past the caps before the next page is read: pages may share one
    content stream, so a few kilobytes can repeat a long text on every page."""
    if caps is not None:
        caps.check_pages(len(reader.pages))
    pages: list[str] = []
    total = 0
    for page in reader.pages:
        pages.append(page.extract_text() or "")
        total += len(pages[-1])
        if caps is not None:
            caps.check_chars(total)
            caps.check_pdf_text(total, file_bytes)
    return pages


def _join_lines(text: str) -> str:
    # Trailing blanks are cut line by line: `[ \t]+\n` rescanned a long run of blanks from each of them.
    text = "\n".join(line.rstrip(" \t") for line in text.split("\n")).strip()
    # Lines broken by the layout are joined into paragraphs; blank lines stay paragraph breaks.
    return re.sub(r"(?<![.!?:;\n])\n(?!\n)", " ", text)


def parse_pdf(data: bytes, default_title: str | None = None, caps: DocumentCaps | None = None) -> ParsedDocument:
    try:
        reader = PdfReader(io.BytesIO(data))
        pages = _extract(reader, caps, len(data))
        info_title = (reader.metadata.title if reader.metadata else None) or ""
    except (PyPdfError, ValueError, KeyError, TypeError) as exc:  # PyPdfError: malformed, or past one of its own limits
        raise UnreadablePdf(f"not a readable PDF: {exc}") from exc
    title = str(info_title).strip() or default_title or ""
    if not title:
        first = next((p for p in pages if p.strip()), "")
        title = first.strip().split("\n", 1)[0][:200]
    sections = []
    for number, text in enumerate(pages, start=1):
        text = _join_lines(text)
        if text:
            sections.append(
                Section(
                    heading_path=[title, f"Page {number}"] if title else [f"Page {number}"],
                    anchor=f"page={number}",
                    text=text,
                    page=number,
                )
            )
    return ParsedDocument(title=title, sections=sections)
