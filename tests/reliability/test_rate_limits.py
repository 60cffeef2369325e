"""Rate limits across 4 gunicorn workers sharing Redis.

Exactly the configured number of requests per minute per client succeed and the rest get 429 with
parseable Retry-After and RateLimit headers, whichever worker takes each request; and the cap on a
client's concurrent requests holds across the workers. Each worker runs on its own empty in-process
vector store (QDRANT_URL=:memory:): the limits act before the store is touched."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import make_settings
from tests.kit.test_shutdown import gunicorn_cmd, serve  # noqa: F401 - `serve` is a fixture
from tests.reliability.conftest import size
from tests.reliability.test_deploys import silent_model  # noqa: F401 - a fixture

pytestmark = pytest.mark.slow
WORKERS = 4
SELECTION = "The Zero Moment Point is the point on the ground where the net moment of gravity and inertia is zero."


def start(serve: Any, tmp_path: Path, redis_url: str, **limits: Any) -> Any:
    values = {
        "rate_limit_requests_per_minute": 0,
        "rate_limit_tokens_per_minute": 0,
        "rate_limit_concurrent_requests": 0,
    } | limits
    settings = make_settings(tmp_path, redis_url=redis_url, **values)
    env = {"QDRANT_URL": ":memory:", **{k.upper(): str(v) for k, v in values.items()}}
    env |= {k.upper(): str(v) for k, v in limits.items() if k.startswith("llm") or k.startswith("answer")}
    server = serve(settings, cmd=gunicorn_cmd(tmp_path, "-w", str(WORKERS)), extra_env=env)
    deadline = time.monotonic() + 60
    while server.log().count("Booting worker") < WORKERS and time.monotonic() < deadline:
        time.sleep(0.2)
    assert server.log().count("Booting worker") == WORKERS, server.log()[-2000:]
    return server


def parseable(response: httpx.Response) -> bool:
    headers = response.headers
    return all(
        headers.get(h, "").isdigit()
        for h in ("Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")
    )


async def wait_for_a_fresh_minute(needed_seconds: float) -> None:
    """Windows are fixed calendar minutes: start where the whole burst fits in one."""
    if time.time() % 60 > 60 - needed_seconds:
        await asyncio.sleep(60 - time.time() % 60 + 0.5)


@pytest.mark.timeout(300)
async def test_requests_per_minute_hold_across_workers(serve: Any, tmp_path: Path, redis_url: str, record: Any) -> None:
    limit = size(20, 120)
    server = start(serve, tmp_path, redis_url, rate_limit_requests_per_minute=limit)
    await wait_for_a_fresh_minute(needed_seconds=25)
    statuses: Counter[int] = Counter()
    refused_parseable = 0
    # A new connection per request, so that the kernel spreads them over the workers.
    async with httpx.AsyncClient(base_url=server.url, timeout=20, headers={"Connection": "close"}) as client:

        async def ask(n: int) -> None:
            nonlocal refused_parseable
            r = await client.post("/api/v1/query", json={"question": f"What is the Zero Moment Point? {n}"})
            statuses[r.status_code] += 1
            refused_parseable += r.status_code == 429 and parseable(r)

        for start_at in range(0, 2 * limit, 10):
            await asyncio.gather(*(ask(n) for n in range(start_at, min(start_at + 10, 2 * limit))))
    record(f"requests sent in one minute ({WORKERS} workers, limit {limit}/min)", 2 * limit, "-", True)
    record("succeeded", statuses[200], f"exactly {limit}", statuses[200] == limit)
    record(
        "429 with parseable Retry-After and RateLimit headers",
        f"{refused_parseable} of {statuses[429]}",
        f"{limit} of {limit}",
        refused_parseable == limit,
    )
    assert statuses[200] == limit and statuses[429] == limit, statuses
    assert refused_parseable == limit


@pytest.mark.timeout(300)
async def test_concurrency_cap_holds_across_workers(
    serve: Any, tmp_path: Path, redis_url: str, silent_model: str, record: Any
) -> None:
    cap, burst = 3, size(12, 40)
    # Each answer waits on a model that never replies, for the answer deadline: surely concurrent.
    server = start(
        serve,
        tmp_path,
        redis_url,
        rate_limit_concurrent_requests=cap,
        llm_provider="openai",
        llm_base_url=silent_model,
        llm_api_key="local",
        answer_timeout_seconds=10,
    )
    body = {"question": "What is the Zero Moment Point?", "selected_text": SELECTION, "mode": "selection_only"}
    async with httpx.AsyncClient(base_url=server.url, timeout=60, headers={"Connection": "close"}) as client:
        # Warm every worker first (its model loaded, its Redis connection open): on a busy machine a
        # cold worker's first Redis call can outlast REDIS_TIMEOUT_SECONDS, and it then counts alone.
        for _ in range(4):
            await asyncio.gather(*(client.post("/api/v1/query", json={"question": "warm up"}) for _ in range(WORKERS)))
        responses = await asyncio.gather(*(client.post("/api/v1/answer", json=body) for _ in range(burst)))
    statuses = Counter(r.status_code for r in responses)
    concurrency_refusals = [
        r for r in responses if r.status_code == 429 and r.json()["details"]["limit"] == "concurrency" and parseable(r)
    ]
    record(f"simultaneous answers ({WORKERS} workers, cap {cap})", burst, "-", True)
    record("served at once", statuses[200], f"exactly {cap}", statuses[200] == cap)
    record(
        "refused with 429 (limit: concurrency)",
        len(concurrency_refusals),
        f"{burst - cap}",
        len(concurrency_refusals) == burst - cap,
    )
    assert statuses[200] == cap and len(concurrency_refusals) == burst - cap, (
        statuses,
        "REDIS_UNAVAILABLE" in server.log(),
    )
