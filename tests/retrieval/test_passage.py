"""Passage: a chunk's stored fields, typed. What ingestion writes is exactly the payload it stored before
(`to_payload`, key for key), a stored payload reads back whole (`from_payload`), a search's candidates
carry the fields asked for, and the query cache keeps the shape it had."""

from __future__ import annotations

from src.retrieval.fusion import Fused
from src.retrieval.passage import PASSAGE_FORMAT, Passage
from src.retrieval.schemas import RetrievedContext, to_context

STORED = {
    "source_file": "docs/balance.md",
    "content_id": "c0ffee",
    "title": "Humanoids",
    "chapter": "Humanoids",
    "section": "Balance",
    "heading_path": ["Humanoids", "Balance"],
    "anchor": "balance",
    "url": "https://book.example/balance#balance",
    "position": 3,
    "content": "The ZMP must stay inside the support polygon.",
    "chunk_hash": "abc123",
    "token_count": 11,
    "document_type": "markdown",
    "chapter_number": 2,
}


def test_a_stored_payload_reads_back_whole_and_writes_the_same_keys_in_order() -> None:
    passage = Passage.from_payload(STORED)
    assert passage.section == "Balance" and passage.heading_path == ("Humanoids", "Balance") and passage.kind == "book"
    assert list(passage.to_payload().items()) == list(STORED.items())
    # The optional fields are stored only when known.
    assert "page" not in passage.to_payload() and Passage.from_payload({**STORED, "page": 7}).to_payload()["page"] == 7


def test_what_clients_see_is_the_payload_without_text_or_hash() -> None:
    context = to_context(Fused("c1", 0.5, 0.5, None, Passage.from_payload(STORED)))
    assert context.content == STORED["content"]
    assert context.metadata == {k: v for k, v in STORED.items() if k not in ("content", "chunk_hash")}
    assert context.passage() == Passage.from_payload({**STORED, "chunk_hash": ""})
    selected = to_context(Fused("selection", 1.0, None, None, Passage.selection("Highlighted.")))
    assert selected.metadata == {
        "title": "Selected text",
        "section": "Selected text",
        "source_file": None,
        "url": None,
        "heading_path": [],
    }
    assert RetrievedContext.model_validate(selected.model_dump()).passage().kind == "selection"


def test_a_candidate_carries_the_fields_it_was_read_with() -> None:
    candidate = Passage.from_payload({"source_file": "docs/balance.md"})
    assert (candidate.source_file, candidate.content, candidate.section, candidate.heading_path) == (
        "docs/balance.md",
        "",
        None,
        (),
    )
    assert (
        candidate.book == "docs"
        and Passage(source_file="rust-book/src/ch04.md").book == "rust-book"
        and Passage().book == ""
    )


def test_the_query_cache_keeps_its_shape() -> None:
    hit = Fused("c1", 0.5, 0.4, 2.0, Passage.from_payload(STORED))
    cached = hit.to_json()
    assert cached == {"id": "c1", "score": 0.5, "dense_score": 0.4, "sparse_score": 2.0, "payload": STORED}
    assert Fused.from_json(cached) == hit


def test_a_passage_indexed_now_carries_its_format_and_one_stored_before_formats_reads_as_format_0() -> None:
    assert Passage.from_payload(STORED).format == 0
    current = Passage.from_payload({**STORED, "format": PASSAGE_FORMAT})
    assert current.format == PASSAGE_FORMAT and current.to_payload()["format"] == PASSAGE_FORMAT
    # Clients never see it: it says how the index was written, not where the passage is.
    assert "format" not in current.metadata()
