"""The author's reports at scale: 100,000 recorded turns in PostgreSQL (a realistic mix: book questions
mostly answered, some refused, selections, small talk and errands, thumbs up and down, latencies, 40
chapters, 30 days), then each report over HTTP from a real server, timed.

    .venv/bin/python -m bench.analytics [--turns 100000] [--write]

The turns' questions are real ones (the shared question sets), embedded once with the service's
model; the 100,000 rows reuse those embeddings with a little noise (embedding 100k questions would
take about ten minutes and measure nothing the reports do). The nearest sections come from the 10k
collection of bench.common.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import numpy as np

from bench.common import BENCH_KEY, collection, questions, serve
from bench.corpus import CACHE, QA, require_shared
from bench.report import machine, write_section
from src.db.migrations import run_migrations
from src.retrieval.embedder import Embedder

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PORT = 8796
REPEATS = 5
ROUTES = [("book", 0.80), ("selection", 0.05), ("smalltalk", 0.10), ("out_of_scope", 0.05)]


def question_bank(embedder: Embedder) -> tuple[list[str], np.ndarray]:
    texts = list(
        dict.fromkeys(
            questions()
            + [
                json.loads(line)["question"]
                for line in (QA / "student-flows" / "offbook.jsonl").read_text().splitlines()
            ]
        )
    )
    cached = CACHE / f"analytics-bank-{len(texts)}.npy"
    if cached.exists():
        return texts, np.load(cached)
    vectors = embedder.embed(texts, 64)
    cached.parent.mkdir(parents=True, exist_ok=True)
    np.save(cached, vectors)
    return texts, vectors


def turns(
    n: int, texts: list[str], vectors: np.ndarray, rng: random.Random
) -> tuple[list[tuple], list[tuple], list[tuple]]:
    now = datetime.now(UTC)
    chapters = [
        f"Chapter {i}: {name}"
        for i, name in enumerate(
            [
                "Introduction",
                "Humanoid Robotics",
                "ROS 2",
                "Digital Twins",
                "VLA Models",
                "Capstone",
                "Gazebo",
                "Modeling",
                "Isaac Sim",
                "Agents",
                "Control",
                "Perception",
                "Use Cases",
                "RAG",
                "Cloud",
            ],
            1,
        )
    ]
    chapters += [
        f"Rust: {name}"
        for name in (
            "Ownership",
            "References",
            "Slices",
            "Structs",
            "Enums",
            "Collections",
            "Errors",
            "Generics",
            "Traits",
            "Lifetimes",
            "Closures",
            "Iterators",
            "Smart Pointers",
            "Threads",
            "Async",
            "Patterns",
            "Unsafe",
            "Macros",
            "Testing",
            "Cargo",
            "Modules",
            "Strings",
            "Vectors",
            "Hash Maps",
            "Web Server",
        )
    ]
    sessions = [uuid.uuid4().hex for _ in range(max(1, n // 4))]
    session_rows = {s: (s, now - timedelta(days=30), now) for s in sessions}
    noise = np.random.default_rng(7)
    messages, feedback = [], []
    route_names, route_weights = zip(*ROUTES, strict=True)
    for _ in range(n):
        i = rng.randrange(len(texts))
        route = rng.choices(route_names, route_weights)[0]
        refused = route == "out_of_scope" or (route in ("book", "selection") and rng.random() < 0.15)
        vector = None
        if route in ("book", "selection"):
            v = vectors[i] + noise.normal(0, 0.02, vectors.shape[1])
            vector = (v / np.linalg.norm(v)).astype(np.float16).tobytes()
        created = now - timedelta(seconds=rng.uniform(0, 30 * 86400))
        roll = rng.random()
        rating = ("up" if roll < 0.08 else "down") if route in ("book", "selection") and roll < 0.12 else None
        chapter = rng.choice(chapters) if route in ("book", "selection") else None
        mid = uuid.uuid4().hex
        latency = rng.lognormvariate(3.2, 0.5) if rng.random() > 0.05 else rng.uniform(1500, 2000)
        messages.append(
            (
                mid,
                rng.choice(sessions),
                texts[i],
                "An answer quoted from the book. [1]",
                json.dumps([{"id": 1, "chunk_id": "c", "source_file": "book.md", "quote": "x"}]),
                "extractive",
                latency,
                12,
                40,
                refused,
                rng.uniform(0.2, 0.9),
                created,
                None,
                rng.choice(["/docs/intro", "/docs/humanoid", None]),
                route,
                "selection_only" if route == "selection" else None,
                latency > 1500,
                "book.md" if chapter else None,
                chapter,
                "A section" if chapter else None,
                f"https://book.example/{chapters.index(chapter)}/#a-section" if chapter else None,
                vector,
                rating,
            )
        )
        if rating:
            feedback.append(
                (
                    mid,
                    rating,
                    "It missed the point." if rating == "down" and rng.random() < 0.5 else None,
                    created + timedelta(minutes=1),
                )
            )
    return list(session_rows.values()), messages, feedback


async def load(url: str, n: int) -> None:
    texts, vectors = question_bank(Embedder())
    sessions, messages, feedback = turns(n, texts, vectors, random.Random(42))
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        await conn.copy_records_to_table(
            "user_sessions", records=sessions, columns=["id", "created_at", "last_active_at"]
        )
        columns = [
            "id", "session_id", "question", "answer", "citations", "provider", "latency_ms", "prompt_tokens", "completion_tokens", "refused", "confidence",
            "created_at", "standalone_question", "page", "route", "selection_mode", "degraded", "top_source_file", "top_chapter", "top_section", "top_url", "question_vector", "rating",
        ]  # fmt: skip
        await conn.copy_records_to_table("messages", records=messages, columns=columns)
        await conn.copy_records_to_table(
            "feedback", records=feedback, columns=["message_id", "rating", "comment", "created_at"]
        )
        await conn.execute("VACUUM ANALYZE")  # as autovacuum leaves a table that has settled
    finally:
        await conn.close()


def time_reports(base: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {BENCH_KEY}"}, timeout=120) as client:
        for name in ("summary", "chapters", "gaps", "feedback"):
            client.get(f"/api/v1/analytics/{name}").raise_for_status()  # warm
            times = []
            for _ in range(REPEATS):
                t = time.perf_counter()
                r = client.get(f"/api/v1/analytics/{name}")
                times.append((time.perf_counter() - t) * 1000)
                r.raise_for_status()
            out[name] = times
        out["unanswered"] = [float(client.get("/api/v1/analytics/gaps").json()["unanswered"])]
    return out


async def main_async(n: int, write: bool) -> None:
    name = f"bench_analytics_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    try:
        await asyncio.to_thread(run_migrations, url)
        started = time.perf_counter()
        await load(url, n)
        loaded = time.perf_counter() - started
        data_dir = collection("10k", Embedder())
        proc = serve(data_dir, PORT, {"DATABASE_URL": url})
        try:
            timings = await asyncio.to_thread(time_reports, f"http://127.0.0.1:{PORT}")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    finally:
        admin = await asyncpg.connect(PG_ADMIN)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    targets = {
        "summary": "≤ 200 ms",
        "chapters": "≤ 200 ms",
        "gaps": f"≤ 2 s (clustering {timings['unanswered'][0]:.0f} unanswered)",
        "feedback": "report",
    }
    rows = ["| report (over HTTP, default 30-day window) | median / max of 5 | target |", "|---|---|---|"]
    for report, target in targets.items():
        rows.append(
            f"| `GET /api/v1/analytics/{report}` | {statistics.median(timings[report]):.0f} / {max(timings[report]):.0f} ms | {target} |"
        )
    text = "\n".join(rows)
    print(text)
    if write:
        body = (
            f"{n:,} turns in PostgreSQL 15 (loaded in {loaded:.0f} s with COPY), read by a real server (uvicorn, one worker) over HTTP.\n\n"
            + text
        )
        write_section("Analytics reports", body, f"python -m bench.analytics --turns {n} --write", machine())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=100_000)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    require_shared()
    asyncio.run(main_async(args.turns, args.write))


if __name__ == "__main__":
    main()
