"""Logs: four gunicorn workers write one logs/app.log and rotate it many times over.

Every event the runbook greps for is found exactly once across app.log and its rotated files, by the
runbook's own commands (docs/runbook.md section 7), and every line is whole JSON (src/kit/logging.py: a
file lock per write and per rotation). The events are the ones an incident depends on: a failed key on
the indexing routes (AUTHENTICATION_FAILURE) and malformed input (INPUT_VALIDATION_FAILURE)."""

from __future__ import annotations

import asyncio
import json
import math
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO, make_settings
from tests.kit.test_shutdown import gunicorn_cmd, serve  # noqa: F401 - `serve` is a fixture
from tests.reliability.conftest import size

pytestmark = pytest.mark.slow
WORKERS = 4
REQUESTS = size(400, 4000)  # half with a wrong key, half malformed
MAX_BYTES = size(16_384, 65_536)  # small, so that the file rotates dozens of times
BACKUPS = 200  # enough to keep every rotated file, so that every event can be counted


def runbook_count(event: str, logs_parent: Path) -> int:
    """Run the runbook's grep for `event`, as written there but with `wc -l` for its `tail`, in the folder
    that holds logs/."""
    runbook = (REPO / "docs" / "runbook.md").read_text()
    line = next((ln for ln in runbook.splitlines() if re.match(rf'grep -h "{event}" ', ln)), None)
    assert line, f'docs/runbook.md has no `grep -h "{event}" ...` line'
    command = line.split("#")[0].strip()
    command = re.sub(r"\|\s*tail -\d+$", "", command).strip()
    out = subprocess.run(
        ["bash", "-c", f"{command} | wc -l"], cwd=logs_parent, capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


@pytest.mark.timeout(900)
async def test_every_event_survives_rotation_across_workers(serve: Any, tmp_path: Path, record: Any) -> None:
    settings = make_settings(
        tmp_path, rate_limit_requests_per_minute=0, rate_limit_tokens_per_minute=0, rate_limit_concurrent_requests=0
    )
    env = {
        "QDRANT_URL": ":memory:",
        "LOG_FILE_MAX_BYTES": str(MAX_BYTES),
        "LOG_FILE_BACKUPS": str(BACKUPS),
        "LOG_LEVEL": "INFO",
        "AUTH_FAILURE_LIMIT": "0",  # every wrong key is a logged failure, none a throttled refusal
    }
    server = serve(settings, cmd=gunicorn_cmd(tmp_path, "-w", str(WORKERS)), extra_env=env)
    deadline = time.monotonic() + 60
    while server.log().count("Booting worker") < WORKERS and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    started = time.monotonic()
    # A new connection per request, so that the kernel spreads them over the workers.
    async with httpx.AsyncClient(base_url=server.url, timeout=30, headers={"Connection": "close"}) as client:

        async def malformed(n: int) -> int:
            r = await client.post(
                "/api/v1/query",
                content=b'{"question": "unfinished ' + str(n).encode(),
                headers={"Content-Type": "application/json"},
            )
            return r.status_code

        async def wrong_key(n: int) -> int:
            r = await client.get("/api/v1/index/documents", headers={"Authorization": f"Bearer wrong-key-{n}"})
            return r.status_code

        statuses: list[int] = []
        for start in range(0, REQUESTS, 20):
            batch = range(start, min(start + 20, REQUESTS))
            statuses += await asyncio.gather(*(malformed(n) if n % 2 else wrong_key(n) for n in batch))
    seconds = time.monotonic() - started
    assert sorted(set(statuses)) == [401, 422], sorted(set(statuses))
    sent = {"AUTHENTICATION_FAILURE": statuses.count(401), "INPUT_VALIDATION_FAILURE": statuses.count(422)}

    files = sorted(settings.log_dir.glob("app.log*"))
    written = sum(f.stat().st_size for f in files)
    events, torn = [], 0
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                torn += 1
    found = {name: [e for e in events if e.get("event") == name] for name in sent}
    writers = {e["pid"] for events_of in found.values() for e in events_of if "pid" in e}
    by_grep = {name: runbook_count(name, settings.log_dir.parent) for name in sent}
    duplicates = sum(len(v) - len({e["request_id"] for e in v}) for v in found.values())
    bound = math.ceil(written / MAX_BYTES) + 1

    record(
        "workers whose events are in the files (distinct pids)",
        f"{len(writers)} of {WORKERS}",
        f"{WORKERS}",
        len(writers) == WORKERS,
    )
    record(
        "requests sent",
        f"{len(statuses)} in {seconds:.1f} s ({sent['AUTHENTICATION_FAILURE']} wrong keys, {sent['INPUT_VALIDATION_FAILURE']} malformed)",
        "-",
        True,
    )
    record(
        "log files after the run (app.log and rotated)",
        f"{len(files)} ({written / 1e6:.1f} MB, rotated at {MAX_BYTES // 1024} KB)",
        "> 5",
        len(files) > 5,
    )
    record(
        "files rotated, against one rotation per MAX_BYTES written",
        f"{len(files)} for {bound} at most",
        "no extra rotation",
        len(files) <= bound,
    )
    for name, count in sent.items():
        record(f"{name} found by the runbook's grep", f"{by_grep[name]} of {count}", "all", by_grep[name] == count)
        record(
            f"{name} lines that are whole JSON, one per request",
            f"{len(found[name])} of {count}",
            "all",
            len(found[name]) == count,
        )
    record("torn or interleaved lines", torn, "0", torn == 0)
    record("events logged twice", duplicates, "0", duplicates == 0)

    assert len(writers) == WORKERS, f"only {len(writers)} of {WORKERS} workers wrote events"
    assert len(files) > 5, [f.name for f in files]  # rotated many times while the workers wrote
    # Rotated once per MAX_BYTES written, not once per worker: the retention LOG_FILE_BACKUPS promises holds
    # (independent handlers each rotate on their own view of the file, and drop history early).
    assert len(files) <= bound, (len(files), written)
    assert torn == 0
    for name, count in sent.items():
        assert len(found[name]) == count, f"{len(found[name])} of {count} {name} events found across {len(files)} files"
        assert by_grep[name] == count, f"the runbook's grep found {by_grep[name]} of {count} {name} events"
    assert duplicates == 0
