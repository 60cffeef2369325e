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
    response = await client.post(
        "/api/v1/index", json={"content": text, "metadata": {"source_file": CHAPTER}}, headers=auth()
    )
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


# IPv6: a subscriber is handed a /64 and may send from any address in it, so limits count the /64.
SUBNET = "2001:db8:7:64"


def from_address(address: str) -> dict[str, str]:
    """Headers of a request whose client (TRUSTED_PROXIES=1: the last X-Forwarded-For hop) is `address`."""
    return {"X-Forwarded-For": address}


def log_lines(settings: Any, event: str) -> list[dict[str, Any]]:
    from tests.security.test_auth_and_logs import log_events

    return [e for e in log_events(settings.log_dir) if e.get("event") == event]


async def check_one_ipv6_64_shares_one_request_budget(tmp_path: Path, redis_url: str | None) -> None:
    limit = 3
    settings = make_settings(tmp_path, redis_url=redis_url, rate_limit_requests_per_minute=limit, trusted_proxies="1")
    async with running_app(settings) as (_, client):
        wait_for_next_minute_if_close()
        # Each request from a new address of the same /64: the budget is the /64's.
        responses = [
            await client.post(
                "/api/v1/query", json={"question": f"balance {i}"}, headers=from_address(f"{SUBNET}::{i + 1:x}")
            )
            for i in range(limit + 2)
        ]
        assert [r.status_code for r in responses] == [200] * limit + [429] * 2
        assert_rate_limited(responses[-1], "requests", limit)
        # Another /64 (next door) and an IPv4 client have budgets of their own.
        assert (
            await client.post("/api/v1/query", json={"question": "b"}, headers=from_address("2001:db8:7:65::1"))
        ).status_code == 200
        assert (
            await client.post("/api/v1/query", json={"question": "c"}, headers=from_address("198.51.100.20"))
        ).status_code == 200
    limited = log_lines(settings, "RATE_LIMIT_EXCEEDED")
    # The log names each full address, and the /64 it was counted for.
    assert [e["client"] for e in limited] == [f"{SUBNET}::{limit + 1:x}", f"{SUBNET}::{limit + 2:x}"]
    assert {e["client_key"] for e in limited} == {f"{SUBNET}::/64"}


async def test_an_ipv6_prefix_of_128_counts_each_address(tmp_path: Path) -> None:
    limit = 2
    settings = make_settings(
        tmp_path, rate_limit_requests_per_minute=limit, trusted_proxies="1", rate_limit_ipv6_prefix=128
    )
    async with running_app(settings) as (_, client):
        wait_for_next_minute_if_close()
        statuses = [
            (
                await client.post("/api/v1/query", json={"question": "q"}, headers=from_address(f"{SUBNET}::{i + 1:x}"))
            ).status_code
            for i in range(limit + 2)
        ]
        assert statuses == [200] * (limit + 2)


async def check_failed_keys_from_one_ipv6_64_share_one_count(tmp_path: Path, redis_url: str | None) -> None:
    limit = 3
    settings = make_settings(
        tmp_path, redis_url=redis_url, auth_failure_limit=limit, auth_failure_window_seconds=60, trusted_proxies="1"
    )
    wrong = {"Authorization": "Bearer wrong-key-0123456789abcdef0123456789abcdef"}
    async with running_app(settings) as (_, client):
        statuses = [
            (await client.get("/api/v1/index/health", headers=wrong | from_address(f"{SUBNET}::{i + 1:x}"))).status_code
            for i in range(limit + 2)
        ]
        assert statuses == [401] * limit + [429] * 2
        # The right key from yet another address of that /64 is refused too, until the window ends.
        assert (
            await client.get("/api/v1/index/health", headers=auth() | from_address(f"{SUBNET}::abcd"))
        ).status_code == 429
        # Another /64 is not affected.
        assert (
            await client.get("/api/v1/index/health", headers=auth() | from_address("2001:db8:7:65::1"))
        ).status_code == 200
    failures = log_lines(settings, "AUTHENTICATION_FAILURE")
    assert [e["failures"] for e in failures] == list(range(1, limit + 1))
    assert [e["client"] for e in failures] == [
        f"{SUBNET}::{i + 1:x}" for i in range(limit)
    ]  # full addresses in the log


async def test_one_ipv6_64_is_one_client_in_process(tmp_path: Path) -> None:
    await check_one_ipv6_64_shares_one_request_budget(tmp_path / "requests", None)
    await check_failed_keys_from_one_ipv6_64_share_one_count(tmp_path / "keys", None)


async def test_one_ipv6_64_is_one_client_across_redis(tmp_path: Path, redis_url: str) -> None:
    await check_one_ipv6_64_shares_one_request_budget(tmp_path / "requests", redis_url)
    await check_failed_keys_from_one_ipv6_64_share_one_count(tmp_path / "keys", redis_url)


def shed_count() -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("rag_answers_shed_total") or 0.0


async def test_answers_past_the_worker_cap_get_503_with_retry_after(tmp_path: Path) -> None:
    """ANSWERS_MAX_IN_FLIGHT bounds one worker's answers in flight, all clients together: the next answer
    (plain or streamed) gets 503 with Retry-After in the error shape, logged and counted; other routes
    are not affected, and once a slot is free answers flow again."""
    cap = 2
    settings = make_settings(tmp_path, answers_max_in_flight=cap, trusted_proxies="1")
    async with running_app(settings) as (app, client):
        await index_chapter(client)
        limiter = app.state.limiter
        # Answers of other clients hold every slot (taken as the middleware takes them).
        assert all(limiter.take_answer_slot() for _ in range(cap))
        shed_before = shed_count()
        plain = await client.post(
            "/api/v1/answer", json={"question": QUESTIONS[0]}, headers=from_address("198.51.100.30")
        )
        stream = await client.post(
            "/api/v1/answer/stream", json={"question": QUESTIONS[0]}, headers=from_address("198.51.100.31")
        )
        for refused in (plain, stream):
            assert refused.status_code == 503, refused.text
            body = refused.json()
            assert set(body) == {"error", "details", "request_id"} and body["error"] == "service_unavailable"
            assert refused.headers["retry-after"].isdigit() and int(refused.headers["retry-after"]) >= 1
            assert refused.headers["x-request-id"] == body["request_id"]
        assert shed_count() == shed_before + 2
        assert (await client.post("/api/v1/query", json={"question": "balance"})).status_code == 200
        limiter.release_answer_slot()
        assert (await client.post("/api/v1/answer", json={"question": QUESTIONS[1]})).status_code == 200
        limiter.release_answer_slot()

        # A burst from many clients at once: what is over the cap is refused, and every slot is given back.
        responses = await asyncio.gather(
            *(
                client.post(
                    "/api/v1/answer", json={"question": q, "k": 8}, headers=from_address(f"198.51.100.{40 + i}")
                )
                for i, q in enumerate(QUESTIONS)
            )
        )
        counts = Counter(r.status_code for r in responses)
        assert set(counts) == {200, 503} and counts[200] >= 1, counts
        assert limiter.answers_in_flight == 0
    shed = log_lines(settings, "ANSWERS_AT_CAPACITY")
    assert len(shed) == 2 + counts[503] and all(e["limit"] == cap for e in shed)
    assert {e["client"] for e in shed[:2]} == {"198.51.100.30", "198.51.100.31"}


async def test_the_reading_pages_are_rate_limited(tmp_path: Path) -> None:
    """`/` and `/read/...` count against the client's requests per minute (the same budget as the API) and
    are refused with the same 429; the widget and its assets are not limited."""
    limit = 3
    settings = make_settings(tmp_path, rate_limit_requests_per_minute=limit)
    async with running_app(settings) as (_, client):
        wait_for_next_minute_if_close()
        first = await client.get("/")
        assert first.status_code == 200 and first.headers["ratelimit-limit"] == str(limit)
        assert (await client.get("/read/docs/no-such-page.md")).status_code == 404  # counted too
        assert (await client.get("/")).status_code == 200
        assert_rate_limited(await client.get("/"), "requests", limit)
        assert_rate_limited(await client.get("/read/docs/no-such-page.md"), "requests", limit)
        assert_rate_limited(await client.post("/api/v1/query", json={"question": "balance"}), "requests", limit)
        assert (await client.get("/widget.js")).status_code == 200
    assert [e["path"] for e in log_lines(settings, "RATE_LIMIT_EXCEEDED")] == [
        "/",
        "/read/docs/no-such-page.md",
        "/api/v1/query",
    ]
