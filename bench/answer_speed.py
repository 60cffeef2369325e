"""/api/v1/answer and /api/v1/answer/stream over real HTTP at about 10k chunks, extractive provider:
one client, sequential requests, caches off (every request embeds, searches and composes).
Reports /answer p50/p95/p99 and, for the stream, the time to the first event and to `done`.

    .venv/bin/python -m bench.answer_speed [--requests 500] [--write]

Uses the 10k collection of bench.common (the pooled benchmark corpus), as bench.query_speed does.
"""

from __future__ import annotations

import argparse
import time

import httpx

from bench.common import collection, percentile, questions, serve
from bench.corpus import require_shared
from bench.report import machine, write_section
from src.retrieval.embedder import Embedder


def answers(client: httpx.Client, qs: list[str], n: int) -> list[float]:
    latencies = []
    for i in range(n):
        t = time.perf_counter()
        r = client.post("/api/v1/answer", json={"question": qs[i % len(qs)], "k": 5})
        latencies.append((time.perf_counter() - t) * 1000)
        if r.status_code != 200:
            raise SystemExit(f"answer failed: {r.status_code} {r.text[:200]}")
    return latencies


def streams(client: httpx.Client, qs: list[str], n: int) -> tuple[list[float], list[float]]:
    first, done = [], []
    for i in range(n):
        t = time.perf_counter()
        with client.stream("POST", "/api/v1/answer/stream", json={"question": qs[i % len(qs)], "k": 5}) as r:
            if r.status_code != 200:
                raise SystemExit(f"stream failed: {r.status_code}")
            got_first = False
            body = ""
            for chunk in r.iter_text():
                if not got_first and chunk:
                    first.append((time.perf_counter() - t) * 1000)
                    got_first = True
                body += chunk
            done.append((time.perf_counter() - t) * 1000)
            if "event: done" not in body:
                raise SystemExit("a stream ended without its done event")
    return first, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    require_shared()
    data_dir = collection("10k", Embedder())
    qs = questions()
    port = 8766
    proc = serve(data_dir, port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            answers(client, qs[-20:], 20)  # warm up
            plain = answers(client, qs, args.requests)
            first, done = streams(client, qs, args.requests)
    finally:
        proc.terminate()
        proc.wait(timeout=60)

    def row(name: str, values: list[float], target: str) -> str:
        return f"| {name} | {percentile(values, 0.5):.1f} ms | {percentile(values, 0.95):.1f} ms | {percentile(values, 0.99):.1f} ms | {target} |"

    text = "\n".join(
        [
            "| measure | p50 | p95 | p99 | target (issue 4) |",
            "|---|---|---|---|---|",
            row("`/answer`", plain, "p50 ≤ 25 ms, p95 ≤ 50 ms"),
            row("`/answer/stream`: first event", first, "≤ 50 ms"),
            row("`/answer/stream`: whole stream", done, "—"),
        ]
    )
    print(text)
    if args.write:
        body = (
            f"Extractive provider, one uvicorn worker on the embedded store with the pooled collection (about 10k chunks), caches off, "
            f"one client sending {args.requests} sequential requests per measure (questions of the three question sets in turn, k = 5).\n\n"
            + text
        )
        write_section(
            "Answer speed", body, f"python -m bench.answer_speed --requests {args.requests} --write", machine()
        )


if __name__ == "__main__":
    main()
