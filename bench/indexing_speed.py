"""Indexing speed through the service's own indexing path (parse, chunk, embed, upsert, registry):
a cold index of real books, then a re-index of the unchanged books.

    .venv/bin/python -m bench.indexing_speed [--books physical-ai,rust-book] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bench.corpus import BOOK_ROOTS, require_shared
from bench.report import machine, write_section
from src.container import close_container, open_container
from src.ingestion.files import discover, read_document
from src.kit.middleware import InFlight
from src.kit.settings import Settings


async def run(books: list[str]) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            _env_file=None, data_dir=Path(tmp) / "data", log_dir=Path(tmp) / "logs", log_level="WARNING"
        )  # type: ignore[call-arg]
        resources = await open_container(settings, InFlight())
        try:
            docs = [
                read_document(path, BOOK_ROOTS[b], None, prefix=b)
                for b in books
                for path in sorted(discover(BOOK_ROOTS[b]))
            ]
            started = time.perf_counter()
            outcomes = [await resources.indexing.index(content, meta) for content, meta in docs]
            cold = time.perf_counter() - started
            chunks = sum(o.indexed_chunks for o in outcomes)
            t = time.perf_counter()
            await resources.indexing.optimize_now()
            optimize = time.perf_counter() - t
            started = time.perf_counter()
            again = [await resources.indexing.index(content, meta) for content, meta in docs]
            warm = time.perf_counter() - started
            assert all(o.chunks_embedded == 0 for o in again)
            tokens = statistics.mean(
                c.token_count for content, meta in docs for c in resources.indexing.prepare(content, meta)[1]
            )
        finally:
            await close_container(resources)
    return {
        "files": len(docs),
        "chunks": chunks,
        "cold_s": cold,
        "optimize_s": optimize,
        "warm_s": warm,
        "tokens": tokens,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--books", default="physical-ai,rust-book")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    require_shared()
    r = asyncio.run(run(args.books.split(",")))
    per_1000 = r["warm_s"] / r["chunks"] * 1000
    text = "\n".join(
        [
            "| books | files | chunks | cold index | chunks/s | HNSW build | unchanged re-index | per 1,000 chunks |",
            "|---|---|---|---|---|---|---|---|",
            f"| {args.books} | {r['files']} | {r['chunks']:,} | {r['cold_s']:.1f} s | {r['chunks'] / r['cold_s']:.1f} | {r['optimize_s']:.1f} s | {r['warm_s']:.2f} s | {per_1000:.2f} s |",
        ]
    )
    print(text)
    if args.write:
        body = (
            "Through `IndexingService.index`, one document at a time, on SQLite and the embedded store, as `POST /api/v1/index` and the CLI do. "
            f"Chunks average {r['tokens']:.0f} word pieces (embedded text, heading path included). The unchanged re-index parses, chunks and compares ids, embedding nothing.\n\n"
            + text
        )
        write_section("Indexing speed", body, f"python -m bench.indexing_speed --books {args.books} --write", machine())


if __name__ == "__main__":
    main()
