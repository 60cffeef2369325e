"""/api/v1/query over real HTTP at about 10k and 100k chunks: one client (p50/p95) and 8 concurrent
clients (wrk: requests/s, errors), plus query embedding in process.

    apt-get install wrk python3.11-doc postgresql-doc-15   # load generator and the padding text
    .venv/bin/python -m bench.query_speed [--sizes 10k,100k] [--write]

The 10k collection is the pooled benchmark corpus. The 100k one adds passages from the Python and
PostgreSQL manuals (Debian's python3.11-doc and postgresql-doc-15), chunked at 64 word pieces to
keep the build short: search cost depends on the number of vectors, not on their text's length.
Caches are off (TTL 0) so every request embeds and searches.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import collection, percentile, questions, serve
from bench.corpus import require_shared
from bench.report import machine, write_section
from src.retrieval.embedder import Embedder

WRK_SCRIPT = """
local questions = {}
for line in io.lines(os.getenv("QUESTIONS")) do questions[#questions + 1] = line end
local i = 0
request = function()
  i = i % #questions + 1
  return wrk.format("POST", "/api/v1/query", {["Content-Type"] = "application/json"}, questions[i])
end
"""


def one_client(port: int, qs: list[str], n: int) -> dict[str, float]:
    latencies = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        for q in qs[:20]:
            client.post("/api/v1/query", json={"question": q, "k": 5})
        for i in range(n):
            t = time.perf_counter()
            r = client.post("/api/v1/query", json={"question": qs[i % len(qs)], "k": 5})
            latencies.append((time.perf_counter() - t) * 1000)
            if r.status_code != 200:
                sys.exit(f"query failed: {r.status_code} {r.text[:200]}")
    return {
        "p50_ms": percentile(latencies, 0.5),
        "p95_ms": percentile(latencies, 0.95),
        "p99_ms": percentile(latencies, 0.99),
    }


def eight_clients(port: int, qs: list[str], seconds: int) -> dict[str, float]:
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install wrk")
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "query.lua"
        script.write_text(WRK_SCRIPT)
        qfile = Path(tmp) / "questions.jsonl"
        qfile.write_text("\n".join(json.dumps({"question": q, "k": 5}) for q in qs) + "\n")
        out = subprocess.run(
            ["wrk", "-t2", "-c8", f"-d{seconds}s", "--latency", "-s", str(script), f"http://127.0.0.1:{port}"],
            env=os.environ | {"QUESTIONS": str(qfile)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    rps = float(next(line for line in out.splitlines() if line.startswith("Requests/sec")).split()[1])
    errors = 0
    for line in out.splitlines():
        if "Non-2xx" in line or "Socket errors" in line:
            errors += sum(int(x) for x in line.replace(",", " ").split() if x.isdigit())
    p50 = next(line.split()[1] for line in out.splitlines() if line.strip().startswith("50%"))
    p99 = next(line.split()[1] for line in out.splitlines() if line.strip().startswith("99%"))
    return {"rps": rps, "errors": errors, "p50": p50, "p99": p99}  # type: ignore[dict-item]


def model_calls_per_question(port: int) -> str:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    values = {}
    for line in text.splitlines():
        if line.startswith("rag_query_embeddings_total{"):
            kind = line.split('kind="', 1)[1].split('"', 1)[0]
            values[kind] = float(line.rsplit(" ", 1)[1])
    return f"{values['call'] / values['question']:.2f}" if values.get("question") else "-"


def embedding_p50(embedder: Embedder, qs: list[str]) -> float:
    for q in qs[:20]:
        embedder.embed_one(q)
    times = []
    for q in qs[:500]:
        t = time.perf_counter()
        embedder.embed_one(q)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10k,100k")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--windows", default="0,1", help="QUERY_BATCH_WINDOW_MS values to compare (0: off)")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    require_shared()
    embedder = Embedder()
    qs = questions()
    rows = [
        f"Query embedding in process (one thread pool, {len(qs[:500])} questions): p50 {embedding_p50(embedder, qs):.2f} ms",
        "",
    ]
    rows += [
        "| chunks | micro-batching | 1 client p50 | p95 | p99 | 8 clients req/s | errors | 8 clients p50 | p99 | model calls per question |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size in args.sizes.split(","):
        data_dir = collection(size, embedder)
        chunks = json.loads((data_dir / "built.json").read_text())["chunks"]
        for window in args.windows.split(","):
            port = 8765
            proc = serve(data_dir, port, {"QUERY_BATCH_WINDOW_MS": window})
            try:
                single = one_client(port, qs, args.requests)
                multi = eight_clients(port, qs, args.seconds)
                calls = model_calls_per_question(port)
            finally:
                proc.terminate()
                proc.wait(timeout=60)
            label = "off" if float(window) == 0 else f"{window} ms"
            rows.append(
                f"| {chunks:,} | {label} | {single['p50_ms']:.1f} ms | {single['p95_ms']:.1f} ms | {single['p99_ms']:.1f} ms | {multi['rps']:.0f} | {multi['errors']} "
                f"| {multi['p50']} | {multi['p99']} | {calls} |"
            )
            print(rows[-1], flush=True)
    text = "\n".join(rows)
    print(text)
    if args.write:
        body = (
            "`POST /api/v1/query` (k=5) over HTTP to one uvicorn worker on the embedded store, caches off, questions from the three question sets in turn. "
            "One client: sequential requests with httpx. Eight clients: wrk, 2 threads, 8 connections. "
            "Micro-batching: QUERY_BATCH_WINDOW_MS (off, or the window); model calls per question over the whole run, from the service's metrics.\n\n"
            + text
        )
        write_section(
            "Query speed",
            body,
            f"python -m bench.query_speed --sizes {args.sizes} --windows {args.windows} --write",
            machine(),
        )


if __name__ == "__main__":
    main()
