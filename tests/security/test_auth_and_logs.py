"""The Bearer key on every authoring route, the security events operators grep for in logs/app.log,
no secret in any log line or error body, and every environment but test refusing to start with a weak key."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from src.kit.settings import Settings
from tests.conftest import API_KEY, REPO, auth, env_for, free_port, make_settings, running_app

INDEX_ROUTES = [
    ("POST", "/api/v1/index", {"json": {"content": "# T\n\ntext", "metadata": {"source_file": "a.md"}}}),
    ("PUT", "/api/v1/index", {"json": {"content": "# T\n\ntext", "metadata": {"source_file": "a.md"}}}),
    ("DELETE", "/api/v1/index/a.md", {}),
    ("DELETE", "/api/v1/index/docs/nested/page.md", {}),
    ("GET", "/api/v1/index/health", {}),
    ("GET", "/api/v1/index/documents", {}),
]


def log_events(log_dir: Path) -> list[dict[str, Any]]:
    path = log_dir / "app.log"
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def assert_logged(events: list[dict[str, Any]], name: str, request_id: str) -> dict[str, Any]:
    matches = [e for e in events if e.get("event") == name and e.get("request_id") == request_id]
    assert matches, f"no {name} line with request_id {request_id}"
    assert matches[0].get("client") == "127.0.0.1", matches[0]
    return matches[0]


def rid(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error", "details", "request_id"}
    assert response.headers["x-request-id"] == body["request_id"]
    return str(body["request_id"])


def wait_for_next_minute_if_close(margin: float = 8.0) -> None:
    left = 60 - time.time() % 60
    if left < margin:
        time.sleep(left + 0.2)


async def chunked(total: int) -> AsyncIterator[bytes]:
    for _ in range(total // 1024 + 1):
        yield b"x" * 1024


async def test_security_events_are_logged_with_client_and_request_id_and_no_secret(tmp_path: Path) -> None:
    wrong_key = f"wrong-{uuid.uuid4().hex}"
    settings = make_settings(
        tmp_path, max_body_bytes=4096, max_index_content_chars=100, rate_limit_requests_per_minute=3
    )
    bodies: list[str] = []
    auth_failures: list[str] = []
    async with running_app(settings) as (_, client):
        for headers in (
            {},
            {"Authorization": f"Bearer {wrong_key}"},
            {"Authorization": wrong_key},
            {"Authorization": f"Basic {API_KEY}"},
        ):
            for method, path, kwargs in INDEX_ROUTES:
                response = await client.request(method, path, headers=headers, **kwargs)
                assert response.status_code == 401, (method, path, response.text)
                assert response.headers["www-authenticate"] == "Bearer"
                auth_failures.append(rid(response))
                bodies.append(response.text)

        with_key = {"Authorization": f"Bearer {API_KEY}"}
        wait_for_next_minute_if_close()  # the answer below and the queries after it must share one window
        rejected = [
            await client.post(
                "/api/v1/answer", json={"question": "x", "k": 0}, headers={"Authorization": f"Bearer {wrong_key}"}
            ),
            await client.post(
                "/api/v1/index", json={"content": "x" * 101, "metadata": {"source_file": "a.md"}}, headers=with_key
            ),
            await client.post(
                "/api/v1/index", json={"content": "x", "metadata": {"source_file": "../etc/passwd"}}, headers=with_key
            ),
            await client.delete("/api/v1/index/%2e%2e/secrets", headers=with_key),
            await client.post(
                "/api/v1/index", content=b"x" * 5000, headers={**with_key, "content-type": "application/json"}
            ),
            await client.post(
                "/api/v1/index", content=chunked(6000), headers={**with_key, "content-type": "application/json"}
            ),
        ]
        assert [r.status_code for r in rejected] == [422, 422, 422, 422, 413, 413]
        validation_failures = [rid(r) for r in rejected]
        bodies += [r.text for r in rejected]

        # The answer above counted against the limit of 3 too (the limiter runs before validation).
        statuses = []
        for _ in range(4):
            response = await client.post(
                "/api/v1/query",
                json={"question": "What is a humanoid?"},
                headers={"Authorization": f"Bearer {API_KEY}"},
            )
            statuses.append(response.status_code)
        assert statuses == [200, 200, 429, 429]
        limited = rid(response)
        bodies.append(response.text)

    events = log_events(settings.log_dir)
    for request_id in auth_failures:
        line = assert_logged(events, "AUTHENTICATION_FAILURE", request_id)
        assert line["reason"] in {"missing_key", "invalid_key"} and line["path"].startswith("/api/v1/index")
    for request_id in validation_failures:
        assert_logged(events, "INPUT_VALIDATION_FAILURE", request_id)
    assert assert_logged(events, "RATE_LIMIT_EXCEEDED", limited)["limit"] == "requests"
    # Each authentication failure is logged once, not once per layer.
    assert sum(e.get("event") == "AUTHENTICATION_FAILURE" for e in events) == len(auth_failures)

    log_text = (settings.log_dir / "app.log").read_text()
    for secret in (API_KEY, wrong_key):
        assert secret not in log_text, secret
        assert not any(secret in body for body in bodies), secret


async def test_database_password_and_tracebacks_are_redacted(tmp_path: Path) -> None:
    password = f"Pw-{uuid.uuid4().hex}"
    dsn = f"postgresql://rag_user:{password}@127.0.0.1:1/rag"
    settings = make_settings(tmp_path, database_url=dsn)
    async with running_app(settings) as (app, client):

        async def leaky() -> None:
            raise ConnectionError(f"could not reach {dsn} with Authorization: Bearer {API_KEY}")

        app.add_api_route("/api/v1/test-leaky", leaky, methods=["GET"])
        health = await client.get("/api/v1/health")
        assert health.status_code == 503 and health.json()["services"]["database"]["status"] == "down"
        docs = await client.get("/api/v1/index/documents", headers=auth())
        assert docs.status_code == 503
        assert rid(docs)
        answer = await client.post("/api/v1/answer", json={"question": "What is a humanoid robot?"})
        assert answer.status_code == 200  # the turn waits in memory for the database
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as raw:
            broken = await raw.get("/api/v1/test-leaky")
        assert broken.status_code == 500
        bodies = [health.text, docs.text, answer.text, broken.text]

    events = log_events(settings.log_dir)
    crash = [e for e in events if e.get("event") == "UNHANDLED_EXCEPTION" and e.get("request_id") == rid(broken)]
    assert crash and "ConnectionError" in crash[0]["exception"] and "[redacted]" in crash[0]["exception"]
    assert any(e.get("event") == "DATABASE_UNAVAILABLE" for e in events)
    log_text = (settings.log_dir / "app.log").read_text()
    for secret in (password, API_KEY):
        assert secret not in log_text
        assert not any(secret in body for body in bodies)


@pytest.mark.parametrize("key", [None, "", "short", "changeme", "password", "k" * 31])
def test_production_settings_refuse_a_missing_or_weak_key(key: str | None) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, environment="production", indexing_api_key=key)  # type: ignore[call-arg]
    message = str(caught.value)
    assert "INDEXING_API_KEY" in message
    if key:
        assert f"'{key}'" not in message  # the refused key is not echoed


def test_a_strong_key_is_accepted_everywhere_and_a_weak_one_in_test_only() -> None:
    strong = "S" * 32
    for environment in ("production", "development", "test"):
        assert (
            Settings(
                _env_file=None, environment=environment, indexing_api_key=strong
            ).indexing_api_key.get_secret_value()
            == strong
        )  # type: ignore[call-arg, union-attr]
    assert (
        Settings(_env_file=None, environment="test", indexing_api_key="short", indexing_api_keys="ci:tiny").environment
        == "test"
    )  # type: ignore[call-arg]


@pytest.mark.parametrize("setting", ["indexing_api_key", "indexing_api_keys"])
@pytest.mark.parametrize("key", ["short", "changeme", "k" * 31])
def test_development_refuses_a_weak_key_too(setting: str, key: str) -> None:
    value = key if setting == "indexing_api_key" else f"ci:{key}"
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, environment="development", **{setting: value})  # type: ignore[arg-type]
    assert "is weak" in str(caught.value) and f"'{key}'" not in str(caught.value)


async def test_a_weak_key_in_the_keys_file_is_refused_outside_test(tmp_path: Path) -> None:
    """A file's line is refused, not the start (security/keys.py): the strong lines work."""
    strong = f"ops-{uuid.uuid4().hex}{uuid.uuid4().hex}"
    keys_file = tmp_path / "indexing_keys"
    keys_file.write_text(f"ci:weak-Qz7-key\nops:{strong}\n")
    settings = make_settings(tmp_path, environment="development", indexing_api_keys_file=keys_file)
    async with running_app(settings) as (_, client):
        statuses = [
            (await client.get("/api/v1/index/health", headers={"Authorization": f"Bearer {k}"})).status_code
            for k in ("weak-Qz7-key", strong, API_KEY)
        ]
        assert statuses == [401, 200, 200]
    (failed,) = [e for e in log_events(settings.log_dir) if e.get("event") == "ACCESS_RELOAD_FAILED"]
    assert (
        "line 1 ('ci'): the key is weak" in failed["error"]
        and "weak-Qz7-key" not in (settings.log_dir / "app.log").read_text()
    )


@pytest.mark.parametrize(
    ("environment", "key"), [("production", ""), ("production", "weak-Qz7-key"), ("development", "weak-Qz7-key")]
)
def test_a_server_refuses_to_start_without_a_strong_key(tmp_path: Path, environment: str, key: str) -> None:
    password = f"Pw-{uuid.uuid4().hex}"
    env = env_for(make_settings(tmp_path)) | {
        "ENVIRONMENT": environment,
        "INDEXING_API_KEY": key,
        "DATABASE_URL": f"postgresql://rag_user:{password}@127.0.0.1:1/rag",
    }
    command = [sys.executable, "-m", "uvicorn", "src.api.main:app", "--host", "127.0.0.1", "--port", str(free_port())]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, timeout=120, check=False)
    output = (done.stdout + done.stderr).decode(errors="replace")
    assert done.returncode != 0, output[-2000:]
    assert "INDEXING_API_KEY" in output
    assert password not in output
    if key:
        assert key not in output


def test_production_server_starts_with_a_strong_key(tmp_path: Path, live_server_factory: Any) -> None:
    strong = f"prod-{uuid.uuid4().hex}{uuid.uuid4().hex}"
    assert len(strong) >= 32
    settings = make_settings(tmp_path, environment="production", indexing_api_key=strong)
    server = live_server_factory(settings)
    assert server.proc.poll() is None
    ok = httpx.get(server.url + "/api/v1/index/health", headers={"Authorization": f"Bearer {strong}"}, timeout=10)
    assert ok.status_code == 200 and ok.json()["status"] == "healthy"
    refused = httpx.get(server.url + "/api/v1/index/health", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10)
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    events = log_events(settings.log_dir)
    assert_logged(events, "AUTHENTICATION_FAILURE", rid(refused))
    for text in ((settings.log_dir / "app.log").read_text(), server.log(), refused.text):
        assert strong not in text and API_KEY not in text
