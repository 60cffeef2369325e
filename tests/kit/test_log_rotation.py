"""Four gunicorn workers write one logs/app.log and rotate it many times over: every event the
runbook greps for is found, exactly once, across app.log and its rotated files, and every line is
whole JSON (src/kit/logging.py: a file lock per write and per rotation)."""

from __future__ import annotations

import asyncio
import json
import math
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import make_settings
from tests.kit.test_shutdown import gunicorn_cmd, serve  # noqa: F401 - `serve` is a fixture

pytestmark = pytest.mark.slow
WORKERS = 4
REQUESTS = 400


@pytest.mark.timeout(300)
async def test_every_event_survives_rotation_across_workers(serve: Any, tmp_path: Path) -> None:  # noqa: F811
    settings = make_settings(tmp_path, rate_limit_requests_per_minute=0, rate_limit_tokens_per_minute=0, rate_limit_concurrent_requests=0)
    env = {"QDRANT_URL": ":memory:", "LOG_FILE_MAX_BYTES": "16384", "LOG_FILE_BACKUPS": "20", "LOG_LEVEL": "INFO"}
    server = serve(settings, cmd=gunicorn_cmd(tmp_path, "-w", str(WORKERS)), extra_env=env)
    deadline = time.monotonic() + 60
    while server.log().count("Booting worker") < WORKERS and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    # A new connection per request, so that the kernel spreads them over the workers.
    async with httpx.AsyncClient(base_url=server.url, timeout=30, headers={"Connection": "close", "Content-Type": "application/json"}) as client:

        async def malformed(n: int) -> int:
            r = await client.post("/api/v1/query", content=b'{"question": "unfinished ' + str(n).encode())
            return r.status_code

        statuses = []
        for start in range(0, REQUESTS, 20):
            statuses += await asyncio.gather(*(malformed(n) for n in range(start, start + 20)))
    assert set(statuses) == {422}
    files = sorted(settings.log_dir.glob("app.log*"))
    assert len(files) > 5, [f.name for f in files]  # rotated many times while the workers wrote
    # Rotated once per 16 KB written, not once per worker: the retention LOG_FILE_BACKUPS promises holds
    # (independent handlers each rotate on their own view of the file, and drop history early).
    written = sum(f.stat().st_size for f in files)
    assert len(files) <= math.ceil(written / 16384) + 1, (len(files), written)
    events = []
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            events.append(json.loads(line))  # no torn or interleaved line
    failures = [e for e in events if e.get("event") == "INPUT_VALIDATION_FAILURE" and e.get("path") == "/api/v1/query"]
    assert len(failures) == REQUESTS, f"{len(failures)} of {REQUESTS} events found across {len(files)} files"
    assert len({e["request_id"] for e in failures}) == REQUESTS
