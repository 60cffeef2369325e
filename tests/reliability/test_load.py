"""Load, and faults under load.

A gunicorn server (PostgreSQL, Redis, the embedded vector store) serves a pooled index of the shared
textbook chapters while this process drives /api/v1/query and /api/v1/answer with eight clients.
Sustained load: no errors other than intended 429s, latency percentiles, memory flat from the first
to the last part of the run. Under load, Redis is stopped and restarted, PostgreSQL is cut off and
restored, and the vector store is unreachable: no 500s and no hangs, answers continue or get 503 with
Retry-After, readiness and liveness tell the truth, and every acknowledged answer reaches `messages`.

One worker: the embedded engine is opened by one process only and no Qdrant server can run on this
machine, so the two-worker configuration of the issue is not possible here (recorded as a miss).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from src.db.migrations import run_migrations
from src.db.models import Message
from src.kit.db import create_engine, session_factory, transaction
from src.kit.settings import Settings
from tests.conftest import auth, free_port, make_settings, running_app, shared_path
from tests.helpers_proxy import PrivateRedis, TcpProxy
from tests.kit.test_shutdown import gunicorn_cmd, serve  # noqa: F401 - `serve` is a fixture
from tests.reliability.conftest import FULL, size
from tests.reliability.loadgen import Stats, drive, questions, sample_memory

pytestmark = pytest.mark.slow
CONCURRENCY = 8
MEMORY_GROWTH_BAR = 0.10  # the last part of the run may hold at most 10 % more memory than the first


def chapters() -> list[Path]:
    docs = shared_path("data", "textbooks", "physical-ai", "docs")
    found = sorted(docs.glob("*/index.md"))
    return found if FULL else found[:3]


async def index_book(base_url: str) -> int:
    total = 0
    async with httpx.AsyncClient(base_url=base_url, timeout=300) as http:
        for path in chapters():
            source = f"docs/{path.parent.name}/index.md"
            body = {
                "content": path.read_text(),
                "metadata": {"source_file": source, "url": f"https://book.example/{path.parent.name}"},
            }
            r = await http.post("/api/v1/index", json=body, headers=auth())
            assert r.status_code == 200, r.text
            total += r.json()["indexed_chunks"]
    return total


def server_settings(tmp_path: Path, **overrides: Any) -> Any:
    limits = {
        "rate_limit_requests_per_minute": 0,
        "rate_limit_tokens_per_minute": 0,
        "rate_limit_concurrent_requests": 0,
    }
    # The battery measures the production bound on a Redis call, not the test suite's patient one.
    production = {"redis_timeout_seconds": Settings.model_fields["redis_timeout_seconds"].default}
    return make_settings(tmp_path, **{**limits, **production, **overrides})


@pytest.fixture
def pg_migrated(pg_url: str) -> Iterator[str]:
    run_migrations(make_settings(Path("/tmp"), database_url=pg_url).sqlalchemy_url)
    yield pg_url


@pytest.mark.timeout(1200)
async def test_sustained_load(serve: Any, tmp_path: Path, pg_migrated: str, redis_url: str, record: Any) -> None:
    seconds = size(20, 300)
    server = serve(
        server_settings(tmp_path, database_url=pg_migrated, redis_url=redis_url), cmd=gunicorn_cmd(tmp_path, "-w", "1")
    )
    chunks = await index_book(server.url)
    qs = questions()
    memory: list[tuple[float, float]] = []
    stats, _ = await asyncio.gather(
        drive(server.url, seconds, CONCURRENCY, qs), sample_memory(server.proc.pid, seconds, 2.0, memory)
    )
    errors = {s: n for s, n in stats.statuses.items() if s not in (200, 429)}
    window = seconds / 5  # first and last fifth: minute 1 and minute 5 of the full run
    first = [rss for t, rss in memory if t < window and t >= min(10.0, window / 2)]
    last = [rss for t, rss in memory if t >= seconds - window]
    growth = (sum(last) / len(last)) / (sum(first) / len(first)) - 1 if first and last else 0.0
    rate = stats.requests / seconds
    record("collection", f"{chunks} chunks ({len(chapters())} chapters)", "the shared textbook", True)
    record(
        "workers",
        "1 gunicorn worker",
        "2 workers",
        False,
        "the embedded engine serves one process; no Qdrant server can run here",
    )
    record(
        f"requests in {seconds} s, {CONCURRENCY} clients",
        f"{stats.requests} ({rate:.0f} req/s)",
        "highest sustainable rate",
        True,
    )
    record(
        "errors other than 429",
        f"{sum(errors.values())} {dict(errors) or ''} + {sum(stats.failures.values())} failed",
        "0",
        not errors and not stats.failures,
    )
    record(
        "latency p50 / p95 / p99",
        f"{stats.percentile(0.5):.0f} / {stats.percentile(0.95):.0f} / {stats.percentile(0.99):.0f} ms",
        "recorded",
        True,
    )
    record(
        "memory, last fifth vs first fifth",
        f"{growth * 100:+.1f} % ({memory[-1][1]:.0f} MiB at the end)",
        f"≤ {MEMORY_GROWTH_BAR * 100:.0f} %",
        growth <= MEMORY_GROWTH_BAR,
    )
    assert not errors and not stats.failures, (stats.statuses, stats.failures)
    assert growth <= MEMORY_GROWTH_BAR, memory


async def poll(check: Any, timeout: float, interval: float = 0.1) -> float | None:
    """Seconds until `check()` is true, or None after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if await check():
            return time.monotonic() - started
        await asyncio.sleep(interval)
    return None


@pytest.mark.timeout(600)
async def test_redis_stopped_and_restarted_under_load(serve: Any, tmp_path: Path, record: Any) -> None:
    phase = size(6, 30)
    redis = PrivateRedis(free_port(), tmp_path / "redis")
    redis.start()
    try:
        server = serve(server_settings(tmp_path, redis_url=redis.url), cmd=gunicorn_cmd(tmp_path, "-w", "1"))
        await index_book(server.url)
        stats = Stats()
        load = asyncio.create_task(drive(server.url, phase * 3, CONCURRENCY, questions(), stats))
        await asyncio.sleep(phase)
        redis.stop()
        await asyncio.sleep(phase)
        redis.start()
        restarted = time.monotonic()

        async def used_again() -> bool:
            import redis as redis_client

            client = redis_client.Redis.from_url(redis.url, socket_timeout=1)
            try:
                return bool(client.keys("rag:*"))
            finally:
                client.close()

        back_after = await poll(used_again, 10)
        await load
        outage = stats.between(phase, 2 * phase)
    finally:
        redis.stop()
    server_errors = sum(n for s, n in stats.statuses.items() if s >= 500)
    record("requests (before, during, after the outage)", stats.requests, "bounded", True)
    record("5xx responses", server_errors, "0", server_errors == 0)
    record("answers and queries answered 200 while Redis was down", outage.get(200, 0), "> 0", outage.get(200, 0) > 0)
    record("failed requests (timeouts, resets)", sum(stats.failures.values()), "0", not stats.failures)
    seconds = f"{back_after:.1f} s" if back_after is not None else "not within 10 s"
    record("Redis used again after it returned", seconds, "≤ 5 s", back_after is not None and back_after <= 5)
    assert server_errors == 0 and not stats.failures, (stats.statuses, stats.failures)
    assert outage.get(200, 0) > 0
    assert back_after is not None and back_after <= 5, (
        f"Redis not used again {time.monotonic() - restarted:.1f} s after it returned"
    )


@pytest.mark.timeout(600)
async def test_postgres_cut_off_and_restored_under_load(
    serve: Any, tmp_path: Path, pg_migrated: str, record: Any
) -> None:
    phase = size(6, 30)
    url = httpx.URL(pg_migrated.replace("postgresql://", "http://"))
    proxy = TcpProxy(url.host, url.port or 5432)
    await proxy.start()
    proxied = pg_migrated.replace(f"{url.host}:{url.port or 5432}", f"127.0.0.1:{proxy.port}")
    try:
        # Started from a thread: the proxy runs on this event loop and must forward while the server boots.
        server = await asyncio.to_thread(
            serve, server_settings(tmp_path, database_url=proxied), cmd=gunicorn_cmd(tmp_path, "-w", "1")
        )
        await index_book(server.url)
        stats = Stats()
        load = asyncio.create_task(drive(server.url, phase * 3, CONCURRENCY, questions(), stats))
        await asyncio.sleep(phase)
        await proxy.cut()
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:

            async def readiness_fails() -> bool:
                return (await http.get("/api/v1/health/ready")).status_code == 503

            noticed = await poll(readiness_fails, phase)
            liveness = (await http.get("/health")).status_code
        await asyncio.sleep(max(0.0, phase - (noticed or phase)))
        await proxy.restore()
        await load
        # Checked while the proxy still forwards: the buffered turns reach the database through it.
        missing, flushed = await unstored_answers(tmp_path, pg_migrated, stats.answer_ids)
    finally:
        await proxy.close()
    outage = stats.between(phase, 2 * phase)
    bad = {s: n for s, n in stats.statuses.items() if s not in (200, 503)}
    record("responses other than 200 or 503", sum(bad.values()), "0", not bad)
    record("503 without a numeric Retry-After", stats.missing_retry_after, "0", stats.missing_retry_after == 0)
    record("failed requests (hangs, resets)", sum(stats.failures.values()), "0", not stats.failures)
    record(
        "answers during the cut (200 / 503)",
        f"{outage.get(200, 0)} / {outage.get(503, 0)}",
        "answers continue or 503",
        True,
    )
    when = f"after {noticed:.1f} s" if noticed is not None else "never"
    record(
        "readiness 503 during the cut; liveness",
        f"{when}; {liveness}",
        "503; 200",
        noticed is not None and liveness == 200,
    )
    record(
        "acknowledged answers missing from `messages` afterwards",
        f"{len(missing)} of {len(stats.answer_ids)}",
        "0",
        not missing,
    )
    assert not bad and not stats.failures and stats.missing_retry_after == 0, (stats.statuses, stats.failures)
    assert noticed is not None and liveness == 200
    assert not missing and flushed is not None, f"{len(missing)} acknowledged answers never reached the database"


async def unstored_answers(
    tmp_path: Path, database_url: str, answer_ids: list[str], wait: float = 60
) -> tuple[set[str], float | None]:
    """The acknowledged answers not (yet) in `messages`, after waiting up to `wait` seconds for the
    service's buffer to flush, and how long the flush took."""
    engine = create_engine(make_settings(tmp_path, database_url=database_url))
    db = session_factory(engine)

    async def stored() -> set[str]:
        async with transaction(db) as session:
            return set((await session.scalars(select(Message.id).where(Message.id.in_(answer_ids)))).all())

    async def complete() -> bool:
        return len(await stored()) == len(set(answer_ids))

    try:
        flushed = await poll(complete, wait, 0.5)
        return set(answer_ids) - await stored(), flushed
    finally:
        await engine.dispose()


async def test_vector_store_unreachable(tmp_path: Path, record: Any) -> None:
    """A Qdrant URL nobody answers on: queries and answers get 503 with Retry-After, readiness 503,
    liveness 200. Recovery without a restart needs a Qdrant server to come back, and none can run here."""
    settings = server_settings(tmp_path, qdrant_url=f"http://127.0.0.1:{free_port()}", qdrant_timeout_seconds=1.0)
    async with running_app(settings) as (_, client):
        statuses: Counter[int] = Counter()
        retry_after = 0
        for n in range(size(5, 50)):
            path = "/api/v1/answer" if n % 2 else "/api/v1/query"
            r = await client.post(path, json={"question": f"What is the Zero Moment Point? ({n})"})
            statuses[r.status_code] += 1
            retry_after += r.headers.get("Retry-After", "").isdigit()
        ready = (await client.get("/api/v1/health/ready")).status_code
        live = (await client.get("/health")).status_code
    record("query/answer responses with the store unreachable", dict(statuses), "all 503", set(statuses) == {503})
    record("of them with a numeric Retry-After", retry_after, "all", retry_after == sum(statuses.values()))
    record("readiness; liveness", f"{ready}; {live}", "503; 200", (ready, live) == (503, 200))
    record(
        "recovery without restart",
        "not measured",
        "recovers",
        False,
        "no Qdrant server can run on this machine to come back",
    )
    assert set(statuses) == {503} and retry_after == sum(statuses.values()), statuses
    assert (ready, live) == (503, 200)
