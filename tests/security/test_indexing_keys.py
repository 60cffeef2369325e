"""Named indexing keys and their rotation without a restart (a keys file, SIGHUP on a real uvicorn), the
name of the key in the log and never the key, and failed attempts throttled per client (429 with
Retry-After, a right key included), shared by two instances through Redis."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from src.kit.settings import Settings
from tests.conftest import API_KEY, make_settings, running_app
from tests.security.test_auth_and_logs import log_events, rid

CI_KEY = f"ci-{uuid.uuid4().hex}{uuid.uuid4().hex}"
JANE_KEY = f"jane-{uuid.uuid4().hex}{uuid.uuid4().hex}"
NEW_CI_KEY = f"ci2-{uuid.uuid4().hex}{uuid.uuid4().hex}"
WRONG_KEY = f"wrong-{uuid.uuid4().hex}"
SECRETS = (API_KEY, CI_KEY, JANE_KEY, NEW_CI_KEY, WRONG_KEY)


def bearer(key: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **extra}


def key_names(log_dir: Path) -> list[str]:
    return [e["key_name"] for e in log_events(log_dir) if e.get("event") == "AUTHENTICATED"]


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


async def status_with(client: httpx.AsyncClient, key: str) -> int:
    return (await client.get("/api/v1/index/health", headers=bearer(key))).status_code


async def wait_for(client: httpx.AsyncClient, key: str, status: int, within: float = 10.0) -> int:
    """Ask until `key` gets `status` (the keys file is checked at most once a second), or give up."""
    deadline = time.monotonic() + within
    while (got := await status_with(client, key)) != status and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
    return got


async def test_named_keys_rotate_through_the_keys_file_without_restart(tmp_path: Path) -> None:
    keys_file = tmp_path / "indexing_keys"
    keys_file.write_text(f"# name:key\nci:{CI_KEY}\nauthor-jane:{JANE_KEY}\n")
    settings = make_settings(tmp_path, indexing_api_keys_file=keys_file)
    async with running_app(settings) as (_, client):
        # Every key works: the file's two and INDEXING_API_KEY, named "default"; analytics takes them too.
        assert [await status_with(client, k) for k in (CI_KEY, JANE_KEY, API_KEY)] == [200, 200, 200]
        assert (await client.get("/api/v1/analytics/summary", headers=bearer(JANE_KEY))).status_code == 200
        # Rotation of "ci": add the new key, switch, remove the old one.
        keys_file.write_text(f"ci:{CI_KEY}\nci-2026:{NEW_CI_KEY}\nauthor-jane:{JANE_KEY}\n")
        assert await wait_for(client, NEW_CI_KEY, 200) == 200
        assert await status_with(client, CI_KEY) == 200
        keys_file.write_text(f"ci-2026:{NEW_CI_KEY}\nauthor-jane:{JANE_KEY}\n")
        assert await wait_for(client, CI_KEY, 401) == 401
        assert [await status_with(client, k) for k in (NEW_CI_KEY, JANE_KEY, API_KEY)] == [200, 200, 200]
        # A broken edit fails closed: the file grants what it holds now, and its broken line grants nothing.
        keys_file.write_text(f"ci-2026 {NEW_CI_KEY}\n")
        assert await wait_for(client, NEW_CI_KEY, 401) == 401
        assert [await status_with(client, k) for k in (JANE_KEY, CI_KEY, API_KEY)] == [401, 401, 200]
        refused = await client.get("/api/v1/index/documents", headers=bearer(CI_KEY))
        assert refused.status_code == 401

    events = log_events(settings.log_dir)
    assert key_names(settings.log_dir)[:4] == ["ci", "author-jane", "default", "author-jane"]
    assert {"ci-2026", "author-jane", "default"} <= set(key_names(settings.log_dir)[4:])
    reloads = [e["keys"] for e in events if e.get("event") == "ACCESS_RELOADED"]
    assert reloads == [["default", "ci", "ci-2026", "author-jane"], ["default", "ci-2026", "author-jane"]]
    failed = [e for e in events if e.get("event") == "ACCESS_RELOAD_FAILED"]
    assert len(failed) == 1 and failed[0]["keys"] == ["default"] and "line 1" in failed[0]["error"]
    failure = [e for e in events if e.get("event") == "AUTHENTICATION_FAILURE" and e.get("request_id") == rid(refused)]
    assert failure and failure[0]["reason"] == "invalid_key"
    assert_no_secret((settings.log_dir / "app.log").read_text(), refused.text)


async def test_indexing_api_keys_setting_names_keys(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, indexing_api_key=None, indexing_api_keys=f"ci:{CI_KEY}, author-jane:{JANE_KEY}")
    async with running_app(settings) as (_, client):
        assert [await status_with(client, k) for k in (JANE_KEY, CI_KEY, API_KEY)] == [200, 200, 401]
    assert key_names(settings.log_dir) == ["author-jane", "ci"]
    assert not (settings.data_dir / "indexing_api_key").exists()  # no key generated when keys are configured
    assert_no_secret((settings.log_dir / "app.log").read_text())


REPORTS_KEY = f"reports-{uuid.uuid4().hex}{uuid.uuid4().hex}"
OPS_KEY = f"ops-{uuid.uuid4().hex}{uuid.uuid4().hex}"
DOCUMENT = {"content": "# T\n\ntext", "metadata": {"source_file": "a.md"}}


async def test_a_key_does_what_its_scopes_allow_and_no_more(tmp_path: Path) -> None:
    scoped = f"reports:{REPORTS_KEY}:analytics, ci:{CI_KEY}:index, author-jane:{JANE_KEY}:index+analytics, ops:{OPS_KEY}:admin"
    settings = make_settings(tmp_path, indexing_api_keys=scoped, auth_failure_limit=2)
    async with running_app(settings) as (app, client):

        async def statuses(key: str) -> tuple[int, int]:
            index = await client.get("/api/v1/index/health", headers=bearer(key))
            analytics = await client.get("/api/v1/analytics/summary", headers=bearer(key))
            return index.status_code, analytics.status_code

        assert await statuses(REPORTS_KEY) == (403, 200)
        assert await statuses(CI_KEY) == (200, 403)
        assert [await statuses(k) for k in (JANE_KEY, OPS_KEY, API_KEY)] == [
            (200, 200)
        ] * 3  # API_KEY: INDEXING_API_KEY, admin
        # The analytics key may not write: refused before the body is read, malformed JSON included.
        forbidden = [
            await client.post("/api/v1/index", headers=bearer(REPORTS_KEY), json=DOCUMENT),
            await client.put("/api/v1/index", headers=bearer(REPORTS_KEY), json=DOCUMENT),
            await client.delete("/api/v1/index/a.md", headers=bearer(REPORTS_KEY)),
            await client.post(
                "/api/v1/index",
                headers=bearer(REPORTS_KEY, **{"content-type": "application/json"}),
                content=b"{not json",
            ),
        ]
        assert [r.status_code for r in forbidden] == [403] * 4
        for response in forbidden:
            body = response.json()
            assert body["error"] == "forbidden" and "'index' scope" in body["details"] and rid(response)
        # A right key without the scope guessed nothing: with a limit of 2 failures, six 403s later a wrong
        # key is still the first failure (401, not 429), and the right keys work.
        assert (await client.get("/api/v1/index/health", headers=bearer(WRONG_KEY))).status_code == 401
        assert await statuses(CI_KEY) == (200, 403)
        openapi = app.openapi()["paths"]
        assert (
            "403" in openapi["/api/v1/index"]["post"]["responses"]
            and "403" in openapi["/api/v1/analytics/summary"]["get"]["responses"]
        )

    events = log_events(settings.log_dir)
    refused = [e for e in events if e.get("event") == "AUTHORIZATION_FAILURE"]
    assert [(e["key_name"], e["scope"]) for e in refused] == [("reports", "index"), ("ci", "analytics")] + [
        ("reports", "index")
    ] * 4 + [("ci", "analytics")]
    assert {e["request_id"] for e in refused} >= {rid(r) for r in forbidden}
    assert [e["failures"] for e in events if e.get("event") == "AUTHENTICATION_FAILURE"] == [1]
    assert_no_secret((settings.log_dir / "app.log").read_text(), *(r.text for r in forbidden))
    for secret in (REPORTS_KEY, OPS_KEY):
        assert secret not in (settings.log_dir / "app.log").read_text()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ci", "entry 1: not name:key"),
        ("ci:a,ci:b", "same name"),
        ("a:k1,b:k1", "same key"),
        ("bad name:k", "entry 1"),
        ("ci:k1:write", "entry 1: scopes are index, analytics or admin"),
        (f"default:{'d' * 40}", "the name or the key of INDEXING_API_KEY"),
    ],
)
def test_malformed_indexing_api_keys_are_refused_without_echoing_a_key(value: str, message: str) -> None:
    """INDEXING_API_KEYS is a setting: unlike a line of the keys file, a bad entry stops the start."""
    with pytest.raises(ValidationError) as caught:
        Settings(
            _env_file=None, environment="test", indexing_api_key=SecretStr(API_KEY), indexing_api_keys=SecretStr(value)
        )
    assert message in str(caught.value) and "k1" not in str(caught.value) and "d" * 40 not in str(caught.value)


def test_production_needs_every_named_key_strong() -> None:
    strong = "S" * 32
    assert (
        Settings(
            _env_file=None, environment="production", indexing_api_keys=SecretStr(f"ci:{strong}")
        ).indexing_api_keys
        is not None
    )
    with pytest.raises(ValidationError, match="INDEXING_API_KEY"):
        Settings(_env_file=None, environment="production", indexing_api_keys=SecretStr(f"ci:{strong},jane:short"))
    with pytest.raises(ValidationError, match="INDEXING_API_KEY"):
        Settings(
            _env_file=None,
            environment="production",
            indexing_api_key=SecretStr(strong),
            indexing_api_keys=SecretStr("jane:changeme"),
        )


def test_sighup_reloads_the_keys_of_a_running_uvicorn(tmp_path: Path, live_server_factory: Any) -> None:
    keys_file = tmp_path / "indexing_keys"
    keys_file.write_text(f"ci:{CI_KEY}\nauthor-jane:{JANE_KEY}\n")
    settings = make_settings(tmp_path)
    server = live_server_factory(settings, extra_env={"INDEXING_API_KEYS_FILE": str(keys_file)})
    url = server.url + "/api/v1/index/health"

    def status(key: str) -> int:
        return httpx.get(url, headers=bearer(key), timeout=10).status_code

    assert [status(CI_KEY), status(JANE_KEY), status(API_KEY)] == [200, 200, 200]
    # Replace the "ci" key in place, leaving mtime, size and inode as they were: the file watcher cannot
    # see the change, so only the signal can bring it in.
    before = os.stat(keys_file)
    replacement = f"ci:{CI_KEY[:3]}{NEW_CI_KEY[4 : 4 + len(CI_KEY) - 3]}\nauthor-jane:{JANE_KEY}\n"
    assert len(replacement) == len(keys_file.read_text())
    rotated_key = replacement.splitlines()[0].split(":", 1)[1]
    secrets_here = (*SECRETS, rotated_key)
    with keys_file.open("r+") as f:
        f.write(replacement)
    os.utime(keys_file, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(keys_file)
    assert (after.st_mtime_ns, after.st_size, after.st_ino) == (before.st_mtime_ns, before.st_size, before.st_ino)
    time.sleep(1.2)  # past the watcher's check interval
    assert [status(CI_KEY), status(rotated_key)] == [200, 401]

    os.kill(server.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        time.sleep(0.2)
        assert server.proc.poll() is None, f"SIGHUP ended the server\n{server.log()[-2000:]}"
        if status(CI_KEY) == 401:
            break
    assert [status(CI_KEY), status(rotated_key), status(JANE_KEY), status(API_KEY)] == [401, 200, 200, 200]

    events = log_events(settings.log_dir)
    assert [e["trigger"] for e in events if e.get("event") == "ACCESS_RELOADED"] == ["sighup"]
    assert any(e.get("event") == "ACCESS_RELOAD_SIGNAL" for e in events)
    assert key_names(settings.log_dir)[-3:] == ["ci", "author-jane", "default"]
    for text in ((settings.log_dir / "app.log").read_text(), server.log()):
        for secret in secrets_here:
            assert secret not in text


async def check_failed_attempts_are_throttled(tmp_path: Path, redis_url: str | None) -> None:
    limit, window = 4, 6
    one_settings = make_settings(
        tmp_path / "a",
        redis_url=redis_url,
        auth_failure_limit=limit,
        auth_failure_window_seconds=window,
        trusted_proxies="1",
    )
    two_settings = make_settings(
        tmp_path / "b",
        redis_url=redis_url,
        auth_failure_limit=limit,
        auth_failure_window_seconds=window,
        trusted_proxies="1",
    )
    attacker, bystander = {"X-Forwarded-For": "6.6.6.6, 198.51.100.66"}, {"X-Forwarded-For": "198.51.100.77"}
    async with running_app(one_settings) as (_, one), running_app(two_settings) as (_, two):
        # With Redis the two instances share one count; without it each counts its own.
        clients = [one, two] * (limit // 2) if redis_url else [one] * limit
        for client in clients:
            assert (await client.get("/api/v1/index/health", headers=bearer(WRONG_KEY, **attacker))).status_code == 401
        refused = []
        for client in (one, two) if redis_url else (one,):
            for key in (WRONG_KEY, API_KEY):  # past the limit a right key is refused too
                response = await client.post(
                    "/api/v1/index",
                    headers=bearer(key, **attacker),
                    json={"content": "x", "metadata": {"source_file": "a.md"}},
                )
                assert response.status_code == 429, response.text
                body = response.json()
                assert body["error"] == "rate_limited" and body["details"]["limit"] == "authentication_failures"
                assert body["details"]["allowed"] == limit and rid(response)
                retry_after = int(response.headers["retry-after"])
                assert 1 <= retry_after <= window
                refused.append(response)
        # Another client is not affected.
        assert (await one.get("/api/v1/index/health", headers=bearer(API_KEY, **bystander))).status_code == 200
        # Once the window has passed, the right key works again.
        await asyncio.sleep(retry_after + 0.5)
        assert (await one.get("/api/v1/index/health", headers=bearer(API_KEY, **attacker))).status_code == 200
    events = log_events(one_settings.log_dir) + log_events(two_settings.log_dir)
    counts = sorted(e["failures"] for e in events if e.get("event") == "AUTHENTICATION_FAILURE")
    assert counts == list(range(1, limit + 1)), counts
    assert all(
        e["client"] == "198.51.100.66" and e["limit"] == limit
        for e in events
        if e.get("event") == "AUTHENTICATION_FAILURE"
    )
    throttled = [e for e in events if e.get("event") == "AUTHENTICATION_THROTTLED"]
    assert len(throttled) == len(refused) and all(e["failures"] == limit for e in throttled)
    for path in (one_settings.log_dir / "app.log", two_settings.log_dir / "app.log"):
        assert_no_secret(path.read_text(), *(r.text for r in refused))


async def test_failed_key_attempts_are_throttled_in_process(tmp_path: Path) -> None:
    await check_failed_attempts_are_throttled(tmp_path, None)


async def test_failed_key_attempts_are_throttled_across_instances_sharing_redis(tmp_path: Path, redis_url: str) -> None:
    await check_failed_attempts_are_throttled(tmp_path, redis_url)


async def check_a_burst_does_not_overshoot(tmp_path: Path, redis_url: str | None) -> None:
    """A burst of wrong keys sent at once (over two instances when they share Redis) gets at most the limit's
    401s: the count is read and raised in one atomic step. Reading it, comparing the key and counting after
    let every attempt in flight through the read (30 of 30 got 401 here with Redis)."""
    shared = redis_url is not None
    limit, burst = 4, 30
    settings = [
        make_settings(
            tmp_path / name,
            redis_url=redis_url,
            auth_failure_limit=limit,
            auth_failure_window_seconds=60,
            trusted_proxies="1",
        )
        for name in ("a", "b")
    ]
    attacker = {"X-Forwarded-For": "203.0.113.9"}
    async with running_app(settings[0]) as (_, one), running_app(settings[1]) as (_, two):
        clients = [one, two] if shared else [one]
        responses = await asyncio.gather(
            *(
                clients[i % len(clients)].get("/api/v1/index/health", headers=bearer(WRONG_KEY, **attacker))
                for i in range(burst)
            )
        )
        codes = sorted(r.status_code for r in responses)
        assert codes == [401] * limit + [429] * (burst - limit), codes
        # A right key from another client is untouched, and gives nothing back to the attacker's count.
        assert (
            await one.get("/api/v1/index/health", headers=bearer(API_KEY, **{"X-Forwarded-For": "203.0.113.10"}))
        ).status_code == 200
        assert (await clients[-1].get("/api/v1/index/health", headers=bearer(API_KEY, **attacker))).status_code == 429
    events = [e for s in settings for e in log_events(s.log_dir)]
    assert sorted(e["failures"] for e in events if e.get("event") == "AUTHENTICATION_FAILURE") == list(
        range(1, limit + 1)
    )
    assert sum(e.get("event") == "AUTHENTICATION_THROTTLED" for e in events) == burst - limit + 1


async def test_a_burst_of_wrong_keys_does_not_overshoot_the_limit_in_process(tmp_path: Path) -> None:
    await check_a_burst_does_not_overshoot(tmp_path, None)


async def test_a_burst_of_wrong_keys_over_two_instances_does_not_overshoot_the_shared_limit(
    tmp_path: Path, redis_url: str
) -> None:
    await check_a_burst_does_not_overshoot(tmp_path, redis_url)


async def test_a_right_key_counts_nothing(tmp_path: Path, redis_url: str) -> None:
    """A client that failed limit - 1 times authenticates as often as it likes, at once or in turn, and its
    next wrong key is still the one the limit allows."""
    limit = 3
    settings = make_settings(tmp_path, redis_url=redis_url, auth_failure_limit=limit, auth_failure_window_seconds=60)
    async with running_app(settings) as (_, client):
        for _ in range(limit - 1):
            assert (await client.get("/api/v1/index/health", headers=bearer(WRONG_KEY))).status_code == 401
        right = await asyncio.gather(*(client.get("/api/v1/index/health", headers=bearer(API_KEY)) for _ in range(8)))
        assert [r.status_code for r in right] == [200] * 8
        assert (await client.get("/api/v1/index/health", headers=bearer(WRONG_KEY))).status_code == 401
        assert (await client.get("/api/v1/index/health", headers=bearer(API_KEY))).status_code == 429
    failures = [e["failures"] for e in log_events(settings.log_dir) if e.get("event") == "AUTHENTICATION_FAILURE"]
    assert failures == list(range(1, limit + 1)), failures
