"""Ingestion writes a chunk's payload through `Passage` alone: the stored fields read back as the same
passage, with the section, the anchored URL and the chapter number it had."""

from __future__ import annotations

from pathlib import Path

from src.ingestion.chunking import chunk_document
from src.ingestion.document import DocumentCaps
from src.ingestion.parsers import parse_document
from src.ingestion.passages import passages_of
from src.ingestion.sandbox import SandboxLimits
from src.ingestion.schemas import IndexMetadata
from src.retrieval.passage import Passage
from tests.conftest import make_settings


def test_ingestion_writes_through_passage(tmp_path: Path) -> None:
    meta = IndexMetadata(source_file="docs/balance.md", url="https://book.example/balance", chapter_number=2)
    settings = make_settings(tmp_path)
    caps = DocumentCaps.of(settings)
    text = "# Humanoids\n\n## Balance\n\nThe ZMP must stay inside the support polygon.\n"
    doc = parse_document("markdown", text, None, None, caps, SandboxLimits.of(settings))
    chunks = chunk_document(doc, 200, 20, lambda text: len(text.split()), caps)
    [(chunk_id, passage)] = passages_of(doc, chunks, meta)
    payload = passage.to_payload()
    assert Passage.from_payload(payload) == passage
    assert (payload["section"], payload["url"], payload["chapter_number"]) == (
        "Balance",
        "https://book.example/balance#balance",
        2,
    )
    assert len(chunk_id) == 36 and payload["chunk_hash"]
