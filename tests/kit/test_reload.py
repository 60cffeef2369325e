"""`systemctl reload` (HUP to the gunicorn master) re-reads the environment file: systemd's
EnvironmentFile puts its values in the master's environment, where they win over `.env`, so without
this a changed setting would stay stale until a restart (gunicorn.conf.py, _reload_env_file)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from src.kit.settings import Settings
from tests.conftest import make_settings
from tests.kit.test_shutdown import gunicorn_cmd, serve  # noqa: F401 - `serve` is a fixture

pytestmark = pytest.mark.slow


def request_limit(url: str) -> str:
    """The per-minute request limit the serving worker applies (RATE_LIMIT_REQUESTS_PER_MINUTE), from its headers."""
    r = httpx.post(url + "/api/v1/query", json={"question": "what is a robot?"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.headers["RateLimit-Limit"]


def started_in(log: str, environment: str) -> int:
    return sum(
        1 for line in log.splitlines() if "SERVICE_STARTED" in line and f'"environment": "{environment}"' in line
    )


@pytest.mark.timeout(180)
def test_reload_applies_a_changed_and_a_removed_setting(serve: Any, tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("ENVIRONMENT=test\nCHAT_RELOAD_PROBE=1\nRATE_LIMIT_REQUESTS_PER_MINUTE=7\n")
    settings = make_settings(tmp_path)
    # As systemd does with EnvironmentFile: the file's values are in the master's environment.
    first = {
        "RAG_ENV_FILE": str(env_file),
        "ENVIRONMENT": "test",
        "CHAT_RELOAD_PROBE": "1",
        "RATE_LIMIT_REQUESTS_PER_MINUTE": "7",
    }
    server = serve(settings, cmd=gunicorn_cmd(tmp_path, "-w", "1"), extra_env=first)
    assert started_in(server.log(), "test") == 1
    assert request_limit(server.url) == "7"
    # ENVIRONMENT changes; CHAT_RELOAD_PROBE and RATE_LIMIT_REQUESTS_PER_MINUTE are removed from the file.
    env_file.write_text("ENVIRONMENT=development\n")
    os.kill(server.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 90
    while started_in(server.log(), "development") == 0 and time.monotonic() < deadline:
        time.sleep(0.3)
    log = server.log()
    assert started_in(log, "development") == 1, log[-3000:]
    reloaded = next(line for line in log.splitlines() if "CONFIG_RELOADED" in line)
    assert '["CHAT_RELOAD_PROBE", "ENVIRONMENT", "RATE_LIMIT_REQUESTS_PER_MINUTE"]' in reloaded  # names, never values
    for _ in range(100):
        try:
            if httpx.get(server.url + "/api/v1/health/ready", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    assert httpx.get(server.url + "/api/v1/health/ready", timeout=5).status_code == 200
    # The removed setting is gone from the new worker: it has the default again, not the master's old value.
    assert request_limit(server.url) == str(Settings.model_fields["rate_limit_requests_per_minute"].default)


@pytest.mark.timeout(180)
def test_gunicorn_started_by_hand_reads_the_file_rag_env_file_names(serve: Any, tmp_path: Path) -> None:
    """Without systemd's EnvironmentFile, the file RAG_ENV_FILE names is still the configuration from the start,
    not only after the first reload; a variable set in the environment wins over it."""
    env_file = tmp_path / "rag.env"
    env_file.write_text("COLLECTION_NAME=from_the_env_file\nENVIRONMENT=development\n")
    server = serve(
        make_settings(tmp_path), cmd=gunicorn_cmd(tmp_path, "-w", "1"), extra_env={"RAG_ENV_FILE": str(env_file)}
    )
    ready = httpx.get(server.url + "/api/v1/health/ready", timeout=10).json()
    assert ready["services"]["vector_store"]["collection"] == "from_the_env_file", ready
    assert started_in(server.log(), "test") == 1  # ENVIRONMENT=test from the environment, not the file's
