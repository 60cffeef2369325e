"""One contract, two backends: the embedded Qdrant engine (qdrant-edge-py) and the Qdrant server
API through qdrant-client (its in-memory mode stands in for a server, which cannot run here)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from src.retrieval.embedder import Embedder
from src.retrieval.sparse import SparseEncoder
from src.retrieval.store.base import SearchFilter, StoredChunk, VectorStore, VectorStoreUnavailable
from src.retrieval.store.embedded import EmbeddedStore
from src.retrieval.store.server import ServerStore

TEXTS = [
    (
        "book/ch01-intro.md",
        "Introduction",
        1,
        "Embodied AI places intelligence in a physical body with sensors and actuators.",
    ),
    ("book/ch01-intro.md", "Introduction", 1, "Physical AI must act in real time in a continuous world."),
    (
        "book/ch02-humanoids.md",
        "Humanoids",
        2,
        "The zero moment point must stay inside the support polygon for stable walking.",
    ),
    (
        "book/ch02-humanoids.md",
        "Humanoids",
        2,
        "A humanoid arm usually has seven degrees of freedom: shoulder, elbow and wrist.",
    ),
    ("book/ch03-ros.md", "ROS 2", 3, "ROS 2 uses DDS for discovery and transport, unlike ROS 1 which needed a master."),
    ("book/ch03-ros.md", "ROS 2", 3, "Use a service for request and reply; use a topic for streams of messages."),
]


@pytest.fixture(scope="module")
def encoders() -> tuple[Embedder, SparseEncoder]:
    return Embedder(), SparseEncoder()


@pytest.fixture(params=["embedded", "qdrant-client"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    if request.param == "embedded":
        s: VectorStore = EmbeddedStore(tmp_path / "shard", 384)
    else:
        s = ServerStore(QdrantClient(location=":memory:"), "textbook_content", 384)
    s.ensure_collection()
    yield s
    s.close()


def chunks(encoders: tuple[Embedder, SparseEncoder], version: str = "v1") -> list[StoredChunk]:
    embedder, sparse = encoders
    vectors = embedder.embed([t for *_, t in TEXTS])
    out = []
    for i, ((source, chapter, number, text), vec) in enumerate(zip(TEXTS, vectors, strict=True)):
        cid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{source}#{i}#{version}"))
        payload = {"source_file": source, "chapter": chapter, "chapter_number": number, "content": text, "position": i}
        out.append(StoredChunk(cid, vec.tolist(), sparse.document(text), payload))
    return out


def search(
    store: VectorStore,
    encoders: tuple[Embedder, SparseEncoder],
    question: str,
    flt: SearchFilter | None = None,
    limit: int = 10,
):
    embedder, sparse = encoders
    return store.search(embedder.embed_one(question).tolist(), sparse.query(question), limit, flt or SearchFilter())


def test_ensure_collection_is_idempotent(store: VectorStore) -> None:
    store.ensure_collection()
    store.ensure_collection()
    assert store.count() == 0
    store.ping()


def test_upsert_twice_keeps_one_copy(store: VectorStore, encoders) -> None:
    items = chunks(encoders)
    store.upsert(items)
    store.upsert(items)
    assert store.count() == len(items)
    assert store.ids_for_source("book/ch02-humanoids.md") == {
        c.id for c in items if c.payload["source_file"] == "book/ch02-humanoids.md"
    }


def test_delete_removes_exactly_the_ids(store: VectorStore, encoders) -> None:
    items = chunks(encoders)
    store.upsert(items)
    gone = [c.id for c in items if c.payload["source_file"] == "book/ch01-intro.md"]
    store.delete(gone)
    store.delete(gone)  # deleting twice is harmless
    assert store.count() == len(items) - len(gone)
    assert store.ids_for_source("book/ch01-intro.md") == set()
    assert store.retrieve(gone) == []


def test_dense_and_sparse_find_the_right_passage(store: VectorStore, encoders) -> None:
    store.upsert(chunks(encoders))
    dense, sparse = search(store, encoders, "What keeps a biped walking robot balanced?")
    assert "zero moment point" in dense[0].payload["content"]
    assert [h.score for h in dense] == sorted((h.score for h in dense), reverse=True)
    dense, sparse = search(store, encoders, "DDS discovery")
    assert sparse and "DDS" in sparse[0].payload["content"]
    assert all(h.score > 0 for h in sparse)


def test_filters(store: VectorStore, encoders) -> None:
    store.upsert(chunks(encoders))
    dense, sparse = search(store, encoders, "robot", SearchFilter(source_files=("book/ch03-ros.md",)))
    assert dense and {h.payload["source_file"] for h in dense + sparse} == {"book/ch03-ros.md"}
    dense, _ = search(store, encoders, "robot", SearchFilter(chapter="Humanoids"))
    assert {h.payload["chapter"] for h in dense} == {"Humanoids"}
    dense, sparse = search(store, encoders, "ROS 2 DDS topic", SearchFilter(up_to_chapter=2))
    assert dense and all(h.payload["chapter_number"] <= 2 for h in dense + sparse)
    assert store.count(SearchFilter(up_to_chapter=1)) == 2


def test_replace_a_version_leaves_nothing_behind(store: VectorStore, encoders) -> None:
    old = chunks(encoders, "v1")
    store.upsert(old)
    new = chunks(encoders, "v2")
    store.upsert(new)
    store.delete([c.id for c in old])
    assert store.count() == len(new)
    assert {h.id for h in store.retrieve([c.id for c in new])} == {c.id for c in new}


def test_payload_round_trips(store: VectorStore, encoders) -> None:
    items = chunks(encoders)
    store.upsert(items)
    got = {h.id: h.payload for h in store.retrieve([items[2].id])}
    assert got[items[2].id] == items[2].payload


def test_embedded_store_is_single_process(tmp_path: Path) -> None:
    first = EmbeddedStore(tmp_path / "shard", 384)
    try:
        with pytest.raises(VectorStoreUnavailable, match="QDRANT_URL"):
            EmbeddedStore(tmp_path / "shard", 384)
    finally:
        first.close()


def test_embedded_store_persists(tmp_path: Path, encoders) -> None:
    s = EmbeddedStore(tmp_path / "shard", 384)
    s.ensure_collection()
    s.upsert(chunks(encoders))
    s.close()
    reopened = EmbeddedStore(tmp_path / "shard", 384)
    try:
        assert reopened.count() == len(TEXTS)
    finally:
        reopened.close()


def test_chunks_of_source_and_stored_vectors(store: VectorStore, encoders) -> None:
    items = [
        StoredChunk(c.id, c.dense, c.sparse, c.payload | {"chunk_hash": f"h{i}"})
        for i, c in enumerate(chunks(encoders))
    ]
    store.upsert(items)
    of_ros = store.chunks_of_source("book/ch03-ros.md")
    assert of_ros == {c.id: c.payload["chunk_hash"] for c in items if c.payload["source_file"] == "book/ch03-ros.md"}
    vectors = store.dense_vectors([items[0].id, "00000000-0000-0000-0000-000000000000"])
    assert list(vectors) == [items[0].id]
    assert sum(a * b for a, b in zip(vectors[items[0].id], items[0].dense, strict=True)) == pytest.approx(1.0, abs=1e-4)


def test_payloads_reads_every_chunk_with_the_fields_asked(store: VectorStore, encoders) -> None:
    items = chunks(encoders)
    store.upsert(items)
    read = store.payloads(["source_file", "position"])
    assert sorted(h.id for h in read) == sorted(c.id for c in items)
    by_id = {h.id: h.payload for h in read}
    for c in items:
        # Only the fields asked: no text travels for a whole-index read.
        assert by_id[c.id] == {"source_file": c.payload["source_file"], "position": c.payload["position"]}
