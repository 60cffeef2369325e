"""The client behind proxies (TRUSTED_PROXIES) is what rate limits, blocks and security log lines use:
a client that sends a new spoofed first X-Forwarded-For hop each time still meets its limit, and
BLOCKED_CLIENTS (IPv4 and IPv6 CIDRs, also from a file reloaded without a restart) refuses it with 403.

Over a real loopback socket too, as the service is started (gunicorn with its configured worker, gunicorn
with the runbook's `-k uvicorn.workers.UvicornWorker`, `uvicorn --no-proxy-headers` as `make run`): uvicorn's
own proxy-header handling, which trusts X-Forwarded-For from loopback, is off, so with TRUSTED_PROXIES unset
a client on 127.0.0.1 cannot pick its address with the header; with TRUSTED_PROXIES=1 the last hop is used.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import auth, make_settings, running_app
from tests.kit.test_shutdown import gunicorn_cmd, serve  # noqa: F401 - `serve` is a fixture
from tests.security.test_auth_and_logs import log_events, rid
from tests.security.test_rate_limits import assert_rate_limited, wait_for_next_minute_if_close

LIMIT = 3


def via(*hops: str) -> dict[str, str]:
    return {"X-Forwarded-For": ", ".join(hops)}


async def query(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await client.post("/api/v1/query", json={"question": f"balance {uuid.uuid4().hex[:6]}"}, headers=headers)


@pytest.mark.parametrize(
    ("setting", "proxy_hops"),
    [
        ({"trusted_proxies": "1"}, ()),
        ({"trusted_proxies": "2"}, ("10.0.0.9",)),
        ({"trusted_proxies": "127.0.0.1/32, 10.0.0.0/8"}, ("10.0.0.9", "10.1.2.3")),
        ({"trust_forwarded_for": True}, ()),  # compatibility: one proxy, the last hop
    ],
    ids=["count-1", "count-2", "cidrs", "trust-forwarded-for"],
)
async def test_a_spoofed_first_hop_does_not_dodge_the_rate_limit(
    tmp_path: Path, setting: dict[str, object], proxy_hops: tuple[str, ...]
) -> None:
    settings = make_settings(tmp_path, rate_limit_requests_per_minute=LIMIT, **setting)
    async with running_app(settings) as (_, client):
        wait_for_next_minute_if_close()
        # The ASGI peer is 127.0.0.1: the proxy closest to the service. Each request invents a new first hop.
        spoofed = [await query(client, via(f"6.6.{i}.{i}", "198.51.100.7", *proxy_hops)) for i in range(LIMIT + 2)]
        assert [r.status_code for r in spoofed] == [200] * LIMIT + [429] * 2
        assert_rate_limited(spoofed[-1], "requests", LIMIT)
        # Another real client has its own budget, whatever the first one did.
        other = await query(client, via("6.6.6.6", "198.51.100.8", *proxy_hops))
        assert other.status_code == 200, other.text
        # An oversized body from the limited client: the 413's log line names the same client.
        too_large = await client.post(
            "/api/v1/query",
            content=b"x" * (settings.max_body_bytes + 1),
            headers=via("9.9.9.9", "198.51.100.7", *proxy_hops),
        )
        assert too_large.status_code == 413

    events = log_events(settings.log_dir)
    limited = [e for e in events if e.get("event") == "RATE_LIMIT_EXCEEDED"]
    assert [e["client"] for e in limited] == ["198.51.100.7"] * 2
    oversized = next(
        e
        for e in events
        if e.get("event") == "INPUT_VALIDATION_FAILURE" and e.get("request_id") == too_large.headers["x-request-id"]
    )
    assert oversized["client"] == "198.51.100.7"
    access = {e.get("client") for e in events if e.get("event") == "request"}
    assert access == {"198.51.100.7", "198.51.100.8"}, access


async def test_without_trusted_proxies_the_header_is_ignored(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, rate_limit_requests_per_minute=LIMIT)
    async with running_app(settings) as (_, client):
        wait_for_next_minute_if_close()
        statuses = [(await query(client, via(f"198.51.100.{i}"))).status_code for i in range(LIMIT + 1)]
        assert statuses == [200] * LIMIT + [429]
    assert {e["client"] for e in log_events(settings.log_dir) if e.get("event") == "RATE_LIMIT_EXCEEDED"} == {
        "127.0.0.1"
    }


def assert_blocked(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["error"] == "forbidden" and isinstance(body["details"], str)
    assert rid(response)


async def test_blocked_cidrs_ipv4_and_ipv6_get_403_and_a_log_line(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, trusted_proxies="1", blocked_clients="203.0.113.0/24, 2001:db8:bad::/48")
    async with running_app(settings) as (_, client):
        blocked = {
            "203.0.113.7": "203.0.113.0/24",
            "::ffff:203.0.113.8": "203.0.113.0/24",
            "2001:db8:bad::1": "2001:db8:bad::/48",
            "[2001:db8:bad:ffff::2]:443": "2001:db8:bad::/48",
        }
        refused = {}
        for address in blocked:
            for method, path, body, headers in (
                ("GET", "/api/v1/health", None, {}),
                ("POST", "/api/v1/query", {"question": "x"}, {}),
                ("POST", "/api/v1/index", {"content": "x", "metadata": {"source_file": "a.md"}}, auth()),
            ):
                response = await client.request(method, path, json=body, headers={**headers, **via("6.6.6.6", address)})
                assert_blocked(response)
                refused[rid(response)] = address
        # A spoofed first hop inside a blocked network blocks nobody; neighbours outside the CIDRs pass.
        for address in ("203.0.114.1", "2001:db8:bae::1", "2001:db8::1"):
            response = await client.get("/api/v1/index/health", headers={**auth(), **via("203.0.113.7", address)})
            assert response.status_code == 200, (address, response.text)

    events = {e["request_id"]: e for e in log_events(settings.log_dir) if e.get("event") == "CLIENT_BLOCKED"}
    assert set(events) == set(refused)
    for request_id, address in refused.items():
        assert events[request_id]["cidr"] == blocked[address]
        assert events[request_id]["client"] in {"203.0.113.7", "203.0.113.8", "2001:db8:bad::1", "2001:db8:bad:ffff::2"}
    # Blocked requests never reached the rate limiter or the key check.
    assert not [
        e for e in log_events(settings.log_dir) if e.get("event") in {"RATE_LIMIT_EXCEEDED", "AUTHENTICATION_FAILURE"}
    ]


async def wait_for_status(
    client: httpx.AsyncClient, headers: dict[str, str], status: int, within: float = 10.0
) -> httpx.Response:
    """Ask until the answer has `status` (the files are checked at most once a second), or give up."""
    deadline = time.monotonic() + within
    while True:
        response = await client.get("/api/v1/health", headers=headers)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.2)


async def test_blocked_clients_file_is_reloaded_without_restart_and_a_bad_edit_keeps_the_blocks(tmp_path: Path) -> None:
    blocklist = tmp_path / "blocked_clients"
    blocklist.write_text("# incident 42\n203.0.113.0/24\n")
    settings = make_settings(tmp_path, trusted_proxies="1", blocked_clients_file=blocklist)
    async with running_app(settings) as (_, client):
        assert_blocked(await client.get("/api/v1/health", headers=via("203.0.113.5")))
        assert (await client.get("/api/v1/health", headers=via("198.51.100.7"))).status_code == 200

        blocklist.write_text("# incident 42\n203.0.113.0/24\n198.51.100.0/24\n")
        assert_blocked(await wait_for_status(client, via("198.51.100.7"), 403))

        blocklist.write_text("203.0.113.0/24\nnot-a-network\n")  # a typo: the blocks in force stay
        await asyncio.sleep(1.2)
        assert_blocked(await client.get("/api/v1/health", headers=via("198.51.100.7")))

        blocklist.write_text("203.0.113.0/24\n")  # fixed: 198.51.100.0/24 is lifted
        assert (await wait_for_status(client, via("198.51.100.7"), 200)).status_code == 200
        assert_blocked(await client.get("/api/v1/health", headers=via("203.0.113.5")))

    events = log_events(settings.log_dir)
    failed = [e for e in events if e.get("event") == "ACCESS_RELOAD_FAILED"]
    assert len(failed) == 1 and "not-a-network" in failed[0]["error"]
    reloaded = [e["blocked"] for e in events if e.get("event") == "ACCESS_RELOADED"]
    assert reloaded == [["203.0.113.0/24", "198.51.100.0/24"], ["203.0.113.0/24"]]


# --- over a real socket ----------------------------------------------------------------------------


def server_cmd(tmp_path: Path, started_by: str) -> list[str]:
    if started_by == "uvicorn":
        return [
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
    return gunicorn_cmd(tmp_path, "-w", "1", *(["-k", started_by] if started_by != "gunicorn" else []))


async def logged_clients(log_dir: Path, responses: list[httpx.Response], within: float = 10.0) -> dict[str, str]:
    """The `client` of each response's request log line, by request id (a line is written once the response is sent)."""
    wanted = {r.headers["x-request-id"] for r in responses}
    deadline = time.monotonic() + within
    while True:
        found = {
            e["request_id"]: e["client"]
            for e in log_events(log_dir)
            if e.get("event") == "request" and e.get("request_id") in wanted
        }
        if set(found) == wanted or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("started_by", ["gunicorn", "uvicorn.workers.UvicornWorker", "uvicorn"])
async def test_over_a_real_socket_the_header_does_not_choose_the_client(
    serve: Any, tmp_path: Path, started_by: str
) -> None:
    settings = make_settings(tmp_path, rate_limit_requests_per_minute=LIMIT)
    server = serve(settings, cmd=server_cmd(tmp_path, started_by))
    wait_for_next_minute_if_close()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        # 203.0.113.7 first, then a new address each time: as one client from 127.0.0.1 they share one budget.
        spoofed = [await query(client, via(f"203.0.113.{7 + i}")) for i in range(LIMIT + 1)]
    assert [r.status_code for r in spoofed] == [200] * LIMIT + [429], [r.text[:200] for r in spoofed]
    assert_rate_limited(spoofed[-1], "requests", LIMIT)
    clients = await logged_clients(settings.log_dir, spoofed)
    assert set(clients.values()) == {"127.0.0.1"} and len(clients) == len(spoofed), clients
    limited = [e["client"] for e in log_events(settings.log_dir) if e.get("event") == "RATE_LIMIT_EXCEEDED"]
    assert limited == ["127.0.0.1"], limited


async def test_over_a_real_socket_one_trusted_proxy_means_the_last_hop(serve: Any, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, rate_limit_requests_per_minute=LIMIT, trusted_proxies="1")
    server = serve(settings, cmd=server_cmd(tmp_path, "gunicorn"), extra_env={"TRUSTED_PROXIES": "1"})
    wait_for_next_minute_if_close()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        limited = [await query(client, via(f"6.6.{i}.{i}", "203.0.113.7")) for i in range(LIMIT + 1)]
        other = await query(client, via("6.6.6.6", "198.51.100.8"))
    assert [r.status_code for r in limited] == [200] * LIMIT + [429]
    assert other.status_code == 200, other.text
    clients = await logged_clients(settings.log_dir, [*limited, other])
    assert [clients.get(r.headers["x-request-id"]) for r in limited] == ["203.0.113.7"] * len(limited), clients
    assert clients.get(other.headers["x-request-id"]) == "198.51.100.8"
