"""Faults on real components: a private Redis killed and restarted mid-run, and PostgreSQL cut off
(and stalled) behind a TCP proxy. Answers keep coming (no 500s, no hangs); the service notices,
degrades, and recovers by itself. Every wait is bounded; everything started here is stopped here."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from src.db.migrations import run_migrations
from src.db.models import Message, UserSession
from src.kit.db import create_engine, session_factory, transaction
from src.kit.settings import Settings
from tests.conftest import auth, free_port, make_settings, running_app, shared_path
from tests.helpers_proxy import PrivateRedis, TcpProxy

CHAPTER = "docs/02-humanoid-robotics/index.md"
QUESTIONS = [
    "What is the Zero Moment Point in bipedal locomotion?",
    "How do humanoid robots keep their balance?",
    "What actuators do humanoid robots use?",
    "Why is walking hard for a humanoid robot?",
    "What sensors does a humanoid robot need for balance?",
    "How does a humanoid robot plan its footsteps?",
    "What is the role of the center of mass in walking?",
    "How are humanoid joints controlled?",
    "What is inverse kinematics used for in humanoids?",
    "How does a robot detect that it is falling?",
]
CLIENT_TIMEOUT = 20.0  # far above any healthy request; a hang fails the test instead of blocking it


def chapter_body() -> dict[str, Any]:
    text = shared_path("data", "textbooks", "physical-ai", CHAPTER).read_text()
    return {
        "content": text,
        "metadata": {"source_file": CHAPTER, "url": "https://book.example/ch2", "document_type": "markdown"},
    }


async def call(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request that cannot hang the test."""
    return await asyncio.wait_for(client.request(method, url, **kwargs), CLIENT_TIMEOUT)


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(interval)
    return await check()


def log_events(settings: Settings) -> list[dict[str, Any]]:
    path = settings.log_dir / "app.log"
    events = []
    for line in path.read_text(errors="replace").splitlines() if path.exists() else []:
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events


def logged(settings: Settings, event: str) -> int:
    return sum(1 for e in log_events(settings) if e.get("event") == event)


# --- Redis ------------------------------------------------------------------------------------------------------------


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(free_port(), tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def redis_keys(server: PrivateRedis, pattern: str = "rag:*") -> set[str]:
    client = redis.Redis.from_url(server.url, socket_timeout=2, socket_connect_timeout=2)
    try:
        return {k.decode() for k in client.keys(pattern)}
    finally:
        client.close()


def redis_get(server: PrivateRedis, key: str) -> bytes | None:
    client = redis.Redis.from_url(server.url, socket_timeout=2, socket_connect_timeout=2)
    try:
        return client.get(key)  # type: ignore[return-value]
    finally:
        client.close()


async def test_redis_killed_and_restarted(private_redis: PrivateRedis, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, redis_url=private_redis.url)
    async with running_app(settings) as (app, client):
        resources = app.state.container
        indexed = await call(client, "POST", "/api/v1/index", json=chapter_body(), headers=auth())
        assert indexed.status_code == 200, indexed.text
        version = redis_get(private_redis, "rag:index_version")
        assert version is not None and int(version) > 0

        first = await call(client, "POST", "/api/v1/answer", json={"question": QUESTIONS[0]})
        assert first.status_code == 200 and not first.json()["refused"], first.text
        keys = redis_keys(private_redis)
        assert any(k.startswith("rag:answer:") for k in keys), keys
        assert any(k.startswith("rag:query:") for k in keys) and any(k.startswith("rag:emb:") for k in keys), keys
        health = (await call(client, "GET", "/api/v1/health")).json()
        assert health["status"] == "healthy" and health["services"]["cache"] == {"status": "up", "backend": "redis"}

        private_redis.stop()  # SIGKILL mid-run

        statuses = []
        for question in [*QUESTIONS[:4], QUESTIONS[0]]:
            answer = await call(client, "POST", "/api/v1/answer", json={"question": question})
            query = await call(client, "POST", "/api/v1/query", json={"question": question, "k": 3})
            statuses += [answer.status_code, query.status_code]
            assert answer.status_code == 200, answer.text
            assert answer.json()["answer"] and query.json()["retrieved_contexts"]
        assert set(statuses) == {200}
        health = await call(client, "GET", "/api/v1/health")
        assert health.status_code == 200
        assert health.json()["status"] == "degraded"
        assert health.json()["services"]["cache"]["status"] == "degraded"
        assert (await call(client, "GET", "/api/v1/health/ready")).status_code == 200  # the cache is not required
        assert logged(settings, "REDIS_UNAVAILABLE") >= 1
        assert resources.redis.is_down
        # While Redis is down the answers are cached in process: a repeated question is served from there.
        assert resources.cache.local._data

        private_redis.start()  # same port, empty (no persistence)
        restarted = time.monotonic()

        async def uses_redis_again() -> bool:
            answer = await call(
                client,
                "POST",
                "/api/v1/answer",
                json={"question": QUESTIONS[5 + int(time.monotonic() - restarted) % 5]},
            )
            assert answer.status_code == 200, answer.text
            keys = redis_keys(private_redis)
            return any(k.startswith("rag:answer:") for k in keys) and "rag:index_version" in keys

        assert await wait_until(uses_redis_again, timeout=5.0, interval=0.25), (
            f"not back on Redis 5 s after restart: {redis_keys(private_redis)}"
        )
        assert logged(settings, "REDIS_RECOVERED") >= 1
        assert not resources.redis.is_down
        health = (await call(client, "GET", "/api/v1/health")).json()
        assert health["status"] == "healthy" and health["services"]["cache"]["backend"] == "redis"

        # A re-index while Redis was down must not leave other workers on the old index version.
        version_before = redis_get(private_redis, "rag:index_version")
        private_redis.stop()
        body = chapter_body()
        body["content"] = str(body["content"]) + "\n\n## Appendix\n\nA new closing section about servo calibration.\n"
        changed = await call(client, "POST", "/api/v1/index", json=body, headers=auth())
        assert changed.status_code == 200 and changed.json()["chunks_new"] >= 1, changed.text
        private_redis.start()

        async def version_moved() -> bool:
            await call(client, "POST", "/api/v1/query", json={"question": QUESTIONS[1]})
            current = redis_get(private_redis, "rag:index_version")
            return current is not None and current != version_before

        assert await wait_until(version_moved, timeout=5.0, interval=0.25)


def test_redis_outage_against_a_real_server_process(
    private_redis: PrivateRedis, tmp_path: Path, live_server_factory: Any
) -> None:
    """The same outage with the service as a real uvicorn process over real HTTP: its own log (stderr) shows it."""
    server = live_server_factory(make_settings(tmp_path, redis_url=private_redis.url))
    with httpx.Client(base_url=server.url, timeout=CLIENT_TIMEOUT) as http:
        assert http.post("/api/v1/index", json=chapter_body(), headers=auth()).status_code == 200
        assert http.post("/api/v1/answer", json={"question": QUESTIONS[0]}).status_code == 200
        assert any(k.startswith("rag:answer:") for k in redis_keys(private_redis))

        private_redis.stop()
        for question in QUESTIONS[:4]:
            assert http.post("/api/v1/answer", json={"question": question}).status_code == 200
            assert http.post("/api/v1/query", json={"question": question}).status_code == 200
        health = http.get("/api/v1/health")
        assert health.status_code == 200 and health.json()["status"] == "degraded"
        assert "REDIS_UNAVAILABLE" in server.log()

        private_redis.start()
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and "REDIS_RECOVERED" not in server.log():
            assert http.post("/api/v1/answer", json={"question": QUESTIONS[5]}).status_code == 200
            time.sleep(0.25)
        assert "REDIS_RECOVERED" in server.log(), server.log()[-3000:]
        assert http.post("/api/v1/answer", json={"question": QUESTIONS[6]}).status_code == 200
        assert any(k.startswith("rag:answer:") for k in redis_keys(private_redis))
        assert http.get("/api/v1/health").json()["status"] == "healthy"
    assert '"status": 200' in server.log() and '"status": 500' not in server.log()  # the access log, in JSON


async def test_redis_that_stops_answering(private_redis: PrivateRedis, tmp_path: Path) -> None:
    """A Redis that accepts connections but never replies (a network black hole): requests pay the socket
    timeout at most once per retry period, and the service recovers when it answers again."""
    proxy = TcpProxy("127.0.0.1", private_redis.port)
    await proxy.start()
    try:
        settings = make_settings(
            tmp_path, redis_url=f"redis://127.0.0.1:{proxy.port}/0", redis_timeout_seconds=0.3, redis_retry_seconds=1.0
        )
        async with running_app(settings) as (app, client):
            assert (await call(client, "POST", "/api/v1/index", json=chapter_body(), headers=auth())).status_code == 200
            assert (await call(client, "POST", "/api/v1/answer", json={"question": QUESTIONS[0]})).status_code == 200
            await proxy.stall()
            durations = []
            for question in QUESTIONS[1:7]:
                started = time.monotonic()
                answer = await call(client, "POST", "/api/v1/answer", json={"question": question})
                durations.append(time.monotonic() - started)
                assert answer.status_code == 200, answer.text
            health = await call(client, "GET", "/api/v1/health")
            assert health.status_code == 200 and health.json()["services"]["cache"]["status"] == "degraded"
            assert logged(settings, "REDIS_UNAVAILABLE") >= 1
            # Generous: one request may pay a few 0.3 s timeouts; none waits out a retry loop.
            assert max(durations) < 8, durations

            await proxy.restore()

            async def healthy() -> bool:  # the health check's ping is what notices the recovery here
                return (await call(client, "GET", "/api/v1/health")).json()["services"]["cache"]["status"] == "up"

            assert await wait_until(healthy, timeout=5.0, interval=0.25)
            assert not app.state.container.redis.is_down
            assert logged(settings, "REDIS_RECOVERED") == 1
            assert (await call(client, "POST", "/api/v1/answer", json={"question": QUESTIONS[8]})).status_code == 200
            assert any(k.startswith("rag:answer:") for k in redis_keys(private_redis))
    finally:
        await proxy.close()


async def test_rate_limits_fall_back_to_in_process_while_redis_is_down(
    private_redis: PrivateRedis, tmp_path: Path
) -> None:
    limit = 6
    settings = make_settings(tmp_path, redis_url=private_redis.url, rate_limit_requests_per_minute=limit)
    async with running_app(settings) as (app, client):
        # Keep clear of a minute boundary (windows are calendar minutes): at most one bounded wait.
        if 60 - time.time() % 60 < 20:
            await asyncio.sleep(60 - time.time() % 60 + 0.5)
        window = int(time.time() // 60)
        for _ in range(2):
            assert (await call(client, "POST", "/api/v1/query", json={"question": "balance"})).status_code == 200
        counters = redis_keys(private_redis, "rag:rl:req:*")
        assert len(counters) == 1 and redis_get(private_redis, counters.pop()) == b"2"

        private_redis.stop()
        codes = [
            (await call(client, "POST", "/api/v1/query", json={"question": "balance"})).status_code
            for _ in range(limit + 2)
        ]
        assert int(time.time() // 60) == window, "the minute rolled over mid-test (it waited to avoid that)"
        # Redis's count is unreachable: the in-process limiter counts from zero and refuses past the limit.
        assert codes == [200] * limit + [429, 429], codes
        assert app.state.container.redis.is_down
        assert logged(settings, "RATE_LIMIT_EXCEEDED") >= 2
        refused = await call(client, "POST", "/api/v1/query", json={"question": "balance"})
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert set(refused.json()) == {"error", "details", "request_id"}


# --- PostgreSQL behind a proxy ----------------------------------------------------------------------------------------


@pytest.fixture
async def proxy() -> AsyncIterator[TcpProxy]:
    p = TcpProxy("127.0.0.1", 5432)
    await p.start()
    try:
        yield p
    finally:
        await p.close()


def via(proxy: TcpProxy, pg_url: str) -> str:
    return make_url(pg_url).set(port=proxy.port).render_as_string(hide_password=False)


async def message_counts(pg_url: str, tmp_path: Path, ids: list[str]) -> dict[str, int]:
    """How many rows each answer id has, read straight from PostgreSQL (not through the proxy)."""
    engine = create_engine(make_settings(tmp_path, database_url=pg_url))
    try:
        async with transaction(session_factory(engine)) as db:
            rows = (
                await db.execute(select(Message.id, func.count()).where(Message.id.in_(ids)).group_by(Message.id))
            ).all()
        return dict.fromkeys(ids, 0) | {r[0]: int(r[1]) for r in rows}
    finally:
        await engine.dispose()


async def session_message_count(pg_url: str, tmp_path: Path, session_id: str) -> tuple[int, UserSession | None]:
    engine = create_engine(make_settings(tmp_path, database_url=pg_url))
    try:
        async with transaction(session_factory(engine)) as db:
            n = (
                await db.execute(select(func.count()).select_from(Message).where(Message.session_id == session_id))
            ).scalar_one()
            row = await db.get(UserSession, session_id)
        return int(n), row
    finally:
        await engine.dispose()


async def ready_status(client: httpx.AsyncClient) -> int:
    return (await call(client, "GET", "/api/v1/health/ready")).status_code


async def check_database_outage(pg_url: str, tmp_path: Path, proxy: TcpProxy, fault: str) -> None:
    await asyncio.to_thread(run_migrations, pg_url)
    settings = make_settings(tmp_path, database_url=via(proxy, pg_url), auto_migrate=False, db_timeout_seconds=1.0)
    async with running_app(settings) as (app, client):
        agent = app.state.container.recorder
        assert (await call(client, "POST", "/api/v1/index", json=chapter_body(), headers=auth())).status_code == 200
        assert await ready_status(client) == 200
        before = await call(client, "POST", "/api/v1/answer", json={"question": QUESTIONS[0]})
        assert before.status_code == 200
        session_id = before.json()[
            "session_id"
        ]  # the service makes session ids; while the database is away it keeps this one
        assert (await message_counts(pg_url, tmp_path, [before.json()["answer_id"]]))[before.json()["answer_id"]] == 1

        await (proxy.cut() if fault == "cut" else proxy.stall())

        async def not_ready() -> bool:
            return await ready_status(client) == 503

        assert await wait_until(not_ready, timeout=15), "readiness must fail while the database is unreachable"
        assert (await call(client, "GET", "/health")).status_code == 200
        health = await call(client, "GET", "/api/v1/health")
        assert health.status_code == 503 and health.json()["services"]["database"]["status"] == "down"
        assert health.headers["Retry-After"] == "5"  # as every 503 of the service says when to try again

        ids = []
        for i, question in enumerate(QUESTIONS[1:5]):
            payload = {"question": question, "session_id": session_id} if i < 3 else {"question": question}
            answer = await call(client, "POST", "/api/v1/answer", json=payload)
            assert answer.status_code == 200, answer.text
            assert answer.json()["answer"]
            ids.append(answer.json()["answer_id"])
        other_session = answer.json()["session_id"]
        query = await call(client, "POST", "/api/v1/query", json={"question": QUESTIONS[2]})
        assert query.status_code == 200
        assert set(ids) <= {t.answer_id for t in agent.pending}
        docs = await call(client, "GET", "/api/v1/index/documents", headers=auth())
        assert docs.status_code == 503 and docs.headers.get("retry-after"), (
            docs.text
        )  # needs the database: 503, never 500
        assert set(docs.json()) == {"error", "details", "request_id"}
        body = chapter_body()
        body["metadata"]["source_file"] = "docs/outage/index.md"
        indexed = await call(client, "POST", "/api/v1/index", json=body, headers=auth())
        assert indexed.status_code == 503, indexed.text  # the registry write needs the database
        assert (await message_counts(pg_url, tmp_path, ids)) == dict.fromkeys(ids, 0)
        assert logged(settings, "MESSAGE_RECORD_DEFERRED") >= 1

        await proxy.restore()

        async def all_recorded() -> bool:
            return set((await message_counts(pg_url, tmp_path, ids)).values()) == {1}

        assert await wait_until(all_recorded, timeout=30, interval=0.5), await message_counts(pg_url, tmp_path, ids)
        assert await wait_until(lambda: ready_status_is(client, 200), timeout=15)
        assert not agent.pending
        await asyncio.sleep(2.5)  # one more flush cycle: nothing is written twice
        assert (await message_counts(pg_url, tmp_path, ids)) == dict.fromkeys(ids, 1)
        n, row = await session_message_count(pg_url, tmp_path, session_id)
        assert n == 4 and row is not None
        assert (await session_message_count(pg_url, tmp_path, other_session))[0] == 1
        after = await call(client, "POST", "/api/v1/answer", json={"question": QUESTIONS[6], "session_id": session_id})
        assert after.status_code == 200
        assert (await session_message_count(pg_url, tmp_path, session_id))[0] == 5  # written inline again


async def ready_status_is(client: httpx.AsyncClient, code: int) -> bool:
    return await ready_status(client) == code


async def test_database_cut_off(pg_url: str, tmp_path: Path, proxy: TcpProxy) -> None:
    await check_database_outage(pg_url, tmp_path, proxy, "cut")


async def test_database_stalled(pg_url: str, tmp_path: Path, proxy: TcpProxy) -> None:
    await check_database_outage(pg_url, tmp_path, proxy, "stall")


@pytest.mark.parametrize("fault", ["cut", "stall"])
async def test_shutdown_while_database_is_down_does_not_hang(
    pg_url: str, tmp_path: Path, proxy: TcpProxy, fault: str
) -> None:
    await asyncio.to_thread(run_migrations, pg_url)
    settings = make_settings(tmp_path, database_url=via(proxy, pg_url), auto_migrate=False, db_timeout_seconds=1.0)

    async def scenario() -> int:
        async with running_app(settings) as (app, client):
            assert await ready_status(client) == 200
            await (proxy.cut() if fault == "cut" else proxy.stall())
            answer = await call(client, "POST", "/api/v1/answer", json={"question": QUESTIONS[0]})
            assert answer.status_code == 200
            return len(app.state.container.recorder.pending)

    started = time.monotonic()
    assert await asyncio.wait_for(scenario(), 60) == 1
    print(f"shutdown scenario ({fault}) took {time.monotonic() - started:.1f}s")
    assert logged(settings, "MESSAGES_NOT_RECORDED_AT_SHUTDOWN") == 1
    assert logged(settings, "SERVICE_STOPPED") == 1
