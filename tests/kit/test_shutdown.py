"""Graceful shutdown and the gunicorn packaging, against real server processes over real HTTP.

- SIGTERM with index requests in flight, under uvicorn and under gunicorn (both uvicorn worker classes):
  readiness answers 503 at once, every in-flight request completes with 200, and the process exits 0 by
  itself within the grace period, leaving no process behind.
- Gunicorn refuses several workers when QDRANT_URL is unset (the embedded store serves one process),
  and `uvicorn --workers 2` on the embedded store stops with the same advice in its log.
- `/metrics` under gunicorn is served from the multiprocess directory the master created.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO, LiveServer, auth, env_for, free_port, make_settings, port_open, shared_path

GRACE_SECONDS = 30  # SHUTDOWN_GRACE_SECONDS' default, which these servers run with
EXIT_BOUND_SECONDS = GRACE_SECONDS + 10  # drain, then close the stores; generous
IN_FLIGHT = 3
SOLO_SECONDS_PER_REQUEST = 2.0  # each in-flight request is sized to take about this long alone on this machine
WORKER_CLASSES = ["uvicorn_worker.UvicornWorker", "uvicorn.workers.UvicornWorker"]
MP_DIR_LINE = re.compile(r"PROMETHEUS_MULTIPROC_DIR=(\S+) \(created\)")

Start = Callable[..., LiveServer]


# --- process hygiene -------------------------------------------------------------------------------


def _children() -> set[int]:
    """This test process's direct children (Linux /proc)."""
    me, found = os.getpid(), set()
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == me:
            found.add(int(entry.name))
    return found


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def serve(live_server_factory: Start) -> Iterator[Start]:
    """`live_server_factory`, and in teardown SIGKILL to each server's whole process group: the factory
    kills only the process it started, and a gunicorn master killed that way leaves its uvicorn workers
    running (they do not watch their parent). Servers start in their own session, so pgid == pid."""
    groups: list[int] = []

    def start(settings: Any, cmd: list[str] | None = None, extra_env: dict[str, str] | None = None) -> LiveServer:
        before = _children()
        try:
            server = live_server_factory(settings, cmd, extra_env)
        except BaseException:
            groups.extend(_children() - before)
            raise
        groups.append(server.proc.pid)
        return server

    yield start
    for pgid in groups:
        _kill_group(pgid)


def gunicorn_cmd(tmp_path: Path, *args: str) -> list[str]:
    """The runbook's gunicorn command on a loopback port. The control socket goes to tmp_path: its default
    ($HOME/.gunicorn/gunicorn.ctl) is shared by every gunicorn on the machine."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "src.api.main:app",
        *args,
        "--bind",
        "127.0.0.1:{port}",
        "--control-socket",
        str(tmp_path / "gunicorn.ctl"),
    ]


# --- the drain scenario ----------------------------------------------------------------------------


def book_text() -> str:
    docs = shared_path("data", "textbooks", "physical-ai", "docs")
    chapters = [p.read_text() for p in sorted(docs.glob("*/index.md"))]
    assert len(chapters) >= 5, f"expected the textbook's chapters under {docs}"
    return "\n\n".join(chapters)


async def index(client: httpx.AsyncClient, content: str, source_file: str) -> httpx.Response:
    return await client.post(
        "/api/v1/index",
        json={"content": content, "metadata": {"source_file": source_file, "document_type": "markdown"}},
        headers=auth(),
    )


async def sized_documents(
    client: httpx.AsyncClient, book: str, count: int = IN_FLIGHT, solo_seconds: float = SOLO_SECONDS_PER_REQUEST
) -> list[tuple[str, str]]:
    """Documents that each take about `solo_seconds` to index here: long enough to be surely in flight when
    the signal comes, short enough that all of them finish well inside the grace period even on a loaded
    machine. The rate is measured after a warm-up (the first inference is slower)."""
    warm = await index(client, book[:1500], "docs/warm-up.md")
    assert warm.status_code == 200, warm.text
    sample = book[1500:5500]
    started = time.monotonic()
    timed = await index(client, sample, "docs/calibration.md")
    assert timed.status_code == 200, timed.text
    chars_per_second = len(sample) / max(time.monotonic() - started, 0.05)
    size = int(min(max(chars_per_second * solo_seconds, 3_000), 60_000))
    text = book * (1 + (count * size) // len(book))
    return [(f"docs/in-flight-{i}.md", text[i * size : (i + 1) * size]) for i in range(count)]


async def first_not_ready(probe: httpx.AsyncClient, within: float) -> tuple[httpx.Response, int]:
    """Readiness until it stops answering 200 (bounded); the answer, and how many 200s came first."""
    deadline = time.monotonic() + within
    ready_answers = 0
    while True:
        response = await probe.get("/api/v1/health/ready")
        if response.status_code != 200 or time.monotonic() > deadline:
            return response, ready_answers
        ready_answers += 1
        await asyncio.sleep(0.02)


async def sigterm_with_requests_in_flight(
    server: LiveServer,
    signal_forwarded: bool = False,
    stop: Callable[[], None] | None = None,
    hold_seconds: float = 0.0,
) -> None:
    """SIGTERM to `server.proc` (or `stop()`) while IN_FLIGHT index requests run. With `signal_forwarded` (a
    gunicorn master, which passes SIGTERM on to its worker) readiness may still answer 200 for the moment that takes.
    With `hold_seconds`, readiness must go on answering 503 (not refuse connections) for that long."""
    book = book_text()
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=EXIT_BOUND_SECONDS + 30) as client,
        httpx.AsyncClient(base_url=server.url, timeout=10, headers={"Connection": "close"}) as probe,
    ):
        documents = await sized_documents(client, book)

        async def post(source_file: str, content: str) -> tuple[httpx.Response, float]:
            response = await index(client, content, source_file)
            return response, time.monotonic()

        tasks = [asyncio.create_task(post(name, content)) for name, content in documents]
        await asyncio.sleep(0.5)  # sent, accepted and being embedded
        assert not any(t.done() for t in tasks), "the requests finished before SIGTERM: they were sized too small"

        sigterm_at = time.monotonic()
        if stop is None:
            os.kill(server.proc.pid, signal.SIGTERM)
        else:
            stop()
        ready, ready_answers = await first_not_ready(probe, within=2.0 if signal_forwarded else 0.0)
        ready_at = time.monotonic()
        held = []
        while time.monotonic() < ready_at + hold_seconds:
            held.append((await probe.get("/api/v1/health/ready")).status_code)  # a refused connection raises here
            await asyncio.sleep(0.05)
        assert set(held) <= {503}, held

        results = await asyncio.wait_for(asyncio.gather(*tasks), timeout=EXIT_BOUND_SECONDS + 30)
        rc = await asyncio.to_thread(server.proc.wait, EXIT_BOUND_SECONDS)
        exited_after = time.monotonic() - sigterm_at

    log = server.log()
    assert ready.status_code == 503, (
        f"readiness after SIGTERM: {ready.status_code} {ready.text} (after {ready_answers} answers 200)"
    )
    assert ready.json()["status"] == "draining"
    assert ready.headers.get("retry-after")
    for (response, done_at), (name, _) in zip(results, documents, strict=True):
        assert response.status_code == 200, f"{name}: {response.status_code} {response.text[:300]}"
        body = response.json()
        assert body["status"] == "indexed" and body["chunks_new"] > 0, body
        assert done_at > sigterm_at, f"{name} was not in flight at SIGTERM"
    assert any(done_at > ready_at for _, done_at in results), "no request was still in flight when readiness answered"
    assert rc == 0, f"exit code {rc}\n{log[-3000:]}"
    assert exited_after < EXIT_BOUND_SECONDS
    for event in ("SHUTDOWN_SIGNAL", "SHUTDOWN_STOP_ACCEPTING", "SERVICE_STOPPED"):
        assert f'"{event}"' in log, f"{event} missing from the log\n{log[-3000:]}"
    signal_line = log.index('"SHUTDOWN_SIGNAL"')
    for name, _ in documents:
        indexed = re.search(
            rf'"source_file": "{re.escape(name)}"[^\n]*"DOCUMENT_INDEXED"|"DOCUMENT_INDEXED"[^\n]*"source_file": "{re.escape(name)}"',
            log,
        )
        assert indexed and indexed.start() > signal_line, f"{name} was not indexed after the signal"
    assert not port_open("127.0.0.1", server.port), "still listening after exit"
    assert not _group_alive(server.proc.pid), "a process of the server's group is still running"


@pytest.mark.slow
async def test_uvicorn_drains_in_flight_requests_on_sigterm(serve: Start, tmp_path: Path) -> None:
    server = serve(make_settings(tmp_path))
    await sigterm_with_requests_in_flight(server)


@pytest.mark.slow
@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
async def test_gunicorn_drains_in_flight_requests_on_sigterm(serve: Start, tmp_path: Path, worker_class: str) -> None:
    server = serve(make_settings(tmp_path), cmd=gunicorn_cmd(tmp_path, "-w", "1", "-k", worker_class))
    mp_dir = MP_DIR_LINE.search(server.log())
    assert mp_dir, server.log()[-2000:]
    await sigterm_with_requests_in_flight(server, signal_forwarded=True)
    log = server.log()
    assert f"Using worker: {worker_class}" in log
    assert "Shutting down: Master" in log
    assert not Path(mp_dir.group(1)).exists(), "the master's PROMETHEUS_MULTIPROC_DIR outlived it"


@pytest.mark.slow
async def test_the_runbooks_pkill_drains_like_a_sigterm_to_the_master(serve: Start, tmp_path: Path) -> None:
    """`pkill -TERM gunicorn`, as the runbook writes it, signals the master and its worker alike, and the master
    then signals the worker again: that second SIGTERM must not cut the not-ready window short. The gunicorn
    script is run by name (as the systemd unit does), so the processes are called gunicorn; `-s` keeps pkill
    to this server's session, so that it spares any other gunicorn on the machine."""
    script = str(Path(sys.executable).parent / "gunicorn")
    server = serve(make_settings(tmp_path), cmd=[script, *gunicorn_cmd(tmp_path, "-w", "1")[3:]])

    def pkill() -> None:
        subprocess.run(["pkill", "-TERM", "-s", str(server.proc.pid), "gunicorn"], check=True)

    await sigterm_with_requests_in_flight(server, signal_forwarded=True, stop=pkill, hold_seconds=1.5)
    assert "Shutting down: Master" in server.log()


@pytest.mark.slow
async def test_gunicorn_reload_with_the_embedded_store_keeps_serving(serve: Start, tmp_path: Path) -> None:
    """HUP (`systemctl reload`) starts a new worker. With the embedded store it cannot open the store while the
    old worker holds it, and a worker that fails to boot halts gunicorn: the old worker must go first, and
    finish its in-flight request."""
    server = serve(make_settings(tmp_path), cmd=gunicorn_cmd(tmp_path, "-w", "1"))
    async with httpx.AsyncClient(base_url=server.url, timeout=EXIT_BOUND_SECONDS + 30) as client:
        [(name, content)] = await sized_documents(client, book_text(), count=1, solo_seconds=5.0)
        in_flight = asyncio.create_task(index(client, content, name))
        await asyncio.sleep(0.5)
        assert not in_flight.done()
        os.kill(server.proc.pid, signal.SIGHUP)
        response = await asyncio.wait_for(in_flight, timeout=EXIT_BOUND_SECONDS + 30)
        assert response.status_code == 200, response.text

        deadline = time.monotonic() + 90
        ready = None
        while time.monotonic() < deadline and server.proc.poll() is None:
            if server.log().count("Booting worker") >= 2:
                try:
                    ready = await client.get("/api/v1/health/ready", headers={"Connection": "close"})
                except httpx.TransportError:
                    ready = None
                if ready is not None and ready.status_code == 200:
                    break
            await asyncio.sleep(0.2)
        log = server.log()
        assert server.proc.poll() is None, f"gunicorn stopped on reload\n{log[-3000:]}"
        assert ready is not None and ready.status_code == 200, log[-3000:]
        assert "Reload with the embedded vector store" in log
        # The new worker opened the store, with what was indexed across the reload.
        query = await client.post(
            "/api/v1/query", json={"question": "What is a humanoid robot?", "k": 1, "filters": {"source_file": name}}
        )
        assert query.status_code == 200, query.text
        assert query.json()["retrieved_contexts"], query.text

    os.kill(server.proc.pid, signal.SIGTERM)
    assert await asyncio.to_thread(server.proc.wait, EXIT_BOUND_SECONDS) == 0


# --- workers and the embedded store ----------------------------------------------------------------


def run_until_exit(cmd: list[str], env: dict[str, str], timeout: float) -> tuple[int, str]:
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        out, _ = proc.communicate(timeout=10)
        pytest.fail(f"{cmd[2:4]} did not exit within {timeout}s\n{out.decode(errors='replace')[-3000:]}")
    finally:
        _kill_group(proc.pid)
    return proc.returncode, out.decode(errors="replace")


@pytest.mark.parametrize("workers", ["2", "4"])
def test_gunicorn_refuses_several_workers_without_qdrant(tmp_path: Path, workers: str) -> None:
    port = free_port()
    cmd = gunicorn_cmd(tmp_path, "-w", workers, "-k", "uvicorn.workers.UvicornWorker")
    cmd = [c.replace("{port}", str(port)) for c in cmd]
    rc, out = run_until_exit(cmd, env_for(make_settings(tmp_path)), timeout=60)
    assert rc != 0, out
    assert f"Refusing to start {workers} workers" in out and "Set QDRANT_URL" in out and "(-w 1)" in out, out
    assert "Booting worker" not in out, out
    assert not port_open("127.0.0.1", port)
    assert not list(Path(tmp_path).glob("data/qdrant/*")), "the refused start opened the store"


def test_gunicorn_starts_several_workers_with_qdrant_url(tmp_path: Path) -> None:
    """The check passes with QDRANT_URL set (the server behind it need not answer for this)."""
    port = free_port()
    cmd = [c.replace("{port}", str(port)) for c in gunicorn_cmd(tmp_path, "-w", "2")]
    env = env_for(make_settings(tmp_path)) | {"QDRANT_URL": f"http://127.0.0.1:{free_port()}"}
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while (
            time.monotonic() < deadline
            and log_path.read_text(errors="replace").count("Booting worker") < 2
            and proc.poll() is None
        ):
            time.sleep(0.2)
        log = log_path.read_text(errors="replace")
        os.kill(proc.pid, signal.SIGTERM)  # a clean stop, so the master removes its metrics directory
        rc = proc.wait(timeout=EXIT_BOUND_SECONDS)
    finally:
        _kill_group(proc.pid)
        proc.wait(timeout=10)
    assert "Refusing to start" not in log, log
    assert log.count("Booting worker") == 2, log[-3000:]
    assert rc == 0, log_path.read_text(errors="replace")[-3000:]
    found = MP_DIR_LINE.search(log)
    assert found and not Path(found.group(1)).exists()


def test_uvicorn_workers_on_the_embedded_store_say_to_set_qdrant_url(tmp_path: Path) -> None:
    """`uvicorn --workers 2` without QDRANT_URL: the second worker cannot open the store, the log says why
    and what to do, and uvicorn stops."""
    from src.db.migrations import run_migrations
    from src.retrieval.store.embedded import EmbeddedStore

    settings = make_settings(tmp_path)
    # Both exist already, as after a first single-worker run: the workers race to open them, not to create them.
    run_migrations(settings.sqlalchemy_url)
    EmbeddedStore(settings.vector_dir / settings.collection_name, 384).close()
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "src.api.main:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "2",
    ]
    _, out = run_until_exit(cmd, env_for(settings), timeout=120)
    assert "already open in another process" in out and "set QDRANT_URL" in out, out[-3000:]
    assert "failed to start" in out


# --- metrics ---------------------------------------------------------------------------------------


def counter_value(text: str, route: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith("rag_http_requests_total{") and f'route="{route}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_under_gunicorn_sum_from_the_multiprocess_directory(serve: Start, tmp_path: Path) -> None:
    server = serve(make_settings(tmp_path), cmd=gunicorn_cmd(tmp_path, "-w", "1"))
    found = MP_DIR_LINE.search(server.log())
    assert found, server.log()[-2000:]
    mp_dir = Path(found.group(1))
    for _ in range(3):
        assert httpx.get(server.url + "/health", timeout=10).status_code == 200
    response = httpx.get(server.url + "/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "# TYPE rag_http_requests_total counter" in text
    assert counter_value(text, "/health") >= 3, text[:2000]
    assert "python_info" not in text, "served from the default registry, not the multiprocess collector"
    assert list(mp_dir.glob("counter_*.db")), f"no worker files in {mp_dir}"

    os.kill(server.proc.pid, signal.SIGTERM)
    assert server.proc.wait(timeout=EXIT_BOUND_SECONDS) == 0
    assert not mp_dir.exists()
