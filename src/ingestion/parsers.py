"""Which parser reads which document type; Markdown anchors follow the site generator."""

from __future__ import annotations

from src.ingestion.document import ParsedDocument
from src.ingestion.html import parse_html, parse_text
from src.ingestion.markdown import parse_markdown
from src.ingestion.pdf import parse_pdf
from src.ingestion.rst import parse_rst
from src.ingestion.sites import Generator, slugger_for


def parse(document_type: str, content: str | bytes, default_title: str | None, site: Generator | None = None) -> ParsedDocument:
    if document_type == "pdf":
        if not isinstance(content, bytes):
            raise ValueError("PDF content must be bytes")
        return parse_pdf(content, default_title)
    if isinstance(content, bytes):
        content = content.decode("utf-8")
    if document_type == "markdown":
        return parse_markdown(content, default_title, slugger_for(site or "docusaurus"))
    if document_type == "rst":
        return parse_rst(content, default_title)
    if document_type == "html":
        return parse_html(content, default_title)
    return parse_text(content, default_title)
