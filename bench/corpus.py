"""The pooled benchmark corpus: the four shared textbooks plus the SQuAD 2.0 paragraphs, indexed
through the service's own ingestion code into one embedded collection (cached between runs)."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from src.ingestion.files import discover, read_document
from src.ingestion.schemas import IndexMetadata
from src.ingestion.service import IndexingService
from src.kit.settings import Settings
from src.retrieval.embedder import Embedder
from src.retrieval.sparse import SparseEncoder, SparseVec
from src.retrieval.store.base import DENSE, SPARSE, StoredChunk
from src.retrieval.store.embedded import EmbeddedStore

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
BOOKS = SHARED / "data" / "textbooks"
QA = SHARED / "data" / "qa"
CACHE = REPO / "bench" / ".cache"
BOOK_ROOTS = {
    "physical-ai": BOOKS / "physical-ai",
    "rust-book": BOOKS / "rust-book",
    "d2l": BOOKS / "d2l",
    "ros2-docs": BOOKS / "ros2-docs",
}


@dataclass(frozen=True)
class Doc:
    content: str | bytes
    meta: IndexMetadata


def require_shared() -> None:
    if not SHARED.exists():
        sys.exit(f"{SHARED} is absent: the benchmarks read the shared textbooks and question sets from ../shared")


def book_docs() -> Iterator[Doc]:
    for name, root in BOOK_ROOTS.items():
        for path in sorted(discover(root)):
            content, meta = read_document(path, root, None, prefix=name)
            yield Doc(content, meta)


def squad_docs() -> Iterator[Doc]:
    for line in (QA / "squad-v2-subset" / "corpus.jsonl").read_text().splitlines():
        row = json.loads(line)
        meta = IndexMetadata(source_file=f"squad/{row['_id']}", title=row["title"], document_type="text")
        yield Doc(row["text"], meta)


def pooled_docs() -> list[Doc]:
    return [*book_docs(), *squad_docs()]


def fingerprint(docs: list[Doc], settings: Settings, model_id: str) -> str:
    h = hashlib.sha256(model_id.encode())
    for code in sorted((REPO / "src" / "ingestion").glob("*.py")):
        h.update(code.read_bytes())
    h.update(f"{settings.chunk_max_tokens}|{settings.chunk_overlap_tokens}".encode())
    for d in docs:
        h.update(d.meta.source_file.encode())
        h.update(d.content if isinstance(d.content, bytes) else d.content.encode())
    return h.hexdigest()[:16]


def plan(service: IndexingService, docs: list[Doc]) -> list[tuple[str, dict, str]]:
    """(chunk id, payload, text to embed) for every chunk of every document."""
    out = []
    for d in docs:
        parsed, chunks = service.prepare(d.content, d.meta)
        for (cid, passage), chunk in zip(service.passages(parsed, chunks, d.meta), chunks, strict=True):
            out.append((cid, passage.to_payload(), chunk.embed_text))
    return out


def build(
    store_dir: Path, docs: list[Doc], embedder: Embedder, settings: Settings
) -> tuple[EmbeddedStore, dict[str, float]]:
    """Index `docs` into a fresh embedded store; returns it and timing figures."""
    sparse = SparseEncoder()
    service = IndexingService(settings, embedder, sparse, None, None, None)  # type: ignore[arg-type]
    store = EmbeddedStore(store_dir, embedder.dimensions)
    store.ensure_collection()
    started = time.perf_counter()
    planned = plan(service, docs)
    parse_s = time.perf_counter() - started
    batch = 512
    embed_s = 0.0
    for start in range(0, len(planned), batch):
        part = planned[start : start + batch]
        t = time.perf_counter()
        vectors = embedder.embed([text for *_, text in part], settings.embedding_batch_size)
        embed_s += time.perf_counter() - t
        store.upsert(
            [
                StoredChunk(cid, vectors[i].tolist(), sparse.document(text), payload)
                for i, (cid, payload, text) in enumerate(part)
            ]
        )
        print(f"  indexed {min(start + batch, len(planned))}/{len(planned)} chunks", file=sys.stderr, flush=True)
    write_s = time.perf_counter() - started
    t = time.perf_counter()
    store.optimize()
    optimize_s = time.perf_counter() - t
    return store, {
        "chunks": len(planned),
        "parse_s": parse_s,
        "embed_s": embed_s,
        "index_s": write_s,
        "optimize_s": optimize_s,
    }


def stored_points(store: EmbeddedStore) -> list[StoredChunk]:
    """Every point of `store`, vectors and payloads included (to copy a collection under other settings)."""
    out = []
    offset: Any = None
    while True:
        records, offset = store._shard.scroll(
            qe.ScrollRequest(offset=offset, limit=1000, with_payload=True, with_vector=True)
        )
        for r in records:
            sparse: Any = r.vector[SPARSE]
            out.append(
                StoredChunk(
                    str(r.id),
                    list(r.vector[DENSE]),
                    SparseVec(list(sparse.indices), list(sparse.values)),
                    dict(r.payload),
                )
            )
        if offset is None or not records:
            return out


def pooled_store(embedder: Embedder, settings: Settings) -> tuple[EmbeddedStore, dict[str, float]]:
    """The pooled collection, rebuilt only when the corpus or the ingestion code changed."""
    return cached_store("pooled", pooled_docs(), embedder, settings)


def books_store(embedder: Embedder, settings: Settings) -> tuple[EmbeddedStore, dict[str, float]]:
    """The four textbooks alone, as a real deployment would index them (no SQuAD or Wikipedia text)."""
    return cached_store("books", list(book_docs()), embedder, settings)


def cached_store(
    name: str, docs: list[Doc], embedder: Embedder, settings: Settings
) -> tuple[EmbeddedStore, dict[str, float]]:
    key = fingerprint(docs, settings, embedder.model_id)
    store_dir = CACHE / f"{name}-{key}"
    stats_file = store_dir.parent / f"{name}-{key}.json"
    if stats_file.exists():
        return EmbeddedStore(store_dir, embedder.dimensions), json.loads(stats_file.read_text())
    print(f"Building the {name} collection ({len(docs)} documents)...", file=sys.stderr)
    store, stats = build(store_dir, docs, embedder, settings)
    stats_file.write_text(json.dumps(stats))
    return store, stats
