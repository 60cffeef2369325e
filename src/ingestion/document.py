"""What every parser produces: a document's title and its sections in reading order; the caps a
parsed document must stay within, and the error that refuses one document."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from src.kit.errors import InvalidInput
from src.kit.settings import Settings

# A heading or title past this is cut: the heading path goes into every chunk of its section.
MAX_HEADING_CHARS = 1000
# Every PDF may yield this much text, whatever its size (MAX_PDF_TEXT_PER_BYTE applies past it).
PDF_TEXT_FLOOR = 100_000


class UnreadableDocument(InvalidInput):
    """A document refused for what it holds: malformed past reading, or built to exhaust the parser (a
    YAML alias bomb, a PDF whose pages repeat one content stream, a parser past its CPU, memory or
    time limit). A 422 for this document alone: a bulk job and the CLI go on with the next one."""


class DocumentTooLarge(UnreadableDocument):
    """Past one of the per-document caps; the message names the setting."""


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


@dataclass(frozen=True)
class DocumentCaps:
    """How much one document may yield (MAX_DOCUMENT_PAGES, MAX_EXTRACTED_CHARS, MAX_DOCUMENT_CHUNKS)."""

    pages: int
    chars: int
    chunks: int
    pdf_text_per_byte: float = 10.0

    @classmethod
    def of(cls, settings: Settings) -> DocumentCaps:
        return cls(
            pages=settings.max_document_pages,
            chars=settings.max_extracted_chars,
            chunks=settings.max_document_chunks,
            pdf_text_per_byte=settings.max_pdf_text_per_byte,
        )

    def check_pages(self, pages: int) -> None:
        if pages > self.pages:
            raise DocumentTooLarge(f"the document has {pages:,} pages, more than MAX_DOCUMENT_PAGES ({self.pages:,})")

    def check_chars(self, chars: int) -> None:
        if chars > self.chars:
            raise DocumentTooLarge(
                f"the document's text is longer than MAX_EXTRACTED_CHARS ({self.chars:,} characters)"
            )

    def check_pdf_text(self, chars: int, file_bytes: int) -> None:
        """A PDF's text against its file's size: text compressed into a content stream, even shared by every
        page, yields a few characters a byte; a few kilobytes that yield a book are a bomb, refused early."""
        allowed = max(PDF_TEXT_FLOOR, int(self.pdf_text_per_byte * file_bytes))
        if chars > allowed:
            raise DocumentTooLarge(
                f"the PDF's text is over {self.pdf_text_per_byte:g} characters a byte of the file ({file_bytes:,} bytes),"
                " more than MAX_PDF_TEXT_PER_BYTE allows"
            )

    def check_chunks(self, chunks: int) -> None:
        if chunks > self.chunks:
            raise DocumentTooLarge(f"the document makes more chunks than MAX_DOCUMENT_CHUNKS ({self.chunks:,})")
