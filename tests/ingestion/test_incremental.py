"""Incremental, idempotent indexing on the real embedded engine: only changed chunks are embedded,
moved chunks keep their vectors, removed chunks go, and an interrupted run is completed by the next."""

from __future__ import annotations

from src.container import Container
from src.ingestion.schemas import IndexMetadata
from tests.conftest import shared_path

CHAPTER = "docs/03-ros2-fundamentals/index.md"


def chapter() -> str:
    return shared_path("data", "textbooks", "physical-ai", CHAPTER).read_text()


def meta() -> IndexMetadata:
    return IndexMetadata(source_file=CHAPTER, url="https://book.example/docs/ros2-fundamentals")


async def test_unchanged_reindex_embeds_nothing(resources: Container) -> None:
    first = await resources.indexing.index(chapter(), meta())
    again = await resources.indexing.index(chapter(), meta())
    assert first.chunks_embedded == first.indexed_chunks
    assert again.status == "unchanged" and again.chunks_embedded == 0 and again.chunks_new == 0
    assert resources.store.count() == first.indexed_chunks


async def test_inserted_section_embeds_only_the_new_text(resources: Container) -> None:
    first = await resources.indexing.index(chapter(), meta())
    text = chapter()
    cut = text.index("\n## ")
    edited = (
        text[:cut] + "\n## A New Section\n\nNodes can be composed into a single process to cut latency.\n" + text[cut:]
    )
    second = await resources.indexing.index(edited, meta())
    assert second.indexed_chunks == first.indexed_chunks + 1
    assert second.chunks_embedded == 1  # every other chunk only moved: its vector is reused
    assert resources.store.count() == second.indexed_chunks
    assert len(resources.store.ids_for_source(CHAPTER)) == second.indexed_chunks


async def test_interrupted_run_is_completed_by_the_next(resources: Container) -> None:
    """Simulate a crash after the new chunks were written but before the old ones were deleted."""
    text = chapter()
    old = await resources.indexing.index(text, meta())
    new_text = text.replace("ROS", "ROS 2", 5)
    doc, chunks = resources.indexing.prepare(new_text, meta())
    planned = resources.indexing.passages(doc, chunks, meta())
    half = planned[: len(planned) // 2]
    from src.retrieval.store.base import StoredChunk

    texts = [chunks[p.position or 0].embed_text for _, p in half]
    vectors = resources.embedder.embed(texts)
    resources.store.upsert(
        [
            StoredChunk(cid, vectors[i].tolist(), resources.sparse.document(texts[i]), p.to_payload())
            for i, (cid, p) in enumerate(half)
        ]
    )
    assert resources.store.count() > old.indexed_chunks  # a mix of old and half of the new version
    rerun = await resources.indexing.index(new_text, meta())
    expected = {cid for cid, _ in planned}
    assert resources.store.ids_for_source(CHAPTER) == expected
    assert resources.store.count() == len(expected) == rerun.indexed_chunks
    contents = [h.payload["content"] for h in resources.store.retrieve(sorted(expected))]
    assert len(contents) == len(expected)
