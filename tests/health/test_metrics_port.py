"""METRICS_PORT: the metrics on a port of their own, and none on the public port (404), against real server
processes over real HTTP. Under uvicorn alone the app serves them from a thread; under gunicorn with two
workers the master serves them, summing both workers' files, and creates no value file of its own (its
`rag_ready` would otherwise be a 0 that the live minimum reports). A port already taken stops the start."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import REPO, env_for, free_port, make_settings, port_open
from tests.kit.test_shutdown import EXIT_BOUND_SECONDS, MP_DIR_LINE, _kill_group, gunicorn_cmd, serve  # noqa: F401 - `serve` is a fixture

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
HITS = 12
GAUGE_SECONDS = 60  # a bound on a condition, not a speed: each worker evaluates its readiness at start
STOP_SECONDS = 90  # a bound: importing the app on a loaded machine; a server that does not stop by then is killed


def scrape(url: str) -> Samples:
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain"), response.text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def health_hits(samples: Samples) -> float:
    return samples.get(
        ("rag_http_requests_total", frozenset({"method": "GET", "route": "/health", "status": "200"}.items())), 0.0
    )


def ready_becomes_1(url: str) -> Samples:
    deadline = time.monotonic() + GAUGE_SECONDS
    while (found := scrape(url)).get(("rag_ready", frozenset())) != 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert found.get(("rag_ready", frozenset())) == 1, found.get(("rag_ready", frozenset()))
    return found


def hit_every_worker(url: str) -> None:
    """New connections, so that every worker gets some of them."""
    for _ in range(HITS):
        assert httpx.get(url + "/health", headers={"Connection": "close"}, timeout=10).status_code == 200
        response = httpx.get(url + "/metrics", headers={"Connection": "close"}, timeout=10)
        assert response.status_code == 404 and "rag_http_requests_total" not in response.text


def stop(server: Any) -> int:
    server.proc.send_signal(signal.SIGTERM)
    return int(server.proc.wait(timeout=EXIT_BOUND_SECONDS))


async def test_uvicorn_serves_the_metrics_on_their_port_only(tmp_path: Path, serve: Any) -> None:
    port = free_port()
    server = serve(make_settings(tmp_path), extra_env={"METRICS_PORT": str(port), "METRICS_HOST": "127.0.0.1"})
    metrics = f"http://127.0.0.1:{port}/metrics"
    await asyncio.to_thread(hit_every_worker, server.url)
    found = await asyncio.to_thread(ready_becomes_1, metrics)
    assert health_hits(found) == HITS
    assert (
        "rag_http_requests_total",
        frozenset({"method": "GET", "route": "unmatched", "status": "404"}.items()),
    ) in found
    assert "METRICS_SERVING" in server.log()
    # The lifespan closes the port with the app.
    assert await asyncio.to_thread(stop, server) == 0, server.log()[-3000:]
    assert not port_open("127.0.0.1", port)


async def test_gunicorn_master_serves_both_workers_metrics_on_their_port_only(tmp_path: Path, serve: Any) -> None:
    port = free_port()
    env = {
        "QDRANT_URL": ":memory:",
        "METRICS_PORT": str(port),
    }  # an in-process store per worker, as in test_ready_gauge_workers.py
    server = serve(make_settings(tmp_path), gunicorn_cmd(tmp_path, "-w", "2"), env)
    metrics = f"http://127.0.0.1:{port}/metrics"
    await asyncio.to_thread(hit_every_worker, server.url)
    found = await asyncio.to_thread(ready_becomes_1, metrics)
    assert health_hits(found) == HITS, "the master's scrape sums every worker's counters"
    log = server.log()
    assert log.count("Booting worker") == 2 and "Worker failed to boot" not in log, log[-3000:]
    assert f"Metrics at: http://127.0.0.1:{port}/metrics" in log
    mp_dir = MP_DIR_LINE.search(log)
    assert mp_dir, log[-2000:]
    gauge_files = sorted(Path(mp_dir.group(1)).glob("gauge_livemin_*.db"))
    assert len(gauge_files) == 2, f"one rag_ready file per worker, none for the master: {gauge_files}"
    assert await asyncio.to_thread(stop, server) == 0, server.log()[-3000:]
    assert not port_open("127.0.0.1", port)


def start_on_a_taken_metrics_port(tmp_path: Path, cmd: list[str]) -> tuple[int, int, str]:
    """The server started with METRICS_PORT already taken: (the port, its exit status, its output). Its own
    session, so that a server that does not stop (the old code) is killed with its workers."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = env_for(make_settings(tmp_path)) | {"METRICS_PORT": str(port)}
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
        try:
            output, _ = proc.communicate(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid)
            output, _ = proc.communicate()
    return port, proc.returncode, output


def test_gunicorn_stops_when_the_metrics_port_is_taken(tmp_path: Path) -> None:
    cmd = [c.replace("{port}", str(free_port())) for c in gunicorn_cmd(tmp_path, "-w", "1")]
    port, status, output = start_on_a_taken_metrics_port(tmp_path, cmd)
    assert status == 1, output[-3000:]
    assert f"METRICS_HOST:METRICS_PORT=127.0.0.1:{port}" in output and "Booting worker" not in output, output[-3000:]


def test_uvicorn_stops_when_the_metrics_port_is_taken(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "uvicorn", "src.api.main:app", "--host", "127.0.0.1", "--port", str(free_port())]
    port, status, output = start_on_a_taken_metrics_port(tmp_path, cmd)
    assert status not in (0, -signal.SIGKILL), output[-3000:]
    assert f"METRICS_HOST:METRICS_PORT=127.0.0.1:{port}" in output, output[-3000:]
