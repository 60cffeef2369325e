"""Keys that revoke: INDEXING_API_KEYS_FILE fails closed. A deleted file grants nothing (the settings' keys stay
valid), a line that does not parse grants nothing while the others load, a file left with no valid key leaves
none valid; at start as on a reload, and none of it stops the service. Each failure is visible: readiness
shows it in its body (still ready), `rag_access_reload_failed{source}` is 1, and ACCESS_RELOAD_FAILED is
logged at error level with the positions, never a key. BLOCKED_CLIENTS_FILE fails towards blocking: the good
lines block at once, and what it blocked before stays blocked while it is broken."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from src.kit.settings import EntryError, Settings, parse_key_entries
from src.security.access import AccessControl
from tests.conftest import API_KEY, make_settings, running_app
from tests.security.test_auth_and_logs import log_events
from tests.security.test_forwarded_clients import assert_blocked, via, wait_for_status
from tests.security.test_indexing_keys import bearer, status_with, wait_for

CI_KEY = f"ci-{uuid.uuid4().hex}{uuid.uuid4().hex}"
JANE_KEY = f"jane-{uuid.uuid4().hex}{uuid.uuid4().hex}"
OPS_KEY = f"ops-{uuid.uuid4().hex}{uuid.uuid4().hex}"
SECRETS = (API_KEY, CI_KEY, JANE_KEY, OPS_KEY)
KEYS_FILE = "INDEXING_API_KEYS_FILE"
BLOCKS_FILE = "BLOCKED_CLIENTS_FILE"


async def access_status(client: httpx.AsyncClient) -> dict[str, Any]:
    """The `access` part of the readiness body; readiness itself must still pass."""
    response = await client.get("/api/v1/health/ready")
    assert response.status_code == 200 and response.json()["ready"] is True, response.text
    for secret in SECRETS:
        assert secret not in response.text
    found: dict[str, Any] = response.json()["access"]
    return found


async def reload_failed(client: httpx.AsyncClient, source: str) -> float:
    text = (await client.get("/metrics")).text
    match = re.search(rf'^rag_access_reload_failed\{{source="{source}"\}} (\S+)$', text, re.MULTILINE)
    assert match, f"no rag_access_reload_failed for {source}"
    return float(match.group(1))


def failures(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e.get("event") == "ACCESS_RELOAD_FAILED"]


def assert_no_secret(settings: Settings) -> None:
    text = (settings.log_dir / "app.log").read_text()
    for secret in SECRETS:
        assert secret not in text


async def test_a_deleted_keys_file_revokes_its_keys_while_indexing_api_key_still_works(tmp_path: Path) -> None:
    keys_file = tmp_path / "indexing_keys"
    keys_file.write_text(f"ci:{CI_KEY}\n")
    settings = make_settings(tmp_path, indexing_api_keys_file=keys_file)
    async with running_app(settings) as (_, client):
        assert [await status_with(client, k) for k in (CI_KEY, API_KEY)] == [200, 200]
        assert (await access_status(client)) == {"status": "ok", "failures": []}
        assert await reload_failed(client, KEYS_FILE) == 0

        keys_file.unlink()
        assert await wait_for(client, CI_KEY, 401) == 401  # within the reload interval
        assert await status_with(client, API_KEY) == 200
        assert (await access_status(client))["failures"] == [
            {"source": KEYS_FILE, "status": "missing", "errors": ["file: it does not exist"]}
        ]
        assert await reload_failed(client, KEYS_FILE) == 1

        keys_file.write_text(f"ci:{CI_KEY}\n")  # put back: valid again, and reported clean
        assert await wait_for(client, CI_KEY, 200) == 200
        assert (await access_status(client))["status"] == "ok"
        assert await reload_failed(client, KEYS_FILE) == 0

    (failed,) = failures(log_events(settings.log_dir))
    assert failed["level"] == "error" and failed["sources"] == [KEYS_FILE] and failed["keys"] == ["default"]
    assert "missing" in failed["error"]
    assert_no_secret(settings)


async def test_a_removed_key_is_refused_whatever_else_is_wrong_in_the_file(tmp_path: Path) -> None:
    keys_file = tmp_path / "indexing_keys"
    keys_file.write_text(f"# name:key\nci:{CI_KEY}\nauthor-jane:{JANE_KEY}\nops:{OPS_KEY}\n")
    settings = make_settings(tmp_path, indexing_api_keys_file=keys_file)
    async with running_app(settings) as (_, client):
        assert [await status_with(client, k) for k in (CI_KEY, JANE_KEY, OPS_KEY, API_KEY)] == [200] * 4
        # "ci" leaked: its line is removed, and the same edit breaks jane's line (a space for the colon).
        keys_file.write_text(f"# name:key\nauthor-jane {JANE_KEY}\nops:{OPS_KEY}\n")
        assert await wait_for(client, CI_KEY, 401) == 401
        assert [await status_with(client, k) for k in (JANE_KEY, OPS_KEY, API_KEY)] == [401, 200, 200]
        (failure,) = (await access_status(client))["failures"]
        assert failure["source"] == KEYS_FILE and failure["status"] == "malformed"
        assert [e.split(":")[0] for e in failure["errors"]] == ["line 2"]
        assert await reload_failed(client, KEYS_FILE) == 1

        keys_file.write_text(f"author-jane:{JANE_KEY}\nops:{OPS_KEY}\n")  # fixed
        assert await wait_for(client, JANE_KEY, 200) == 200
        assert await status_with(client, CI_KEY) == 401
        assert await reload_failed(client, KEYS_FILE) == 0

    events = log_events(settings.log_dir)
    (failed,) = failures(events)
    assert failed["level"] == "error" and failed["trigger"] == "file_changed"
    assert "line 2" in failed["error"] and failed["keys"] == ["default", "ops"]
    assert [e["keys"] for e in events if e.get("event") == "ACCESS_RELOADED"] == [["default", "author-jane", "ops"]]
    assert_no_secret(settings)


async def test_a_file_left_with_no_valid_key_leaves_no_key_valid(tmp_path: Path) -> None:
    keys_file = tmp_path / "indexing_keys"
    keys_file.write_text(f"ci:{CI_KEY}\n")
    settings = make_settings(tmp_path, indexing_api_key=None, indexing_api_keys_file=keys_file)
    async with running_app(settings) as (_, client):
        assert await status_with(client, CI_KEY) == 200
        keys_file.write_text(f"ci {CI_KEY}\n")
        assert await wait_for(client, CI_KEY, 401) == 401
        assert (await client.get("/api/v1/analytics/summary", headers=bearer(CI_KEY))).status_code == 401
        assert (await access_status(client))["status"] == "degraded"
    assert not (settings.data_dir / "indexing_api_key").exists()  # no generated key stands in for the file's


@pytest.mark.parametrize("content", [None, "ci {ci}\nops:{ops}\n"], ids=["missing", "one bad line"])
async def test_a_bad_keys_file_at_start_is_reported_and_the_service_starts(tmp_path: Path, content: str | None) -> None:
    keys_file = tmp_path / "indexing_keys"
    if content is not None:
        keys_file.write_text(content.format(ci=CI_KEY, ops=OPS_KEY))
    settings = make_settings(tmp_path, indexing_api_keys_file=keys_file)
    async with running_app(settings) as (_, client):
        assert [await status_with(client, k) for k in (CI_KEY, OPS_KEY, API_KEY)] == [
            401,
            401 if content is None else 200,
            200,
        ]
        (failure,) = (await access_status(client))["failures"]
        assert failure["status"] == ("missing" if content is None else "malformed")
        assert await reload_failed(client, KEYS_FILE) == 1
    (failed,) = failures(log_events(settings.log_dir))
    assert failed["trigger"] == "start" and failed["level"] == "error"
    assert_no_secret(settings)


def test_settings_that_do_not_validate_on_sighup_leave_the_file_to_revoke(tmp_path: Path) -> None:
    keys_file = tmp_path / "indexing_keys"
    keys_file.write_text(f"ci:{CI_KEY}\nops:{OPS_KEY}\n")
    settings = make_settings(tmp_path, indexing_api_keys_file=keys_file)

    def broken_env() -> Settings:
        return make_settings(tmp_path, indexing_api_keys_file=keys_file, auth_failure_limit=-1)

    access = AccessControl(settings, broken_env)
    assert access.current().keys.match(CI_KEY) is not None
    keys_file.write_text(f"ops:{OPS_KEY}\n")
    assert access.reload("sighup", reread_settings=True) is False
    rules = access.current()
    assert (
        rules.keys.match(CI_KEY) is None
        and rules.keys.match(OPS_KEY) is not None
        and rules.keys.match(API_KEY) is not None
    )
    assert [(r.source, r.status) for r in rules.failures] == [("settings", "invalid")]
    assert "auth_failure_limit" in access.status()["failures"][0]["errors"][0]


async def test_a_broken_blocklist_blocks_its_good_lines_and_lifts_nothing(tmp_path: Path) -> None:
    (blocklist := tmp_path / "blocked_clients").write_text("203.0.113.0/24\n")
    async with running_app(
        settings := make_settings(tmp_path, trusted_proxies="1", blocked_clients_file=blocklist)
    ) as (_, client):
        assert_blocked(await client.get("/api/v1/health", headers=via("203.0.113.5")))
        # An incident: 198.51.100.0/24 is blocked in an edit that also lifts 203.0.113.0/24 and has a typo.
        blocklist.write_text("198.51.100.0/24\n10.0.0.300\n")
        assert_blocked(await wait_for_status(client, via("198.51.100.7"), 403))  # the good line applies at once
        assert_blocked(await client.get("/api/v1/health", headers=via("203.0.113.5")))  # a broken file lifts nothing
        (failure,) = (await access_status(client))["failures"]
        assert failure == {
            "source": BLOCKS_FILE,
            "status": "malformed",
            "errors": ["line 2: not an IP address or CIDR"],
        }
        assert await reload_failed(client, BLOCKS_FILE) == 1

        blocklist.unlink()  # a missing blocklist lifts nothing either
        await asyncio.sleep(1.2)  # past the watcher's check interval
        assert_blocked(await client.get("/api/v1/health", headers=via("198.51.100.7")))
        assert (await access_status(client))["failures"][0]["status"] == "missing"

        blocklist.write_text("198.51.100.0/24\n")  # a clean file: it alone decides
        assert (await wait_for_status(client, via("203.0.113.5"), 200)).status_code == 200
        assert_blocked(await client.get("/api/v1/health", headers=via("198.51.100.7")))
        assert await reload_failed(client, BLOCKS_FILE) == 0

    logged = failures(log_events(settings.log_dir))
    assert "10.0.0.300" in logged[0]["error"] and logged[0]["blocked"] == ["198.51.100.0/24", "203.0.113.0/24"]


@pytest.mark.parametrize(
    ("text", "errors"),
    [
        ("ci:{a}:analytcs", ["line 1: scopes are index, analytics or admin, joined by '+'"]),
        ("ci:{a}:index:admin", ["line 1: not name:key or name:key:scopes"]),
        ("{a}", ["line 1: not name:key or name:key:scopes"]),
        (
            "ci:{a}\nci:{b}:index",
            ["line 1 ('ci'): another entry has the same name", "line 2 ('ci'): another entry has the same name"],
        ),
        (
            "ci:{a}, ops:{a}",
            [
                "line 1 entry 1 ('ci'): another entry has the same key",
                "line 1 entry 2 ('ops'): another entry has the same key",
            ],
        ),
        ("ci:short", ["line 1 ('ci'): the key is weak"]),
    ],
)
def test_each_bad_entry_is_refused_by_position_and_never_shown(text: str, errors: list[str]) -> None:
    a, b = uuid.uuid4().hex * 2, uuid.uuid4().hex * 2
    entries, found = parse_key_entries(text.format(a=a, b=b), strong=True, by_line=True)
    assert entries == []
    assert [str(e)[: len(expected)] for e, expected in zip(found, errors, strict=True)] == errors
    assert all(a not in str(e) and b not in str(e) for e in found)
    assert all(isinstance(e, EntryError) for e in found)
