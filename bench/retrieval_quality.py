"""Retrieval quality on the pooled corpus: recall@1/5/10, MRR@10 and nDCG@10 per question set,
for BM25 alone, dense alone and the fusions the service can use.

    .venv/bin/python -m bench.retrieval_quality [--write]

A hit is a retrieved chunk from the gold source (gold file for the books, gold paragraph for
SQuAD); the ranked list is the k chunks the service would return. `--write` records the figures
in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable

from bench.common import SETS, Question
from bench.corpus import pooled_store, require_shared
from bench.report import machine, write_section
from src.kit.settings import Settings
from src.retrieval.embedder import Embedder
from src.retrieval.fusion import fuse
from src.retrieval.ranking import Ranker
from src.retrieval.service import CANDIDATES_PER_LIST
from src.retrieval.sparse import SparseEncoder
from src.retrieval.store.base import Hit, SearchFilter

CANDIDATES = CANDIDATES_PER_LIST  # per list, as the service asks


def metrics(ranked_sources: list[list[str]], questions: list[Question]) -> dict[str, float]:
    n = len(questions)
    out: dict[str, float] = {}
    for k in (1, 5, 10):
        out[f"recall@{k}"] = (
            sum(any(s in q.gold for s in r[:k]) for r, q in zip(ranked_sources, questions, strict=True)) / n
        )
    mrr = ndcg = 0.0
    for r, q in zip(ranked_sources, questions, strict=True):
        first = next((i for i, s in enumerate(r[:10]) if s in q.gold), None)
        if first is not None:
            mrr += 1 / (first + 1)
        dcg = sum(1 / math.log2(i + 2) for i, s in enumerate(r[:10]) if s in q.gold)
        ideal = sum(1 / math.log2(i + 2) for i in range(min(10, sum(1 for s in r[:10] if s in q.gold) or 1)))
        ndcg += dcg / ideal
    out["mrr@10"] = mrr / n
    out["ndcg@10"] = ndcg / n
    return out


def evaluate(
    store, embedder: Embedder, sparse: SparseEncoder, ranker: Ranker
) -> tuple[dict[str, dict[str, dict[str, float]]], dict[str, float]]:
    methods: dict[str, Callable[[list[Hit], list[Hit], str], list[str]]] = {
        "bm25": lambda d, s, q: [h.payload["source_file"] for h in s[:10]],
        "dense": lambda d, s, q: [h.payload["source_file"] for h in d[:10]],
        "hybrid RRF (k=60)": lambda d, s, q: [f.passage.source_file for f in fuse(d, s, "rrf")[:10]],
        "hybrid weighted": lambda d, s, q: [
            f.passage.source_file for f in fuse(d, s, "weighted", ranker.bm25_weight)[:10]
        ],
        "hybrid (service: weighted, ≤2 chunks per file)": lambda d, s, q: [
            f.passage.source_file for f in ranker.rank(q, d, s, 10)
        ],
    }
    results: dict[str, dict[str, dict[str, float]]] = {}
    search_ms: list[float] = []
    for set_name, loader in SETS.items():
        questions = loader()
        ranked: dict[str, list[list[str]]] = {m: [] for m in methods}
        for q in questions:
            t = time.perf_counter()
            dense, sparse_hits = store.search(
                embedder.embed_one(q.text).tolist(), sparse.query(q.text), CANDIDATES, SearchFilter(), ["source_file"]
            )
            search_ms.append((time.perf_counter() - t) * 1000)
            for m, fn in methods.items():
                ranked[m].append(fn(dense, sparse_hits, q.text))
        results[set_name] = {m: metrics(r, questions) | {"questions": len(questions)} for m, r in ranked.items()}
    search_ms.sort()
    return results, {"p50_ms": search_ms[len(search_ms) // 2], "p95_ms": search_ms[int(len(search_ms) * 0.95)]}


def table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    lines = ["| set | method | recall@1 | recall@5 | recall@10 | MRR@10 | nDCG@10 |", "|---|---|---|---|---|---|---|"]
    for set_name, by_method in results.items():
        for method, m in by_method.items():
            lines.append(
                f"| {set_name} ({int(m['questions'])} q) | {method} | {m['recall@1']:.3f} | {m['recall@5']:.3f} | {m['recall@10']:.3f} | {m['mrr@10']:.3f} | {m['ndcg@10']:.3f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="record the figures in docs/BENCHMARKS.md")
    args = parser.parse_args()
    require_shared()
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    embedder = Embedder(settings.embedding_threads, settings.embedding_quantization)
    store, stats = pooled_store(embedder, settings)
    try:
        results, timing = evaluate(store, embedder, SparseEncoder(), Ranker())
    finally:
        store.close()
    text = table(results)
    print(text)
    print(
        f"pooled collection: {int(stats['chunks'])} chunks; embed+search per question p50 {timing['p50_ms']:.1f} ms",
        file=sys.stderr,
    )
    if args.write:
        body = (
            f"Pooled collection: the four textbooks and the SQuAD paragraphs, {int(stats['chunks'])} chunks, one embedded Qdrant shard. "
            "A hit is a retrieved chunk from the gold file (books) or gold paragraph (SQuAD) among the first k chunks returned.\n\n"
            + text
        )
        write_section("Retrieval quality", body, "python -m bench.retrieval_quality --write", machine())


if __name__ == "__main__":
    main()
