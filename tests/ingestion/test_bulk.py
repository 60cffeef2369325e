"""Bulk indexing pools chunks across documents (ingestion/bulk.py) on the real model and embedded
engine: it writes exactly what indexing one document at a time writes, in fewer model calls, reports
in input order, survives a bad document, a repeated source and a failing store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from src.container import Container, close_container, open_container
from src.ingestion.bulk import Load, index_many
from src.ingestion.files import discover, read_document
from src.ingestion.schemas import IndexMetadata
from src.ingestion.service import IndexOutcome
from src.kit.middleware import InFlight
from tests.conftest import make_settings, shared_path

BOOK = ("data", "textbooks", "physical-ai")


def book_loads(limit: int = 8) -> list[Load]:
    root = shared_path(*BOOK)
    paths = sorted(discover(root))[:limit]
    return [lambda p=p: read_document(p, root, None, None) for p in paths]


class Reports:
    def __init__(self) -> None:
        self.items: list[tuple[int, IndexOutcome | Exception]] = []

    async def __call__(self, position: int, result: IndexOutcome | Exception) -> None:
        self.items.append((position, result))


def stored(res: Container, sources: list[str]) -> dict[str, Any]:
    """Every chunk id with its rounded vector: what a reader's search can see."""
    ids = {cid for source in sources for cid in res.store.ids_for_source(source)}
    vectors = res.store.dense_vectors(sorted(ids))
    return {cid: np.asarray(vectors[cid]) for cid in ids}


async def test_pooled_indexing_writes_what_one_by_one_writes(tmp_path: Path) -> None:
    loads = book_loads()
    one = await open_container(make_settings(tmp_path / "one"), InFlight())
    pooled = await open_container(make_settings(tmp_path / "pooled"), InFlight())
    try:
        singles = [await one.indexing.index(*load()) for load in loads]
        calls = CountingEmbed(pooled)
        reports = Reports()
        await index_many(pooled.indexing, loads, reports, pool_chunks=64)
        assert [p for p, _ in reports.items] == list(range(len(loads)))  # input order
        outcomes = [r for _, r in reports.items]
        assert all(isinstance(o, IndexOutcome) for o in outcomes)
        assert [(o.content_id, o.indexed_chunks, o.chunks_new) for o in outcomes] == [  # type: ignore[union-attr]
            (s.content_id, s.indexed_chunks, s.chunks_new) for s in singles
        ]
        chunks = sum(s.indexed_chunks for s in singles)
        assert calls.texts == chunks and calls.calls < len(loads)  # pooled: fewer, fuller model calls
        sources = [load()[1].source_file for load in loads]
        a, b = stored(one, sources), stored(pooled, sources)
        assert a.keys() == b.keys() and len(a) == chunks
        # The same vectors up to the int8 model's dynamic activation scales, which depend on the batch.
        worst = min(float(np.dot(a[cid], b[cid])) for cid in a)
        assert worst > 0.98, worst
        again = Reports()
        await index_many(pooled.indexing, loads, again, pool_chunks=64)
        assert all(
            isinstance(r, IndexOutcome) and r.status == "unchanged" and r.chunks_embedded == 0 for _, r in again.items
        )
    finally:
        await close_container(one)
        await close_container(pooled)


class CountingEmbed:
    def __init__(self, res: Container) -> None:
        self.calls = self.texts = 0
        embed = res.embedder.embed

        def counted(texts: list[str], batch_size: int = 32) -> Any:
            self.calls += 1
            self.texts += len(texts)
            return embed(texts, batch_size)

        res.embedder.embed = counted  # type: ignore[method-assign]


async def test_a_bad_document_fails_alone_and_a_repeated_source_is_written_in_order(resources: Container) -> None:
    def text(source: str, body: str) -> Load:
        return lambda: (body, IndexMetadata(source_file=source, document_type="text"))

    def unreadable() -> tuple[str, IndexMetadata]:
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    loads = [
        text("a.txt", "The zero moment point keeps a walking robot upright."),
        unreadable,
        text("pdf.pdf", "not base64 at all"),
        text("a.txt", "The support polygon is the area under the feet."),  # the same source again: the last one wins
        text("b.txt", "Actuators turn commands into motion."),
    ]
    loads[2] = lambda: ("not base64 at all", IndexMetadata(source_file="pdf.pdf", document_type="pdf"))
    reports = Reports()
    await index_many(resources.indexing, loads, reports, pool_chunks=1000)
    kinds = [(p, type(r).__name__) for p, r in reports.items]
    assert kinds == [
        (0, "IndexOutcome"),
        (1, "UnicodeDecodeError"),
        (2, "UnreadablePdf"),
        (3, "IndexOutcome"),
        (4, "IndexOutcome"),
    ]
    contents = [resources.store.chunks_of_source("a.txt"), resources.store.chunks_of_source("b.txt")]
    assert [len(c) for c in contents] == [1, 1]
    hits = await resources.retrieval.search("support polygon under the feet", 1)
    assert hits.hits[0].passage.source_file == "a.txt" and "support polygon" in hits.hits[0].passage.content
    assert not resources.indexing.lock("a.txt").locked()


async def test_a_failing_store_stops_the_run_and_frees_every_source(resources: Container) -> None:
    loads = book_loads(4)

    def broken(records: Any) -> None:
        raise OSError("disk full")

    resources.store.upsert = broken  # type: ignore[method-assign]
    reports = Reports()
    with pytest.raises(OSError, match="disk full"):
        await index_many(resources.indexing, loads, reports, pool_chunks=8)
    assert reports.items == []  # nothing is reported as written
    sources = [
        read_document(p, shared_path(*BOOK), None, None)[1].source_file
        for p in sorted(discover(shared_path(*BOOK)))[:4]
    ]
    assert not any(resources.indexing.lock(s).locked() for s in sources)
