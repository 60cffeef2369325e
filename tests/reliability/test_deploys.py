"""Deploys: SIGTERM to gunicorn with 50 requests in flight, some streaming.

The answers wait on a model endpoint that accepts connections and never replies (a real socket whose
backlog is never read), so each request is surely in flight for the answer deadline. At SIGTERM
readiness fails at once, every request completes (with the extractive answer, marked degraded), the
master exits by itself within the grace period, and no database connection is left open."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import PG_ADMIN_URL, auth, make_settings, shared_path
from tests.kit.test_shutdown import EXIT_BOUND_SECONDS, GRACE_SECONDS, first_not_ready, gunicorn_cmd, serve  # noqa: F401 - `serve` is a fixture
from tests.reliability.conftest import size
from tests.reliability.test_load import pg_migrated  # noqa: F401 - a fixture

pytestmark = pytest.mark.slow
IN_FLIGHT = 50
STREAMING = 15
MODEL_WAIT_SECONDS = 4.0
CHAPTER = "docs/02-humanoid-robotics/index.md"
QUESTIONS = [
    "What is the Zero Moment Point in bipedal locomotion?",
    "How do humanoid robots keep their balance?",
    "What sensors does a humanoid robot use?",
    "What actuators do humanoid robots use?",
    "What is a support polygon?",
]


@pytest.fixture
def silent_model() -> Iterator[str]:
    """An OpenAI-compatible base URL whose server accepts connections into its backlog and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(256)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    finally:
        listener.close()


async def database_connections(database_url: str) -> int:
    name = database_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        return int(
            await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name
            )
        )
    finally:
        await admin.close()


async def one(client: httpx.AsyncClient, n: int) -> tuple[int, bool]:
    """A request: (status, whether its answer arrived whole)."""
    body = {"question": QUESTIONS[n % len(QUESTIONS)] + f" ({n})"}
    if n < STREAMING:
        async with client.stream("POST", "/api/v1/answer/stream", json=body) as r:
            text = "".join([chunk async for chunk in r.aiter_text()])
            return r.status_code, "event: done" in text and "event: error" not in text
    r = await client.post("/api/v1/answer", json=body)
    return r.status_code, r.status_code == 200 and "answer" in r.json()


@pytest.mark.timeout(600)
async def test_sigterm_with_fifty_requests_in_flight(
    serve: Any, tmp_path: Path, pg_migrated: str, silent_model: str, record: Any
) -> None:
    rounds = size(1, 3)
    for round_ in range(rounds):
        data = tmp_path / f"round-{round_}"
        settings = make_settings(
            data,
            database_url=pg_migrated,
            llm_provider="openai",
            llm_base_url=silent_model,
            llm_api_key="local",
            answer_timeout_seconds=MODEL_WAIT_SECONDS,
        )
        env = {
            "LLM_PROVIDER": "openai",
            "LLM_BASE_URL": silent_model,
            "LLM_API_KEY": "local",
            "ANSWER_TIMEOUT_SECONDS": str(MODEL_WAIT_SECONDS),
        }
        env |= {
            "DATABASE_URL": pg_migrated,
            "RATE_LIMIT_REQUESTS_PER_MINUTE": "0",
            "RATE_LIMIT_CONCURRENT_REQUESTS": "0",
            "RATE_LIMIT_TOKENS_PER_MINUTE": "0",
        }
        env |= {
            "ANSWERS_MAX_IN_FLIGHT": "0"
        }  # all fifty must be in flight at the signal: no answer shed at the worker's cap
        server = serve(settings, cmd=gunicorn_cmd(data, "-w", "1"), extra_env=env)
        text = shared_path("data", "textbooks", "physical-ai", CHAPTER).read_text()
        limits = httpx.Limits(max_connections=IN_FLIGHT + 10, max_keepalive_connections=IN_FLIGHT + 10)
        async with (
            httpx.AsyncClient(base_url=server.url, timeout=EXIT_BOUND_SECONDS + 30, limits=limits) as client,
            httpx.AsyncClient(base_url=server.url, timeout=10, headers={"Connection": "close"}) as probe,
        ):
            r = await client.post(
                "/api/v1/index", json={"content": text, "metadata": {"source_file": CHAPTER}}, headers=auth()
            )
            assert r.status_code == 200, r.text
            tasks = [asyncio.create_task(one(client, n)) for n in range(IN_FLIGHT)]
            await asyncio.sleep(MODEL_WAIT_SECONDS / 2)  # sent, searched, and waiting on the model
            in_flight = sum(not t.done() for t in tasks)
            sigterm_at = time.monotonic()
            os.kill(server.proc.pid, signal.SIGTERM)
            ready, _ = await first_not_ready(probe, within=2.0)
            not_ready_after = time.monotonic() - sigterm_at
            results = await asyncio.wait_for(asyncio.gather(*tasks), EXIT_BOUND_SECONDS + 30)
            rc = await asyncio.to_thread(server.proc.wait, EXIT_BOUND_SECONDS)
            exited_after = time.monotonic() - sigterm_at
        left_open = await database_connections(pg_migrated)
        completed = sum(status == 200 and whole for status, whole in results)
        record(
            f"round {round_ + 1}: requests in flight at SIGTERM",
            f"{in_flight} of {IN_FLIGHT} ({STREAMING} streaming)",
            "50",
            in_flight == IN_FLIGHT,
        )
        record(f"round {round_ + 1}: completed whole", f"{completed} of {IN_FLIGHT}", "all", completed == IN_FLIGHT)
        record(
            f"round {round_ + 1}: readiness after SIGTERM",
            f"{ready.status_code} after {not_ready_after:.2f} s",
            "503 at once",
            ready.status_code == 503,
        )
        record(
            f"round {round_ + 1}: master exit",
            f"code {rc} after {exited_after:.1f} s",
            f"0 within {GRACE_SECONDS} s",
            rc == 0 and exited_after < GRACE_SECONDS,
        )
        record(f"round {round_ + 1}: database connections left open", left_open, "0", left_open == 0)
        assert in_flight == IN_FLIGHT, "requests finished before SIGTERM"
        assert completed == IN_FLIGHT, results
        assert ready.status_code == 503
        assert rc == 0 and exited_after < GRACE_SECONDS, server.log()[-3000:]
        assert left_open == 0
