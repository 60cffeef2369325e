"""Key rotation: an indexing key rotated under steady authenticated load, as docs/runbook.md section 7 says.

Add the new key to INDEXING_API_KEYS_FILE, switch the clients, remove the old key, on a real uvicorn serving steady
authenticated traffic the whole time. No request made with a key that is valid at that moment
fails, and the removed key is refused within seconds of its removal, without a restart."""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import make_settings
from tests.reliability.conftest import size

pytestmark = pytest.mark.slow
CLIENTS = 4


@pytest.mark.timeout(300)
async def test_rotation_under_load_loses_no_request(tmp_path: Path, live_server_factory: Any, record: Any) -> None:
    old, new = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    keys_file = tmp_path / "indexing_keys"
    keys_file.write_text(f"ci:{old}\n")
    settings = make_settings(
        tmp_path, rate_limit_requests_per_minute=0, rate_limit_tokens_per_minute=0, rate_limit_concurrent_requests=0
    )
    server = live_server_factory(settings, extra_env={"INDEXING_API_KEYS_FILE": str(keys_file)})
    phase_seconds = size(3, 30)
    current = {"key": old}
    outcomes: list[tuple[str, int | str]] = []  # (the key's state when sent, status or exception)
    stop = asyncio.Event()

    async def client_loop(client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            key = current["key"]
            try:
                r = await client.get("/api/v1/index/documents", headers={"Authorization": f"Bearer {key}"})
                outcomes.append(("valid", r.status_code))
            except httpx.HTTPError as exc:
                outcomes.append(("valid", type(exc).__name__))

    async def accepted(client: httpx.AsyncClient, key: str) -> bool:
        r = await client.get("/api/v1/index/documents", headers={"Authorization": f"Bearer {key}"})
        return r.status_code == 200

    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        loops = [asyncio.create_task(client_loop(client)) for _ in range(CLIENTS)]
        await asyncio.sleep(phase_seconds)
        # 1. Add the new key.
        keys_file.write_text(f"ci:{old}\nci-next:{new}\n")
        added_at = time.monotonic()
        while not await accepted(client, new):
            assert time.monotonic() - added_at < 10, "the new key was not accepted within 10 s"
            await asyncio.sleep(0.1)
        new_after = time.monotonic() - added_at
        await asyncio.sleep(phase_seconds)
        # 2. Switch the clients.
        current["key"] = new
        await asyncio.sleep(phase_seconds)
        # 3. Remove the old key.
        keys_file.write_text(f"ci-next:{new}\n")
        removed_at = time.monotonic()
        while await accepted(client, old):
            assert time.monotonic() - removed_at < 10, "the removed key still worked after 10 s"
            await asyncio.sleep(0.2)
        old_refused_after = time.monotonic() - removed_at
        await asyncio.sleep(phase_seconds)
        stop.set()
        await asyncio.gather(*loops)
    failed = [o for o in outcomes if o[1] != 200]
    record("authenticated requests during the rotation", len(outcomes), "-", True)
    record("failed among them (a valid key each time)", len(failed), "0", not failed)
    record("new key accepted after being added", f"{new_after:.1f} s", "≤ 10 s", new_after <= 10)
    record("old key refused after being removed", f"{old_refused_after:.1f} s", "≤ 10 s", old_refused_after <= 10)
    assert len(outcomes) > 20 * CLIENTS
    assert not failed, failed[:5]
    log = server.log()
    assert '"key_name": "ci-next"' in log and '"key_name": "ci"' in log
    assert old not in log and new not in log
