"""deploy/systemd/rag-backend-backup.{service,timer}: units systemd accepts (`systemd-analyze verify`), a
daily timer, and a service that runs this checkout's scripts/backup.sh with the main unit's environment
file and working directory."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

from tests.conftest import REPO, unavailable

UNITS = REPO / "deploy" / "systemd"
MAIN_UNIT = REPO / "deploy" / "rag-backend.service"


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read_string(path.read_text())
    return parser


def test_systemd_accepts_the_backup_units(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        unavailable("systemd-analyze is not installed")
    service = (UNITS / "rag-backend-backup.service").read_text()
    # Verified where ExecStart exists: this checkout instead of /opt/rag-backend.
    (tmp_path / "rag-backend-backup.service").write_text(
        service.replace("/opt/rag-backend/scripts/backup.sh", str(REPO / "scripts" / "backup.sh"))
    )
    shutil.copy(UNITS / "rag-backend-backup.timer", tmp_path)
    done = subprocess.run(
        [
            "systemd-analyze",
            "verify",
            str(tmp_path / "rag-backend-backup.timer"),
            str(tmp_path / "rag-backend-backup.service"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
    calendar = unit(UNITS / "rag-backend-backup.timer")["Timer"]["OnCalendar"]
    next_runs = subprocess.run(
        ["systemd-analyze", "calendar", "--iterations=2", calendar],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    first, second = (
        datetime.strptime(m, "%Y-%m-%d %H:%M:%S")
        for m in re.findall(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", next_runs)[:2]
    )
    assert second - first == timedelta(days=1), next_runs


def test_the_backup_runs_the_script_on_the_main_units_settings() -> None:
    backup = unit(UNITS / "rag-backend-backup.service")
    main = unit(MAIN_UNIT)
    assert backup["Service"]["Type"] == "oneshot"
    checkout = main["Service"]["WorkingDirectory"]
    assert backup["Service"]["ExecStart"] == f"{checkout}/scripts/backup.sh"
    environment = [
        line.removeprefix("Environment=")
        for line in (UNITS / "rag-backend-backup.service").read_text().splitlines()
        if line.startswith("Environment=")
    ]
    assert f"RAG_ENV_FILE={main['Service']['EnvironmentFile']}" in environment
    assert f"APP_DIR={checkout}" in environment
    timer = unit(UNITS / "rag-backend-backup.timer")
    assert timer["Timer"]["Unit"] == "rag-backend-backup.service" and timer["Timer"]["Persistent"] == "true"
