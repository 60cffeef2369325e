"""Per-client rate limits in fixed calendar-minute windows: requests, tokens and requests in flight,
shared through Redis by every instance; 429 with Retry-After and RateLimit headers; health exempt."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import auth, make_settings, running_app, shared_path

CHAPTER = "docs/02-humanoid-robotics/index.md"
HEALTH_PATHS = ["/health", "/api/v1/health", "/api/v1/health/ready", "/api/v1/query/health", "/api/v1/answer/health"]
QUESTIONS = [
    "What is the Zero Moment Point?",
    "How do humanoid robots keep their balance?",
    "What actuators do humanoid robots use?",
    "Why is bipedal walking hard?",
    "What is a gait cycle?",
    "How does a robot sense its own posture?",
    "What role does the center of mass play?",
    "What is whole-body control?",
    "How are humanoid hands designed?",
    "What sensors does a humanoid carry?",
    "Why do humanoids fall?",
    "What is inverse kinematics used for?",
]


def wait_for_next_minute_if_close(margin: float = 8.0) -> None:
    """Windows are calendar minutes: start a counted sequence well inside one."""
    left = 60 - time.time() % 60
    if left < margin:
        time.sleep(left + 0.2)


def assert_rate_limited(response: httpx.Response, limit_name: str, limit: int) -> None:
    assert response.status_code == 429, response.text
    body = response.json()
    assert set(body) == {"error", "details", "request_id"}
    assert body["error"] == "rate_limited" and body["details"]["limit"] == limit_name
    assert response.headers["x-request-id"] == body["request_id"]
    retry_after = response.headers["retry-after"]
    assert retry_after.isdigit() and 1 <= int(retry_after) <= 60
    assert response.headers["ratelimit-limit"] == str(limit)
    assert response.headers["ratelimit-remaining"] == "0"
    assert response.headers["ratelimit-reset"].isdigit() and 1 <= int(response.headers["ratelimit-reset"]) <= 60


async def index_chapter(client: httpx.AsyncClient) -> None:
    text = shared_path("data", "textbooks", "physical-ai", CHAPTER).read_text()
    response = await client.post("/api/v1/index", json={"content": text, "metadata": {"source_file": CHAPTER}}, headers=auth())
    assert response.status_code == 200, response.text


async def test_requests_per_minute_exactly_n_succeed_and_health_is_exempt(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, rate_limit_requests_per_minute=5)
    async with running_app(settings) as (_, client):
        wait_for_next_minute_if_close()
        responses = [await client.post("/api/v1/query", json={"question": f"question number {i}"}) for i in range(7)]
        assert [r.status_code for r in responses] == [200] * 5 + [429] * 2
        assert [r.headers["ratelimit-remaining"] for r in responses[:5]] == ["4", "3", "2", "1", "0"]
        assert all(r.headers["ratelimit-limit"] == "5" for r in responses)
        for refused in responses[5:]:
            assert_rate_limited(refused, "requests", 5)
        # The limit is per client across limited routes: /answer is refused too in this window.
        assert_rate_limited(await client.post("/api/v1/answer", json={"question": "What is balance?"}), "requests", 5)

        # Health, readiness and metrics are never limited, however often they are called.
        for _ in range(3):
            for path in HEALTH_PATHS:
                response = await client.get(path)
                assert response.status_code == 200, (path, response.text)
                assert "ratelimit-limit" not in response.headers
        assert (await client.get("/metrics")).status_code == 200
        # Nor are the authenticated authoring routes, which carry their own key.
        assert (await client.get("/api/v1/index/health", headers=auth())).status_code == 200


async def test_two_instances_sharing_redis_allow_n_in_total(tmp_path: Path, redis_url: str) -> None:
    first = make_settings(tmp_path / "a", redis_url=redis_url, rate_limit_requests_per_minute=5)
    second = make_settings(tmp_path / "b", redis_url=redis_url, rate_limit_requests_per_minute=5)
    async with running_app(first) as (_, one), running_app(second) as (_, two):
        wait_for_next_minute_if_close()
        statuses: list[tuple[str, int]] = []
        for i in range(10):
            client, name = (one, "one") if i % 2 == 0 else (two, "two")
            response = await client.post("/api/v1/query", json={"question": f"shared question {i}"})
            statuses.append((name, response.status_code))
            if response.status_code == 429:
                assert_rate_limited(response, "requests", 5)
        assert [s for _, s in statuses] == [200] * 5 + [429] * 5
        # Both instances refused once the shared count was spent.
        assert {name for name, s in statuses if s == 429} == {"one", "two"}


async def burst(client: httpx.AsyncClient, questions: list[str]) -> list[httpx.Response]:
    return list(await asyncio.gather(*(client.post("/api/v1/answer", json={"question": q, "k": 8}) for q in questions)))


async def check_concurrency_cap(tmp_path: Path, redis_url: str | None) -> None:
    shared = redis_url is not None
    cap = 2
    settings = make_settings(tmp_path, redis_url=redis_url, rate_limit_concurrent_requests=cap)
    async with running_app(settings) as (_, client):
        await index_chapter(client)
        responses = await burst(client, QUESTIONS)
        counts = Counter(r.status_code for r in responses)
        assert set(counts) <= {200, 429}, counts
        assert counts[200] >= 1 and counts[429] >= 1, counts
        assert counts[200] + counts[429] == len(QUESTIONS)
        for refused in (r for r in responses if r.status_code == 429):
            assert refused.json()["details"]["limit"] == "concurrency"
            assert refused.headers["retry-after"].isdigit()
            assert refused.headers["ratelimit-limit"] == str(cap)
        if not shared:
            # In process every request takes its slot before the first one can finish (the
            # answers wait on worker threads), so exactly `cap` are let through.
            assert counts[200] == cap, counts
        # Every slot was given back: requests one at a time all succeed, and so does a burst of `cap`.
        for question in QUESTIONS[:3]:
            assert (await client.post("/api/v1/answer", json={"question": question + " again"})).status_code == 200
        again = await burst(client, [q + " once more" for q in QUESTIONS[:cap]])
        assert [r.status_code for r in again] == [200] * cap
    if redis_url is not None:
        # The slots lived in Redis, where every instance sees them, and none is left taken.
        import redis.asyncio as aioredis

        r = aioredis.Redis.from_url(redis_url)
        try:
            in_flight = await r.get("rag:rl:conc:127.0.0.1")
        finally:
            await r.aclose()
        assert in_flight is not None and int(in_flight) == 0


async def test_concurrency_cap_holds_in_process(tmp_path: Path) -> None:
    await check_concurrency_cap(tmp_path, None)


async def test_concurrency_cap_holds_across_redis(tmp_path: Path, redis_url: str) -> None:
    await check_concurrency_cap(tmp_path, redis_url)


async def test_tokens_per_minute(tmp_path: Path) -> None:
    budget = 20
    settings = make_settings(tmp_path, rate_limit_tokens_per_minute=budget)
    async with running_app(settings) as (_, client):
        await index_chapter(client)
        wait_for_next_minute_if_close()
        question = "What is the Zero Moment Point in bipedal locomotion?"
        first = await client.post("/api/v1/answer", json={"question": question})
        assert first.status_code == 200, first.text
        # About four characters a token, question and answer: the first answer alone spends the budget.
        assert len(question) // 4 + len(first.json()["answer"]) // 4 >= budget
        second = await client.post("/api/v1/answer", json={"question": "How do humanoid robots keep their balance?"})
        assert_rate_limited(second, "tokens", budget)
        # Spent tokens refuse every limited route for the rest of the window, but not health.
        assert_rate_limited(await client.post("/api/v1/query", json={"question": "balance"}), "tokens", budget)
        assert (await client.get("/api/v1/answer/health")).status_code == 200


async def test_small_token_budget_lets_short_queries_through(tmp_path: Path) -> None:
    """Queries are not charged tokens (only answers are): a tiny budget does not block search."""
    settings = make_settings(tmp_path, rate_limit_tokens_per_minute=1)
    async with running_app(settings) as (_, client):
        wait_for_next_minute_if_close()
        statuses = [(await client.post("/api/v1/query", json={"question": f"q {i}"})).status_code for i in range(5)]
        assert statuses == [200] * 5
        answer: Any = await client.post("/api/v1/answer", json={"question": "What is balance?"})
        assert answer.status_code == 200
        assert_rate_limited(await client.post("/api/v1/query", json={"question": "after the answer"}), "tokens", 1)
