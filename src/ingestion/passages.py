"""What indexing stores for each chunk: its id (deterministic: uuid5 of the source file, position, content
hash and passage format, so a re-run computes the same ids, and a release with a new passage format
rewrites every chunk, keeping its vector) and its `Passage`, the only way a payload is written."""

from __future__ import annotations

import hashlib
import uuid

from src.ingestion.chunking import Chunk
from src.ingestion.document import ParsedDocument
from src.ingestion.schemas import IndexMetadata
from src.ingestion.sites import chapter_number_from_path
from src.retrieval.passage import PASSAGE_FORMAT, Passage

CHUNK_NAMESPACE = uuid.UUID("6f1c63c8-3f0e-5b9e-9a57-3c1f0d2b7a11")


def content_id_for(source_file: str) -> str:
    return str(uuid.uuid5(CHUNK_NAMESPACE, "doc:" + source_file))


def chunk_id_for(source_file: str, position: int, content_hash: str) -> str:
    return str(uuid.uuid5(CHUNK_NAMESPACE, f"{source_file}\x00{position}\x00{content_hash}\x00{PASSAGE_FORMAT}"))


def join_url(url: str | None, anchor: str | None) -> str | None:
    if not url:
        return None
    base = url.split("#", 1)[0]
    return f"{base}#{anchor}" if anchor else base


def passages_of(doc: ParsedDocument, chunks: list[Chunk], meta: IndexMetadata) -> list[tuple[str, Passage]]:
    """Each chunk's id and the passage stored with it."""
    content_id = content_id_for(meta.source_file)
    chapter = meta.chapter or doc.title or meta.source_file
    chapter_number = (
        meta.chapter_number if meta.chapter_number is not None else chapter_number_from_path(meta.source_file)
    )
    # Document-level fields go into every chunk's hash, so a changed title or URL replaces payloads too.
    doc_fields = (doc.title, chapter, chapter_number, meta.url, meta.section, meta.document_type)
    doc_fingerprint = "\x00".join(str(f) for f in doc_fields)
    out = []
    for c in chunks:
        chunk_hash = hashlib.sha256(f"{doc_fingerprint}\x00{c.embed_text}".encode()).hexdigest()
        passage = Passage(
            source_file=meta.source_file,
            content_id=content_id,
            title=doc.title or meta.source_file,
            chapter=chapter,
            section=c.heading_path[-1] if c.heading_path else (meta.section or doc.title),
            heading_path=tuple(c.heading_path),
            anchor=c.anchor,
            url=join_url(meta.url, c.anchor),
            position=c.position,
            content=c.content,
            chunk_hash=chunk_hash,
            token_count=c.token_count,
            document_type=meta.document_type,
            chapter_number=chapter_number,
            page=c.page,
            format=PASSAGE_FORMAT,
        )
        out.append((chunk_id_for(meta.source_file, c.position, chunk_hash), passage))
    return out
