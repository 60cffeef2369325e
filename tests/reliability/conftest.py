"""The reliability battery's plumbing. Two sizes: the short form runs in `make test`; the full form
runs with RELIABILITY=full (`make reliability`) and writes every recorded figure to
docs/RELIABILITY.md at the end of the session. Every loop is bounded in count and time and all
traffic stays on this machine's loopback."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import pytest

from bench.report import machine
from tests.conftest import REPO

FULL = os.environ.get("RELIABILITY", "").lower() == "full"
REPORT = REPO / "docs" / "RELIABILITY.md"
FIGURES = REPO / ".pytest_cache" / "reliability-figures.jsonl"


def size(short: int, full: int) -> int:
    """A loop bound: `short` in `make test`, `full` in `make reliability`."""
    return full if FULL else short


@dataclass
class Figure:
    section: str
    measure: str
    value: str
    bar: str
    met: bool
    note: str = ""


class Recorder:
    """Figures of one test, appended as JSON lines so that each test's figures survive the others."""

    def __init__(self, section: str) -> None:
        self.section = section

    def __call__(self, measure: str, value: object, bar: str, met: bool, note: str = "") -> None:
        if not FULL:  # the short form in `make test` checks the bars; only the full battery reports
            return
        figure = Figure(self.section, measure, str(value), bar, bool(met), note)
        FIGURES.parent.mkdir(parents=True, exist_ok=True)
        with FIGURES.open("a") as out:
            out.write(json.dumps(asdict(figure)) + "\n")


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Iterator[Recorder]:
    """`record(measure, value, bar, met, note="")`: one figure for docs/RELIABILITY.md, in the section
    named by the test module's docstring's first line."""
    doc = (request.module.__doc__ or request.module.__name__).strip().splitlines()[0].rstrip(".")
    yield Recorder(doc)


def pytest_sessionstart(session: pytest.Session) -> None:
    # RELIABILITY_APPEND=1 adds a rerun's figures (one module, say) to the previous full run's.
    if FULL and not os.environ.get("RELIABILITY_APPEND"):
        FIGURES.unlink(missing_ok=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not FULL or not FIGURES.exists():
        return
    figures = [Figure(**json.loads(line)) for line in FIGURES.read_text().splitlines() if line.strip()]
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    lines = [
        "# Reliability and security battery",
        "",
        "Written by `make reliability` (`RELIABILITY=full pytest tests/reliability`); a shortened form of the same",
        "tests runs in `make test`. All traffic goes to this machine's loopback; every loop is bounded.",
        "",
        "- Command: `make reliability`",
        f"- Machine: {machine()}",
        f"- Run: finished {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, commit {commit}: {session.testscollected} tests, "
        f"{session.testsfailed} failed (pytest exit status {exitstatus})",
        "",
    ]
    sections: dict[str, list[Figure]] = {}
    for figure in figures:
        sections.setdefault(figure.section, []).append(figure)
    for section, rows in sections.items():
        lines += [f"## {section}", "", "| measure | value | bar | verdict |", "|---|---|---|---|"]
        for f in rows:
            verdict = "met" if f.met else "missed"
            lines.append(f"| {f.measure} | {f.value} | {f.bar} | {verdict}{' — ' + f.note if f.note else ''} |")
        lines.append("")
    REPORT.write_text("\n".join(lines))
