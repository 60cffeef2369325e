"""Which parser reads which document type; Markdown anchors follow the site generator. PDF and HTML
are parsed in a child process with limits (sandbox.py); every parser's output is held to the
document caps, and a parser's failure on one document is that document's 422."""

from __future__ import annotations

from dataclasses import replace

from src.ingestion.document import MAX_HEADING_CHARS, DocumentCaps, ParsedDocument, UnreadableDocument
from src.ingestion.html import parse_html, parse_text
from src.ingestion.markdown import parse_markdown
from src.ingestion.pdf import parse_pdf
from src.ingestion.rst import parse_rst
from src.ingestion.sandbox import SandboxLimits, run_limited
from src.ingestion.sites import Generator, slugger_for

# Third-party parsers fed raw bytes: a bomb or a bug there must not take the worker down. Markdown,
# reStructuredText and text are read by this package's own line-based code, in linear time.
ISOLATED_TYPES = frozenset({"pdf", "html"})


def _parse(
    document_type: str,
    content: str | bytes,
    default_title: str | None,
    site: Generator | None,
    caps: DocumentCaps | None,
) -> ParsedDocument:
    if document_type == "pdf":
        if not isinstance(content, bytes):
            raise ValueError("PDF content must be bytes")
        return parse_pdf(content, default_title, caps)
    if isinstance(content, bytes):
        content = content.decode("utf-8")
    if document_type == "markdown":
        return parse_markdown(content, default_title, slugger_for(site or "docusaurus"))
    if document_type == "rst":
        return parse_rst(content, default_title)
    if document_type == "html":
        return parse_html(content, default_title)
    return parse_text(content, default_title)


def parse(
    document_type: str,
    content: str | bytes,
    default_title: str | None,
    site: Generator | None = None,
    caps: DocumentCaps | None = None,
) -> ParsedDocument:
    """In this process. Headings are cut to MAX_HEADING_CHARS (each chunk carries its heading path)."""
    try:
        doc = _parse(document_type, content, default_title, site, caps)
    except RecursionError as exc:
        raise UnreadableDocument(f"the {document_type} document is nested too deeply to read") from exc
    if caps is not None:
        caps.check_chars(sum(len(section.text) for section in doc.sections))
    doc.title = doc.title[:MAX_HEADING_CHARS]
    if any(len(heading) > MAX_HEADING_CHARS for section in doc.sections for heading in section.heading_path):
        doc.sections = [
            replace(section, heading_path=[h[:MAX_HEADING_CHARS] for h in section.heading_path])
            for section in doc.sections
        ]
    return doc


def parse_document(
    document_type: str,
    content: str | bytes,
    default_title: str | None,
    site: Generator | None,
    caps: DocumentCaps,
    limits: SandboxLimits,
) -> ParsedDocument:
    """parse(), in a child process with `limits` for the types in ISOLATED_TYPES."""
    if document_type in ISOLATED_TYPES:
        return run_limited(parse, (document_type, content, default_title, site, caps), limits)
    return parse(document_type, content, default_title, site, caps)
