"""The embedded store at 10k, 100k and 1M chunks, with the settings of retrieval/store/tuning.py
(memory-mapped vectors and payloads, int8 quantization with rescoring, HNSW m=16):
/api/v1/query over HTTP (one client, caches off: p50/p95/p99), the server's resident memory, the
time to open the store, and dense recall@10 against exact search.

    .venv/bin/python -m bench.scale [--sizes 10k,100k,1m] [--write]

The first 10,623 chunks are the pooled benchmark corpus (four textbooks and SQuAD), embedded by the
real model. Embedding a million chunks on two cores would take hours, so the rest is padding made
from those chunks: each padding point copies a real chunk's payload and sparse vector and takes its
dense vector plus Gaussian noise (norm about 0.6, so a copy's cosine to its original is about 0.85),
re-normalised. Search cost depends on the number and spread of the vectors, which this keeps; the
padding makes the nearest-neighbour problem harder than real text would (dense clusters).
One collection grows through the sizes; each size is optimized (HNSW built) and measured in turn.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import qdrant_edge as qe

from bench.common import percentile, questions, serve
from bench.corpus import CACHE, pooled_store, require_shared, stored_points
from bench.report import machine, write_section
from src.kit.settings import Settings
from src.retrieval.embedder import Embedder
from src.retrieval.sparse import SparseVec
from src.retrieval.store.base import DENSE, StoredChunk
from src.retrieval.store.embedded import EmbeddedStore
from src.retrieval.store.tuning import StoreTuning

SIZES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}
NOISE_PER_DIMENSION = 0.031  # x sqrt(384) = a noise vector of norm about 0.6
BATCH = 2000
RECALL_QUESTIONS = 200
PAD = uuid.UUID("0b7c3c52-6a55-4f32-8d3a-3f0e4b1c9a10")


def real_chunks(embedder: Embedder) -> list[tuple[dict[str, Any], np.ndarray, SparseVec]]:
    pooled, _ = pooled_store(embedder, Settings(_env_file=None))  # type: ignore[call-arg]
    points = stored_points(pooled)
    pooled.close()
    return [(p.payload, np.asarray(p.dense, dtype=np.float32), p.sparse) for p in points]


def grow(
    store: EmbeddedStore,
    real: list[tuple[dict[str, Any], np.ndarray, SparseVec]],
    have: int,
    target: int,
    rng: np.random.Generator,
) -> None:
    base = np.stack([v for _, v, _ in real])
    for start in range(have, target, BATCH):
        n = min(BATCH, target - start)
        positions = np.arange(start, start + n)
        originals = positions % len(real)
        vectors = base[originals]
        padded = positions >= len(real)
        noise = rng.normal(0.0, NOISE_PER_DIMENSION, vectors.shape).astype(np.float32)
        vectors = np.where(padded[:, None], vectors + noise, vectors)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        points = []
        for i, pos in enumerate(positions):
            payload, _, sparse = real[int(originals[i])]
            if pos >= len(real):
                payload = payload | {"source_file": f"padding/{pos // len(real)}/{payload['source_file']}"}
            points.append(StoredChunk(str(uuid.uuid5(PAD, str(pos))), vectors[i].tolist(), sparse, payload))
        store.upsert(points)
        if (start // BATCH) % 25 == 0:
            print(f"  {start + n:,}/{target:,} points", file=sys.stderr, flush=True)


def rss_mb(pid: int) -> tuple[float, float]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def one_client(port: int, qs: list[str], n: int) -> list[float]:
    times = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        for i in range(n + 20):
            t = time.perf_counter()
            r = client.post("/api/v1/query", json={"question": qs[i % len(qs)], "k": 5})
            elapsed = (time.perf_counter() - t) * 1000
            r.raise_for_status()
            if i >= 20:
                times.append(elapsed)
    return times


def recall_at_10(path: Path, embedder: Embedder, qs: list[str]) -> float:
    store = EmbeddedStore(path, embedder.dimensions)
    try:
        tuned = store._params()
        exact = qe.SearchParams(exact=True)
        found = []
        for q in qs[:RECALL_QUESTIONS]:
            v = embedder.embed_one(q).tolist()

            def top(params: qe.SearchParams, vector: list[float] = v) -> set[str]:
                request = qe.QueryRequest(
                    limit=10, query=qe.Query.Nearest(vector, using=DENSE), with_payload=False, params=params
                )
                return {str(p.id) for p in store._shard.query_batch(qe.QueryBatchRequest([request]))[0]}

            truth = top(exact)
            found.append(len(top(tuned) & truth) / max(1, len(truth)))
        return statistics.mean(found)
    finally:
        store.close()


def measure(data_dir: Path, path: Path, embedder: Embedder, qs: list[str], requests: int) -> dict[str, float]:
    started = time.perf_counter()
    EmbeddedStore(path, embedder.dimensions).close()
    open_s = time.perf_counter() - started
    port = 8766
    proc = serve(data_dir, port)
    try:
        times = one_client(port, qs, requests)
        rss, peak = rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=120)
    return {
        "open_s": open_s,
        "p50": statistics.median(times),
        "p95": percentile(times, 0.95),
        "p99": percentile(times, 0.99),
        "rss_mb": rss,
        "peak_mb": peak,
        "recall": recall_at_10(path, embedder, qs),
        "disk_mb": sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1024 / 1024,
    }


def build(
    size: str, real: list[tuple[dict[str, Any], np.ndarray, SparseVec]], embedder: Embedder
) -> tuple[Path, dict[str, float]]:
    """A DATA_DIR holding a collection of `size` chunks (built once, then reused)."""
    data_dir = CACHE / f"scale-{size}"
    marker = data_dir / "built.json"
    path = data_dir / "qdrant" / "textbook_content"
    if marker.exists():
        return data_dir, json.loads(marker.read_text())
    shutil.rmtree(data_dir, ignore_errors=True)
    path.parent.mkdir(parents=True)
    target = max(SIZES[size], len(real)) if size == "10k" else SIZES[size]
    store = EmbeddedStore(path, embedder.dimensions, StoreTuning(on_disk=True))
    store.ensure_collection()
    t = time.perf_counter()
    grow(store, real, 0, target, np.random.default_rng(7))
    write_s = time.perf_counter() - t
    t = time.perf_counter()
    store.optimize()
    optimize_s = time.perf_counter() - t
    built = {"chunks": store.count(), "write_s": write_s, "optimize_s": optimize_s}
    store.close()
    marker.write_text(json.dumps(built))
    print(
        f"{size}: {built['chunks']:,} points, written in {write_s:.0f} s, HNSW in {optimize_s:.0f} s",
        file=sys.stderr,
        flush=True,
    )
    return data_dir, built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10k,100k,1m")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--build-only", action="store_true", help="build the collections (slow; CPU-bound) and stop")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    require_shared()
    embedder = Embedder()
    qs = questions()
    real = real_chunks(embedder)
    tuning = StoreTuning(on_disk=True)
    built = {size: build(size, real, embedder) for size in args.sizes.split(",")}
    if args.build_only:
        return
    rows = [
        "| chunks | /query p50 | p95 | p99 | recall@10 vs exact | server RSS | peak RSS | store opens in | on disk | build (points + HNSW) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for data_dir, b in built.values():
        m = measure(data_dir, data_dir / "qdrant" / "textbook_content", embedder, qs, args.requests)
        rows.append(
            f"| {b['chunks']:,} | {m['p50']:.1f} ms | {m['p95']:.1f} ms | {m['p99']:.1f} ms | {m['recall']:.3f} | {m['rss_mb']:,.0f} MB | {m['peak_mb']:,.0f} MB "
            f"| {m['open_s']:.2f} s | {m['disk_mb']:,.0f} MB | {b['write_s']:.0f} s + {b['optimize_s']:.0f} s |"
        )
        print(rows[-1], flush=True)
        (data_dir / "measured.json").write_text(json.dumps(m | b))
    text = "\n".join(rows)
    print(text)
    if args.write:
        body = (
            f"One uvicorn worker on the embedded store (QDRANT_ON_DISK=true, QDRANT_QUANTIZATION=int8 with rescoring, oversampling {tuning.oversampling}, "
            f"HNSW m={tuning.hnsw_m}, ef_construct={tuning.hnsw_ef_construct}, ef={tuning.hnsw_ef}), caches off, {args.requests} sequential `POST /api/v1/query` "
            f"(k=5) over HTTP with keep-alive. Recall: dense top 10 with these settings against exact search, {RECALL_QUESTIONS} questions. "
            "RSS: the server's resident memory after the run (VmRSS) and its peak (VmHWM). Opens in: `EmbeddedStore(path)` on a closed store, "
            f"page cache warm. The first {len(real):,} chunks are real; the rest are noisy copies of them (see the module docstring).\n\n"
            + text
        )
        write_section(
            "Scale: 10k, 100k and 1M chunks", body, f"python -m bench.scale --sizes {args.sizes} --write", machine()
        )


if __name__ == "__main__":
    main()
