"""`rag_ready` under gunicorn with two workers, with no readiness probe at all: each worker evaluates its own
readiness at start and then every READINESS_CHECK_SECONDS, so `/metrics` (the lowest of the live workers')
says 1 once both are up; it says 0 from the start of a drain, and when the database goes away under a
running service. Real gunicorn processes over real HTTP; each worker has its own empty in-process vector
store (QDRANT_URL=:memory:), as in tests/reliability/test_rate_limits.py."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from src.db.migrations import run_migrations
from src.kit.settings import Settings
from tests.conftest import PG_ADMIN_URL, REPO, LiveServer, env_for, free_port, fresh_database, make_settings
from tests.kit.test_shutdown import EXIT_BOUND_SECONDS, MP_DIR_LINE, _kill_group, gunicorn_cmd

WORKERS = 2
BOOT_SECONDS = 120  # two workers loading the embedding model on a shared 2-core machine; generous
GAUGE_SECONDS = 60  # a bound on a condition, not a speed: the check runs every READINESS_CHECK_SECONDS
READINESS_ROUTE = "/api/v1/health/ready"

Start = Callable[..., LiveServer]


@pytest.fixture
def start_unprobed(tmp_path: Path) -> Iterator[Start]:
    """gunicorn with WORKERS workers, waited for by its log and by liveness (`/health`) alone: the usual
    fixtures wait on readiness, which would set the gauge of the worker the probe reached. In teardown each
    server's process group is killed (a gunicorn master killed alone leaves its workers running)."""
    groups: list[int] = []

    def start(settings: Settings, extra_env: dict[str, str]) -> LiveServer:
        port = free_port()
        log_path = tmp_path / f"server-{port}.log"
        cmd = [c.replace("{port}", str(port)) for c in gunicorn_cmd(tmp_path, "-w", str(WORKERS))]
        with log_path.open("wb") as out:
            proc = subprocess.Popen(
                cmd,
                cwd=REPO,
                env=env_for(settings) | extra_env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        groups.append(proc.pid)
        server = LiveServer(proc, port, log_path)
        deadline = time.monotonic() + BOOT_SECONDS
        while time.monotonic() < deadline and proc.poll() is None:
            if server.log().count("Booting worker") >= WORKERS and alive(server):
                return server
            time.sleep(0.2)
        pytest.fail(f"gunicorn did not start {WORKERS} workers\n{server.log()[-4000:]}")

    yield start
    for pgid in groups:
        _kill_group(pgid)


def alive(server: LiveServer) -> bool:
    try:
        return httpx.get(server.url + "/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float] | None:
    """/metrics on a new connection (so that either worker may answer); None while none accepts."""
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10, headers={"Connection": "close"}) as client:
            response = await client.get("/metrics")
    except httpx.TransportError:
        return None
    assert response.status_code == 200, response.text
    return samples(response.text)


async def ready_gauge_becomes(
    url: str, expected: float, within: float
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    deadline = time.monotonic() + within
    last = None
    while time.monotonic() < deadline:
        found = await scrape(url)
        if found is not None:
            last = found
            if found.get(("rag_ready", frozenset())) == expected:
                return found
        await asyncio.sleep(0.1)
    pytest.fail(
        f"rag_ready did not become {expected} within {within}s; last scrape: {last and last.get(('rag_ready', frozenset()))}"
    )


def probes_served(found: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> float:
    return sum(
        v
        for (name, labels), v in found.items()
        if name == "rag_http_requests_total" and ("route", READINESS_ROUTE) in labels
    )


def live_gauge_files(server: LiveServer) -> list[Path]:
    found = MP_DIR_LINE.search(server.log())
    assert found, server.log()[-2000:]
    return sorted(Path(found.group(1)).glob("gauge_livemin_*.db"))


async def test_every_worker_reports_ready_without_probes_and_a_drain_reports_not_ready(
    start_unprobed: Start, tmp_path: Path
) -> None:
    server = start_unprobed(make_settings(tmp_path), {"QDRANT_URL": ":memory:"})
    found = await ready_gauge_becomes(server.url, 1, within=GAUGE_SECONDS)
    assert probes_served(found) == 0, "a readiness probe was sent: the test would not show what it means to"
    # The 1 is the lowest of both workers' gauges, not one worker's.
    assert len(live_gauge_files(server)) == WORKERS, server.log()[-2000:]

    # SIGTERM to the master with uploads in flight: each worker with one keeps accepting while it drains
    # (kit/shutdown.py), so /metrics can be read; the uploads' bodies are held back until the gauge is seen.
    release = asyncio.Event()

    async def held_body() -> AsyncIterator[bytes]:
        yield b'{"question": "'
        await release.wait()
        yield b'How does a humanoid robot keep its balance?"}'

    async with httpx.AsyncClient(base_url=server.url, timeout=EXIT_BOUND_SECONDS + 30) as client:
        uploads = [
            asyncio.create_task(
                client.post("/api/v1/query", content=held_body(), headers={"Content-Type": "application/json"})
            )
            for _ in range(4)
        ]
        await asyncio.sleep(1.0)  # sent and being read by the workers
        assert not any(u.done() for u in uploads)
        os.kill(server.proc.pid, signal.SIGTERM)
        try:
            draining = await ready_gauge_becomes(server.url, 0, within=10)
        finally:
            release.set()
        responses = await asyncio.wait_for(asyncio.gather(*uploads), timeout=EXIT_BOUND_SECONDS + 30)
    assert probes_served(draining) == 0
    assert [r.status_code for r in responses] == [200] * len(uploads), [r.text[:200] for r in responses]
    assert await asyncio.to_thread(server.proc.wait, EXIT_BOUND_SECONDS) == 0, server.log()[-3000:]


async def test_a_database_lost_under_running_workers_turns_the_gauge_to_0(
    start_unprobed: Start, tmp_path: Path, pg_available: None
) -> None:
    async with fresh_database("rag_ready") as url:
        settings = make_settings(tmp_path, database_url=url)
        await asyncio.to_thread(run_migrations, settings.sqlalchemy_url)
        server = start_unprobed(settings, {"QDRANT_URL": ":memory:", "READINESS_CHECK_SECONDS": "1"})
        await ready_gauge_becomes(server.url, 1, within=GAUGE_SECONDS)
        admin = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await admin.execute(f'DROP DATABASE "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
        finally:
            await admin.close()
        found = await ready_gauge_becomes(server.url, 0, within=GAUGE_SECONDS)
        assert probes_served(found) == 0
        assert server.proc.poll() is None, "the service stopped instead of reporting not ready"
