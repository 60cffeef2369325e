"""Two releases side by side: the runbook's expand-then-contract deploy and its rollback, under load.

The old release is this checkout; the new one is a copy of its runtime files plus one expand migration
(a nullable column on `messages`, tests/db/releases.py). Both start as production starts them, the
migrate command first (`python -m src.cli migrate`, which must succeed), then a uvicorn process, on the
same PostgreSQL database, each with its own empty in-memory vector store. A few clients send
/api/v1/query and /api/v1/answer (answers write session rows) to whichever release is current while
readiness is polled. Runbook section 11: migrate from the new tree with the old release serving, start
the new release, switch traffic, drain the old; then roll back the same way (the old release's migrate
command leaves the newer schema, which lists it, as it is) and downgrade from the new tree. No request
may fail, and the old release stays ready on the expanded schema. The contrary: the same step marked as a contract step
makes the old release report "incompatible"."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from src.db.migrations import alembic_head, current_revision
from src.kit.db import create_engine
from tests.conftest import REPO, free_port, make_settings, wait_healthy
from tests.db.releases import NEW_REVISION, alembic_by_hand, migrate, new_release, release_env
from tests.kit.test_shutdown import EXIT_BOUND_SECONDS
from tests.reliability.conftest import size
from tests.reliability.test_load import unstored_answers

pytestmark = pytest.mark.slow
CLIENTS = 3
REQUEST_TIMEOUT = 30.0
START_TIMEOUT = 180.0  # a release loads the embedding model at start, on a machine shared with other work
NO_LIMITS = {
    "RATE_LIMIT_REQUESTS_PER_MINUTE": "0",
    "RATE_LIMIT_TOKENS_PER_MINUTE": "0",
    "RATE_LIMIT_CONCURRENT_REQUESTS": "0",
}
QUESTIONS = [
    "What is the Zero Moment Point in bipedal locomotion?",
    "How do humanoid robots keep their balance?",
    "What sensors does a humanoid robot use?",
    "What is a support polygon?",
    "How does ROS 2 pass messages between nodes?",
]


async def alembic(tmp_path: Path, tree: Path, database_url: str, *args: str) -> None:
    """The runbook's `python -m alembic ...` from a release's checkout, off the event loop."""
    await asyncio.to_thread(alembic_by_hand, tmp_path, tree, database_url, *args)


async def database_revision(tmp_path: Path, database_url: str) -> str | None:
    engine = create_engine(make_settings(tmp_path, database_url=database_url))
    try:
        return await current_revision(engine)
    finally:
        await engine.dispose()


async def ready(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10, headers={"Connection": "close"}) as probe:
        return await probe.get(url + "/api/v1/health/ready")


# --- releases as processes -------------------------------------------------------------------------


@dataclass
class Release:
    name: str
    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path
    migrated: str  # what its migrate command printed

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Releases:
    """Starts a release's uvicorn in its own tree (live_server_factory always runs this checkout) and,
    at teardown, SIGKILLs each process group it started."""

    def __init__(self, tmp_path: Path, database_url: str) -> None:
        self.tmp_path = tmp_path
        self.database_url = database_url
        self.started: list[Release] = []

    async def start(self, tree: Path, name: str) -> Release:
        """The release's start path, as the image and the systemd unit run it: its migrate command (it must
        succeed), then its server, once ready."""
        migrated = await asyncio.to_thread(migrate, self.tmp_path, tree, self.database_url)
        assert migrated.returncode == 0, (
            f"{name}: migrate exited {migrated.returncode}:\n{migrated.stdout}\n{migrated.stderr}"
        )
        port = free_port()
        log_path = self.tmp_path / f"{name}.log"
        command = [sys.executable, "-m", "uvicorn", "src.api.main:app", "--host", "127.0.0.1", "--port", str(port)]
        env = release_env(self.tmp_path, tree, name, self.database_url) | NO_LIMITS
        with log_path.open("wb") as out:
            proc = subprocess.Popen(
                command, cwd=tree, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        release = Release(name, proc, f"http://127.0.0.1:{port}", log_path, migrated.stdout)
        self.started.append(release)
        try:
            await asyncio.to_thread(wait_healthy, release.url, proc, START_TIMEOUT)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{name}: {exc}\n--- log ---\n{release.log()[-4000:]}") from exc
        return release

    async def drain(self, release: Release) -> int:
        """SIGTERM, and its exit code once it has finished what it was serving."""
        os.kill(release.proc.pid, signal.SIGTERM)
        return await asyncio.to_thread(release.proc.wait, EXIT_BOUND_SECONDS)

    def kill_all(self) -> None:
        for release in self.started:
            try:
                os.killpg(release.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            if release.proc.poll() is None:
                release.proc.wait(timeout=10)


@pytest.fixture
def releases(tmp_path: Path, pg_url: str) -> Iterator[Releases]:
    started = Releases(tmp_path, pg_url)
    try:
        yield started
    finally:
        started.kill_all()


# --- traffic and readiness ------------------------------------------------------------------------


@dataclass
class Traffic:
    """Clients that send each request to the release that is current when it is sent."""

    url: str
    stage: str = ""
    served: Counter[str] = field(default_factory=Counter)  # 200s by stage
    failures: list[str] = field(default_factory=list)  # everything else: "stage path: status or exception"
    answer_ids: list[str] = field(default_factory=list)
    in_flight: Counter[str] = field(default_factory=Counter)  # by release URL
    stopped: bool = False

    async def client(self, n: int) -> None:
        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT) as http:
            i = n
            while not self.stopped:
                url, stage = self.url, self.stage
                path = "/api/v1/answer" if i % 2 else "/api/v1/query"
                body: dict[str, Any] = {"question": f"{QUESTIONS[i % len(QUESTIONS)]} ({i})"} | (
                    {} if i % 2 else {"k": 5}
                )
                i += CLIENTS
                self.in_flight[url] += 1
                try:
                    r = await http.post(url + path, json=body)
                except httpx.HTTPError as exc:
                    self.failures.append(f"{stage} {path}: {type(exc).__name__} {exc}")
                else:
                    if r.status_code == 200:
                        self.served[stage] += 1
                        if path == "/api/v1/answer":
                            self.answer_ids.append(r.json()["answer_id"])
                    else:
                        self.failures.append(f"{stage} {path}: {r.status_code} {r.text[:200]}")
                finally:
                    self.in_flight[url] -= 1
                await asyncio.sleep(0.02)

    async def switch(self, url: str) -> None:
        """Send new requests to `url`, and return once none is left in flight to the previous release
        (what a load balancer does before the old pool is drained)."""
        previous, self.url = self.url, url
        async with asyncio.timeout(REQUEST_TIMEOUT + 10):
            while self.in_flight[previous]:
                await asyncio.sleep(0.05)


@dataclass
class Readiness:
    """Polls one release's readiness: (stage, status, database schema) for each probe."""

    url: str
    stage: str = ""
    probes: list[tuple[str, int, str]] = field(default_factory=list)
    stopped: bool = False

    async def poll(self) -> None:
        async with httpx.AsyncClient(timeout=10, headers={"Connection": "close"}) as probe:
            while not self.stopped:
                stage = self.stage
                try:
                    r = await probe.get(self.url + "/api/v1/health/ready")
                    schema = str(r.json().get("services", {}).get("database", {}).get("schema", ""))
                    self.probes.append((stage, r.status_code, schema))
                except httpx.HTTPError as exc:
                    self.probes.append((stage, -1, type(exc).__name__))
                await asyncio.sleep(0.1)

    def during(self, stage: str) -> list[tuple[int, str]]:
        return [(status, schema) for s, status, schema in self.probes if s == stage]

    def failed(self) -> list[tuple[str, int, str]]:
        return [p for p in self.probes if p[1] != 200]


class Running:
    """Background tasks of the test, stopped (and their errors raised) at the end."""

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[None]] = []

    def add(self, *coros: Any) -> None:
        self.tasks += [asyncio.create_task(c) for c in coros]

    async def wait(self) -> None:
        await asyncio.wait_for(asyncio.gather(*self.tasks), REQUEST_TIMEOUT + 10)


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    tasks = Running()
    try:
        yield tasks
    finally:
        for task in tasks.tasks:
            task.cancel()
        await asyncio.gather(*tasks.tasks, return_exceptions=True)


def ok(probes: list[tuple[int, str]]) -> int:
    return sum(status == 200 for status, _ in probes)


# --- the test --------------------------------------------------------------------------------------


@pytest.mark.timeout(900)
async def test_deploy_and_rollback_across_an_expand_step(
    releases: Releases, running: Running, pg_url: str, tmp_path: Path, record: Any
) -> None:
    seconds = float(size(3, 30))  # of load in each stage
    old_head = alembic_head()
    new_tree = new_release(tmp_path / "new-release", old_head, "expand")
    await alembic(tmp_path, REPO, pg_url, "upgrade", "head")
    assert await database_revision(tmp_path, pg_url) == old_head

    # The old release serves.
    old = await releases.start(REPO, "old")
    traffic = Traffic(old.url, stage="old, before the migration")
    watch_old = Readiness(old.url, stage="before the migration")
    running.add(watch_old.poll(), *(traffic.client(n) for n in range(CLIENTS)))
    await asyncio.sleep(seconds)

    # 1. Migrate from the new release's tree; the old release stays ready and keeps serving.
    watch_old.stage = "during the migration"
    await alembic(tmp_path, new_tree, pg_url, "upgrade", "head")
    assert await database_revision(tmp_path, pg_url) == NEW_REVISION
    watch_old.stage, traffic.stage = "after the migration", "old, after the migration"
    await asyncio.sleep(seconds)

    # 2. Start the new release, wait for its readiness, switch traffic.
    new = await releases.start(new_tree, "new")
    new_ready = (await ready(new.url)).json()
    assert new_ready["services"]["database"]["schema"] == "current", new_ready  # it runs the copy's code and migrations
    traffic.stage = "new"
    await traffic.switch(new.url)

    # 3. Drain the old release.
    watch_old.stopped = True
    old_exit = await releases.drain(old)
    await asyncio.sleep(seconds)

    # Rollback: the old release again, on the expanded schema (its migrate command leaves it as it is);
    # traffic back; drain the new; downgrade.
    old_again = await releases.start(REPO, "old-again")
    assert await database_revision(tmp_path, pg_url) == NEW_REVISION
    rollback_ready = (await ready(old_again.url)).json()
    watch_again = Readiness(old_again.url, stage="before the downgrade")
    running.add(watch_again.poll())
    traffic.stage = "old again, before the downgrade"
    await traffic.switch(old_again.url)
    new_exit = await releases.drain(new)
    watch_again.stage = "during the downgrade"
    await alembic(tmp_path, new_tree, pg_url, "downgrade", old_head)
    assert await database_revision(tmp_path, pg_url) == old_head
    watch_again.stage, traffic.stage = "after the downgrade", "old again, after the downgrade"
    await asyncio.sleep(seconds)
    traffic.stopped = watch_again.stopped = True
    await running.wait()

    deploy = sum(n for stage, n in traffic.served.items() if not stage.startswith("old again"))
    rollback = sum(traffic.served.values()) - deploy
    failed_old = watch_old.failed()
    during, after = watch_old.during("during the migration"), watch_old.during("after the migration")
    missing, _ = await unstored_answers(tmp_path, pg_url, traffic.answer_ids)
    record("requests served during the deploy (old, migrate, new, drain old)", deploy, "> 0", deploy > 0)
    record("requests served during the rollback (old again, drain new, downgrade)", rollback, "> 0", rollback > 0)
    record(
        "failed requests (an exception or a status other than 200)",
        len(traffic.failures),
        "0",
        not traffic.failures,
        "; ".join(traffic.failures[:3]),
    )
    record(
        "old release's readiness during the migration, and until its SIGTERM",
        f"{ok(during)} of {len(during)} probes 200 during, {ok(after)} of {len(after)} after (schema {', '.join(sorted({s for _, s in after}))})",
        "all 200, ahead_compatible",
        not failed_old and bool(after) and {s for _, s in after} == {"ahead_compatible"},
    )
    record(
        "old release's migrate command at the rollback, on the expanded schema",
        old_again.migrated.strip()[:60],
        "exit 0, skipped (ahead_compatible)",
        "skipped (ahead_compatible)" in old_again.migrated,
    )
    record("drained releases' exit codes (old, new)", f"{old_exit}, {new_exit}", "0, 0", old_exit == new_exit == 0)
    record(
        "acknowledged answers missing from `messages`", f"{len(missing)} of {len(traffic.answer_ids)}", "0", not missing
    )

    assert not traffic.failures, traffic.failures[:10]
    stages = ("old, before the migration", "old, after the migration", "new", "old again, after the downgrade")
    assert all(traffic.served[stage] > 0 for stage in stages), traffic.served
    assert not failed_old, failed_old[:10]
    assert after and {s for _, s in after} == {"ahead_compatible"}, watch_old.probes[-5:]
    assert f"migrate: skipped (ahead_compatible): the database is at {NEW_REVISION}" in old_again.migrated, (
        old_again.migrated
    )
    assert rollback_ready["services"]["database"]["schema"] == "ahead_compatible", rollback_ready
    assert not watch_again.failed(), watch_again.failed()[:10]
    assert watch_again.during("after the downgrade")[-1] == (200, "current"), watch_again.probes[-5:]
    assert old_exit == 0, old.log()[-3000:]
    assert new_exit == 0, new.log()[-3000:]
    assert not missing

    # The contrary: the same step marked as a contract step leaves the old release not ready.
    contract_tree = new_release(tmp_path / "contract-release", old_head, "contract")
    await alembic(tmp_path, contract_tree, pg_url, "upgrade", "head")
    refused = await ready(old_again.url)
    await alembic(tmp_path, contract_tree, pg_url, "downgrade", old_head)
    restored = await ready(old_again.url)
    record(
        "old release's readiness after a contract step",
        f"{refused.status_code} {refused.json()['services']['database']['status']}",
        "503 incompatible",
        refused.status_code == 503,
    )
    assert refused.status_code == 503, refused.text
    database = refused.json()["services"]["database"]
    assert (database["status"], database["schema"]) == ("incompatible", "ahead_incompatible"), database
    assert restored.status_code == 200, restored.text
