"""Bulk indexing of the pooled corpus (four textbooks and the SQuAD passages) through the service's
bulk path (ingestion/bulk.py, as POST /api/v1/index/bulk and the CLI on a folder run it): parse,
chunk, pooled embedding, upsert and registry, on SQLite and the embedded store. In the same run,
the floor: a bare loop over the same chunk texts (tokenizer, onnxruntime, mean pooling; sorted by
length, batches of EMBEDDING_BATCH_SIZE) with nothing else around it.

    .venv/bin/python -m bench.bulk_indexing [--pool 1024] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bench.corpus import Doc, pooled_docs, require_shared
from bench.report import machine, write_section
from src.container import close_container, open_container
from src.ingestion.bulk import Load, index_many
from src.ingestion.schemas import IndexMetadata
from src.ingestion.service import IndexOutcome
from src.kit.middleware import InFlight
from src.kit.settings import Settings
from src.retrieval.embedder import Embedder


def loads(docs: list[Doc]) -> list[Load]:
    def load(d: Doc) -> Load:
        def read() -> tuple[str | bytes, IndexMetadata]:
            return d.content, d.meta

        return read

    return [load(d) for d in docs]


async def bulk(docs: list[Doc], pool: int) -> tuple[dict[str, float], list[str]]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            _env_file=None,
            data_dir=Path(tmp) / "data",
            log_dir=Path(tmp) / "logs",
            log_level="WARNING",
            index_pool_chunks=pool,
        )  # type: ignore[call-arg]
        container = await open_container(settings, InFlight())
        outcomes: list[IndexOutcome | Exception] = []

        async def report(position: int, result: IndexOutcome | Exception) -> None:
            outcomes.append(result)

        try:
            started = time.perf_counter()
            await index_many(container.indexing, loads(docs), report, pool)
            wall = time.perf_counter() - started
            t = time.perf_counter()
            await container.indexing.optimize_now()
            optimize = time.perf_counter() - t
            failed = [o for o in outcomes if isinstance(o, Exception)]
            assert not failed, failed[:3]
            texts = [t for d in docs for t in (c.embed_text for c in container.indexing.prepare(d.content, d.meta)[1])]
        finally:
            await close_container(container)
    chunks = sum(o.indexed_chunks for o in outcomes if isinstance(o, IndexOutcome))
    return {"wall_s": wall, "optimize_s": optimize, "chunks": chunks, "documents": len(docs)}, texts


def floor(embedder: Embedder, texts: list[str], batch: int) -> tuple[float, int]:
    """Seconds for the bare model loop over `texts`, and the word pieces it read (special tokens included)."""
    tokenizer = embedder.tokenizer
    pieces = sum(len(e.ids) for e in tokenizer.encode_batch(texts))
    order = sorted(texts, key=len)
    started = time.perf_counter()
    for start in range(0, len(order), batch):
        embedder._embed_batch(order[start : start + batch])
    return time.perf_counter() - started, pieces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pool", type=int, default=1024)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    require_shared()
    docs = pooled_docs()
    r, texts = asyncio.run(bulk(docs, args.pool))
    batch = Settings(_env_file=None).embedding_batch_size  # type: ignore[call-arg]
    floor_s, pieces = floor(Embedder(), texts, batch)
    ours, bare = pieces / r["wall_s"], pieces / floor_s
    text = "\n".join(
        [
            "| documents | chunks | word pieces | bulk index (wall) | chunks/s | word pieces/s | bare model loop | its word pieces/s | ratio | HNSW build |",
            "|---|---|---|---|---|---|---|---|---|---|",
            f"| {r['documents']:,} | {r['chunks']:,} | {pieces:,} | {r['wall_s']:.1f} s | {r['chunks'] / r['wall_s']:.1f} | {ours:,.0f} | {floor_s:.1f} s | {bare:,.0f} | "
            f"{ours / bare:.2f} | {r['optimize_s']:.1f} s |",
        ]
    )
    print(text)
    if args.write:
        body = (
            f"`index_many` (ingestion/bulk.py) over the pooled corpus, pool of {args.pool} chunks, batches of {batch}; SQLite and the embedded store in a fresh "
            "DATA_DIR. Wall time from the first document read to the last registry row (the HNSW build after it is listed apart). The bare loop embeds the same "
            "chunk texts, sorted by length, and nothing else. The issue's reference corpus also held ClapNQ passages; ../shared has none, so this is the four "
            "books and SQuAD.\n\n" + text
        )
        write_section("Bulk indexing", body, f"python -m bench.bulk_indexing --pool {args.pool} --write", machine())


if __name__ == "__main__":
    main()
