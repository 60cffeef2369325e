"""Shared fixtures: real components only. PostgreSQL and Redis are the machine's own; under CI a
test that needs one fails when it is absent, elsewhere it is skipped with the reason."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from src.app import create_app
from src.kit.settings import Settings

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
IN_CI = os.environ.get("CI", "").lower() == "true"
PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
API_KEY = "test-indexing-key-0123456789abcdef0123456789"
# The prepared embedding model is cached once for the whole run, not rebuilt in every test's DATA_DIR.
MODEL_CACHE = Path(tempfile.gettempdir()) / "rag-backend-test-models"


def unavailable(reason: str) -> None:
    """Fail under CI (where every service and ../shared must be present), skip elsewhere."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this must be present)")
    pytest.skip(reason)


def shared_path(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        unavailable(f"{path} is absent: the shared data sits beside the project in CI, not in a user's own clone")
    return path


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "data_dir": tmp_path / "data",
        "log_dir": tmp_path / "logs",
        "indexing_api_key": API_KEY,
        "database_url": None,
        "qdrant_url": None,
        "redis_url": None,
        "rate_limit_requests_per_minute": 100_000,
        "rate_limit_tokens_per_minute": 100_000_000,
        "rate_limit_concurrent_requests": 1000,
        "auth_failure_limit": 10_000,  # tests of other things send wrong keys freely; tests/security lowers it
        "cleanup_interval_seconds": 3600,
        "model_cache_dir": MODEL_CACHE,
        # Tests that share Redis are about sharing. On a loaded 2-core CI machine another task can hold the
        # event loop past the production bound (0.5 s) and send one instance to its in-process fallback
        # (CI stop 16 saw 9 requests pass a shared limit of 5). Tests of Redis timeouts set their own.
        "redis_timeout_seconds": 5.0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """The real app with its lifespan, spoken to over ASGI."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60) as client:
            yield app, client


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(settings) as (_, c):
        yield c


@pytest.fixture(scope="session")
def pg_available() -> None:
    if not port_open("127.0.0.1", 5432):
        unavailable("PostgreSQL is not reachable on 127.0.0.1:5432")


@asynccontextmanager
async def fresh_database(prefix: str = "rag_test") -> AsyncIterator[str]:
    """A new, empty PostgreSQL database, dropped afterwards."""
    import asyncpg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        admin = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
async def pg_url(pg_available: None) -> AsyncIterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    async with fresh_database() as url:
        yield url


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    if not port_open("127.0.0.1", 6379):
        unavailable("Redis is not reachable on 127.0.0.1:6379")
    import redis.asyncio as aioredis

    r = aioredis.Redis.from_url(REDIS_TEST_URL)
    await r.flushdb()
    try:
        yield REDIS_TEST_URL
    finally:
        await r.flushdb()
        await r.aclose()


class LiveServer:
    """The service as a real process on a loopback port."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def env_for(settings: Settings) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("NEON_", "DATABASE_URL", "QDRANT_", "REDIS_", "RATE_LIMIT_"))
    }
    env.update(
        {
            "HF_HUB_OFFLINE": "1",
            "ENVIRONMENT": settings.environment,
            "DATA_DIR": str(settings.data_dir),
            "LOG_DIR": str(settings.log_dir),
            "MODEL_CACHE_DIR": str(settings.models_dir),
            "INDEXING_API_KEY": settings.indexing_api_key.get_secret_value() if settings.indexing_api_key else "",
            "RATE_LIMIT_REQUESTS_PER_MINUTE": str(settings.rate_limit_requests_per_minute),
            "RATE_LIMIT_TOKENS_PER_MINUTE": str(settings.rate_limit_tokens_per_minute),
            "RATE_LIMIT_CONCURRENT_REQUESTS": str(settings.rate_limit_concurrent_requests),
            "AUTH_FAILURE_LIMIT": str(settings.auth_failure_limit),
        }
    )
    if settings.database_url:
        env["DATABASE_URL"] = settings.database_url
    if settings.redis_url:
        env["REDIS_URL"] = settings.redis_url
    if settings.qdrant_url:
        env["QDRANT_URL"] = settings.qdrant_url
    return env


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url + "/api/v1/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not become ready in {timeout}s")


@contextmanager
def served_book(tmp: Path, documents: list[tuple[str, dict[str, Any]]], **overrides: Any) -> Iterator[tuple[str, Path]]:
    """A uvicorn serving the real app (caches off, `overrides` to its settings) with `documents` ((content,
    metadata) pairs) indexed through POST /api/v1/index: its URL and data folder."""
    settings = make_settings(tmp, cache_answer_ttl_seconds=0, cache_query_ttl_seconds=0, **overrides)
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "src.api.main:app", "--host", "127.0.0.1", "--port", str(port)]
    with (tmp / "server.log").open("wb") as out:
        proc = subprocess.Popen(
            command, cwd=REPO, env=env_for(settings), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, timeout=120)
        with httpx.Client(base_url=url, timeout=300, headers={"Authorization": f"Bearer {API_KEY}"}) as client:
            for content, metadata in documents:
                response = client.post("/api/v1/index", json={"content": content, "metadata": metadata})
                assert response.status_code == 200, response.text
        yield url, settings.data_dir
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def answer_of(http: httpx.Client, question: str, **extra: Any) -> dict[str, Any]:
    """POST /api/v1/answer: the response's body, after checking it is a 200."""
    response = http.post("/api/v1/answer", json={"question": question, **extra})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def live_server_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[LiveServer] = []

    def start(settings: Settings, cmd: list[str] | None = None, extra_env: dict[str, str] | None = None) -> LiveServer:
        port = free_port()
        log_path = tmp_path / f"server-{port}.log"
        command = cmd or [
            sys.executable,
            "-m",
            "uvicorn",
            "src.api.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            "{port}",
            "--no-proxy-headers",
        ]
        command = [c.replace("{port}", str(port)) for c in command]
        env = env_for(settings) | (extra_env or {})
        with log_path.open("wb") as out:
            proc = subprocess.Popen(
                command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        server = LiveServer(proc, port, log_path)
        started.append(server)
        try:
            wait_healthy(server.url, proc)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{exc}\n--- server log ---\n{server.log()[-4000:]}") from exc
        return server

    yield start
    for server in started:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(timeout=10)
