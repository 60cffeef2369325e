"""What the benchmark scripts share besides the corpus (bench/corpus.py) and the report (bench/report.py):
the question sets, the speed collections (about 10k chunks: the pooled corpus; 100k: plus passages of
the Python and PostgreSQL manuals, see bench/query_speed.py), the service as a real process on a
loopback port, and percentiles.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.corpus import CACHE, QA, REPO, Doc, plan, pooled_store, stored_points
from src.ingestion.files import discover
from src.ingestion.schemas import IndexMetadata
from src.ingestion.service import IndexingService
from src.kit.settings import Settings
from src.retrieval.embedder import Embedder
from src.retrieval.sparse import SparseEncoder
from src.retrieval.store.base import StoredChunk
from src.retrieval.store.embedded import EmbeddedStore


@dataclass(frozen=True)
class Question:
    text: str
    gold: set[str]  # gold source files
    gold_heading: str | None = None


def physical_ai() -> list[Question]:
    out = []
    for line in (QA / "physical-ai" / "queries.jsonl").read_text().splitlines():
        row = json.loads(line)
        gold = row["gold_file"].removeprefix("website/")
        out.append(Question(row["text"], {f"physical-ai/{gold}"}))
    return out


def rust_quizzes() -> list[Question]:
    out = []
    for line in (QA / "rust-quizzes" / "quizzes.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["rag_suitable"]:
            out.append(
                Question(row["question"], {f"rust-book/{row['gold_source_file']}"}, row.get("gold_nearest_heading"))
            )
    return out


def squad() -> list[Question]:
    gold: dict[str, set[str]] = {}
    for line in (QA / "squad-v2-subset" / "qrels.tsv").read_text().splitlines()[1:]:
        qid, pid, _ = line.split("\t")
        gold.setdefault(qid, set()).add(f"squad/{pid}")
    out = []
    for line in (QA / "squad-v2-subset" / "queries.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["answerable"] and row["_id"] in gold:
            out.append(Question(row["text"], gold[row["_id"]]))
    return out


SETS: dict[str, Callable[[], list[Question]]] = {
    "physical-ai": physical_ai,
    "rust-quizzes": rust_quizzes,
    "squad-answerable": squad,
}


PADDING_ROOTS = [Path("/usr/share/doc/python3.11/html"), Path("/usr/share/doc/postgresql-doc-15/html")]


def questions() -> list[str]:
    return [q.text for loader in SETS.values() for q in loader()]


def padding_docs() -> list[Doc]:
    docs = []
    for root in PADDING_ROOTS:
        if not root.exists():
            sys.exit(f"{root} is missing: apt-get install python3.11-doc postgresql-doc-15")
        for path in sorted(discover(root)):
            if path.suffix == ".html" and "_sources" not in path.parts:
                meta = IndexMetadata(
                    source_file=f"padding/{root.parent.name}/{path.relative_to(root).as_posix()}", document_type="html"
                )
                docs.append(Doc(path.read_text(encoding="utf-8", errors="replace"), meta))
    return docs


def collection(size: str, embedder: Embedder) -> Path:
    """A DATA_DIR holding a collection of the given size (built once, then reused): the pooled
    benchmark collection, plus padding passages for 100k."""
    data_dir = CACHE / f"speed-{size}"
    marker = data_dir / "built.json"
    if marker.exists():
        return data_dir
    shutil.rmtree(data_dir, ignore_errors=True)
    store_dir = data_dir / "qdrant" / "textbook_content"
    store_dir.parent.mkdir(parents=True)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    pooled, _ = pooled_store(embedder, settings)
    points = stored_points(pooled)
    pooled.close()
    # The service's default storage settings (store/tuning.py), whatever the cached collection was made with.
    store = EmbeddedStore(store_dir, embedder.dimensions)
    store.ensure_collection()
    for start in range(0, len(points), 2000):
        store.upsert(points[start : start + 2000])
    store.optimize()
    if size == "100k":
        padding_settings = Settings(_env_file=None, chunk_max_tokens=64, chunk_overlap_tokens=0)  # type: ignore[call-arg]
        sparse = SparseEncoder()
        service = IndexingService(padding_settings, embedder, sparse, None, None, None)  # type: ignore[arg-type]
        target = 100_000 - store.count()
        planned = plan(service, padding_docs())[:target]
        for start in range(0, len(planned), 1024):
            part = planned[start : start + 1024]
            vectors = embedder.embed([t for *_, t in part], 64)
            store.upsert(
                [StoredChunk(cid, vectors[i].tolist(), sparse.document(t), p) for i, (cid, p, t) in enumerate(part)]
            )
            print(f"  padding {start + len(part)}/{len(planned)}", file=sys.stderr, flush=True)
        store.optimize()
    count = store.count()
    store.close()
    marker.write_text(json.dumps({"chunks": count}))
    return data_dir


BENCH_KEY = "bench-key-0123456789abcdef0123456789abcdef"


def serve(data_dir: Path, port: int, extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEON_", "DATABASE_URL", "QDRANT_", "REDIS_"))}
    env |= {
        "DATA_DIR": str(data_dir),
        "LOG_DIR": str(data_dir / "logs"),
        "LOG_LEVEL": "WARNING",
        "HF_HUB_OFFLINE": "1",
        "INDEXING_API_KEY": BENCH_KEY,
        "RATE_LIMIT_REQUESTS_PER_MINUTE": "0",
        "RATE_LIMIT_TOKENS_PER_MINUTE": "0",
        "RATE_LIMIT_CONCURRENT_REQUESTS": "0",
        "CACHE_QUERY_TTL_SECONDS": "0",
        "CACHE_EMBEDDING_TTL_SECONDS": "0",
        "CACHE_ANSWER_TTL_SECONDS": "0",
    } | (extra_env or {})
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "src.api.main:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--no-proxy-headers",
    ]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health/ready", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    sys.exit("server did not become ready")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]
