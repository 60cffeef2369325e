"""The author's reports over real HTTP (a uvicorn process) on SQLite and PostgreSQL, from turns seeded through the real
/answer endpoint (book questions, off-book questions, selections, pages, thumbs down): every figure
checked against the seeded truth, gap groups by meaning with the nearest sections, chapters, the
down-voted answers, CSV equal to JSON, the key required, and erased sessions gone from every report."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from src.db.migrations import run_migrations
from tests.conftest import API_KEY, REPO, auth, make_settings, shared_path
from tests.db.helpers import clean_env

CHAPTERS = {
    "physical-ai/docs/02-humanoid-robotics/index.md": "docs/02-humanoid-robotics/index.md",
    "physical-ai/docs/04-digital-twin/index.md": "docs/04-digital-twin/index.md",
}
BOOK = [
    ("What is the Zero Moment Point?", "physical-ai/docs/02-humanoid-robotics/index.md"),
    ("What is the capture point?", "physical-ai/docs/02-humanoid-robotics/index.md"),
    ("What is a digital twin?", "physical-ai/docs/04-digital-twin/index.md"),
]
# Two missing topics, asked three ways each: they must make two groups.
UNITREE = [
    "How much does a Unitree G1 humanoid robot cost?",
    "What is the price of the Unitree G1 humanoid?",
    "unitree g1 humanoid price?",
]
JAZZY = [
    "How do I install ROS 2 Jazzy on Ubuntu 24.04?",
    "installing ros2 jazzy on ubuntu",
    "Where do I get ROS 2 Jazzy for Ubuntu?",
]
HUMANOID_PAGE = "/read/humanoid"


async def seed(client: httpx.AsyncClient) -> dict[str, Any]:
    for source_file, book_path in CHAPTERS.items():
        text = shared_path("data", "textbooks", "physical-ai", book_path).read_text()
        meta = {"source_file": source_file, "url": f"https://book.example/{source_file.rsplit('.', 1)[0]}"}
        assert (
            await client.post("/api/v1/index", json={"content": text, "metadata": meta}, headers=auth())
        ).status_code == 200
    truth: dict[str, Any] = {"answered": [], "refused": [], "down": [], "sessions": []}
    for question, _ in BOOK:
        body = (await client.post("/api/v1/answer", json={"question": question, "page": HUMANOID_PAGE})).json()
        assert not body["refused"], body["answer"]
        truth["answered"].append(body)
    for question in UNITREE + JAZZY:
        body = (await client.post("/api/v1/answer", json={"question": question})).json()
        assert body["refused"], body["answer"]
        truth["refused"].append(body)
    passage = "For stable walking, ZMP must stay within the support polygon."
    selection = (
        await client.post(
            "/api/v1/answer", json={"question": "Explain this", "selected_text": passage, "mode": "selection_only"}
        )
    ).json()
    assert not selection["refused"]
    truth["answered"].append(selection)
    # Down-vote the capture point answer, with a comment.
    disliked = truth["answered"][1]
    rated = await client.post(
        "/api/v1/feedback",
        json={"answer_id": disliked["answer_id"], "rating": "down", "comment": "It never says how far to step."},
    )
    assert rated.status_code == 201
    up = await client.post("/api/v1/feedback", json={"answer_id": truth["answered"][0]["answer_id"], "rating": "up"})
    assert up.status_code == 201
    truth["down"].append(disliked)
    return truth


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def check_reports(client: httpx.AsyncClient) -> None:
    truth = await seed(client)
    questions = len(truth["answered"]) + len(truth["refused"])

    assert (await client.get("/api/v1/analytics/summary")).status_code == 401  # the key is required
    assert (await client.get("/api/v1/analytics/gaps", headers={"Authorization": "Bearer wrong"})).status_code == 401

    summary = (await client.get("/api/v1/analytics/summary", headers=auth())).json()
    total = summary["total"]
    assert (
        total["questions"] == questions
        and total["refused"] == len(truth["refused"])
        and total["answered"] == len(truth["answered"])
    )
    assert total["refused_rate"] == pytest.approx(len(truth["refused"]) / questions, abs=1e-4)
    assert (total["thumbs_up"], total["thumbs_down"], total["degraded"]) == (1, 1, 0)
    latencies = sorted(b["latency_ms"] for b in truth["answered"] + truth["refused"])
    assert total["latency_p50_ms"] == pytest.approx(latencies[(len(latencies) + 1) // 2 - 1], rel=1e-3)
    assert total["latency_p95_ms"] == pytest.approx(latencies[(19 * len(latencies) + 19) // 20 - 1], rel=1e-3)
    assert [d["questions"] for d in summary["per_day"]] == [questions]

    gaps = (await client.get("/api/v1/analytics/gaps", headers=auth())).json()
    groups = [set(g["examples"]) | {q for q in UNITREE + JAZZY if q in g["examples"]} for g in gaps["groups"]]
    by_topic = {
        "unitree": [g for g in gaps["groups"] if any("nitree" in q for q in g["examples"])],
        "jazzy": [g for g in gaps["groups"] if any("azzy" in q for q in g["examples"])],
    }
    assert len(by_topic["unitree"]) == 1 and by_topic["unitree"][0]["count"] == 3, groups
    assert len(by_topic["jazzy"]) == 1 and by_topic["jazzy"][0]["count"] == 3, groups
    assert by_topic["unitree"][0] is not by_topic["jazzy"][0]
    # Where an author would add the Unitree G1: the humanoid chapter; ROS 2 Jazzy: not there.
    nearest = by_topic["unitree"][0]["nearest_sections"]
    assert nearest[0]["source_file"] == "physical-ai/docs/02-humanoid-robotics/index.md", nearest
    assert any(
        g["thumbs_down"] == 1 and "capture point" in " ".join(g["examples"]) for g in gaps["groups"]
    )  # a disliked answer is a gap too

    chapters = (await client.get("/api/v1/analytics/chapters", headers=auth())).json()["chapters"]
    by_name = {c["chapter"]: c for c in chapters}
    humanoid = next(c for name, c in by_name.items() if "Humanoid" in name)
    assert humanoid["thumbs_down"] == 1 and humanoid["questions"] >= 2
    assert (
        humanoid["url"] == "https://book.example/physical-ai/docs/02-humanoid-robotics/index"
    )  # its page, without a section's anchor
    rates = [c["refused_rate"] for c in chapters]
    assert rates == sorted(rates, reverse=True)  # the worst first

    feedback = (await client.get("/api/v1/analytics/feedback", headers=auth())).json()
    assert feedback["count"] == 1
    [item] = feedback["answers"]
    assert (
        item["answer_id"] == truth["down"][0]["answer_id"]
        and item["comment"] == "It never says how far to step."
        and item["citations"]
    )
    assert item["page"] == HUMANOID_PAGE

    for name, key in (("summary", "per_day"), ("gaps", "groups"), ("chapters", "chapters"), ("feedback", "answers")):
        as_json = (await client.get(f"/api/v1/analytics/{name}", headers=auth())).json()
        as_csv = await client.get(f"/api/v1/analytics/{name}?format=csv", headers=auth())
        assert as_csv.headers["content-type"].startswith("text/csv")
        assert len(rows(as_csv.text)) == len(as_json[key]), name
    assert rows((await client.get("/api/v1/analytics/summary?format=csv", headers=auth())).text)[0]["questions"] == str(
        questions
    )

    # A window that holds nothing, and a bad one.
    empty = (await client.get("/api/v1/analytics/summary?since=2020-01-01&until=2020-02-01", headers=auth())).json()
    assert empty["total"]["questions"] == 0 and empty["per_day"] == []
    bad = await client.get("/api/v1/analytics/summary?since=yesterday", headers=auth())
    assert bad.status_code == 422 and set(bad.json()) == {"error", "details", "request_id"}

    # "Delete my conversation": its turns leave every report.
    erased = truth["down"][0]["session_id"]
    assert (await client.delete(f"/api/v1/sessions/{erased}")).status_code == 200
    after = (await client.get("/api/v1/analytics/summary", headers=auth())).json()["total"]
    assert after["questions"] == questions - 1 and after["thumbs_down"] == 0
    assert (await client.get("/api/v1/analytics/feedback", headers=auth())).json()["count"] == 0


def cli_report(url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = clean_env(INDEXING_API_KEY=API_KEY, DATA_DIR=str(tmp_path / "cli-data"), COLUMNS="200")
    command = [sys.executable, "-m", "src.cli", "report", "--url", url, "--since", "1d", *args]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)


async def test_reports_on_sqlite(tmp_path: Path, live_server_factory: Any) -> None:
    server = live_server_factory(make_settings(tmp_path, cache_answer_ttl_seconds=0))
    async with httpx.AsyncClient(base_url=server.url, timeout=120) as client:
        await check_reports(client)
        expected = (await client.get("/api/v1/analytics/gaps", params={"since": "1d"}, headers=auth())).json()
    # The operator's view of the same reports, from the command line.
    tables = await asyncio.to_thread(cli_report, server.url, tmp_path)
    assert tables.returncode == 0, tables.stderr
    assert "Summary" in tables.stdout and "Jazzy" in tables.stdout and "Chapters" in tables.stdout, tables.stdout
    as_json = await asyncio.to_thread(cli_report, server.url, tmp_path, "--format", "json", "--only", "gaps")
    assert json.loads(as_json.stdout)["gaps"]["groups"] == expected["groups"]
    as_csv = await asyncio.to_thread(cli_report, server.url, tmp_path, "--format", "csv", "--only", "summary")
    assert as_csv.stdout.startswith("# summary") and len(rows(as_csv.stdout.split("\n", 1)[1])) == 1
    wrong = await asyncio.to_thread(cli_report, server.url, tmp_path, "--only", "everything")
    assert wrong.returncode == 2 and "unknown report" in wrong.stderr


async def test_reports_on_postgresql(pg_url: str, tmp_path: Path, live_server_factory: Any) -> None:
    await asyncio.to_thread(run_migrations, pg_url)
    server = live_server_factory(make_settings(tmp_path, database_url=pg_url, cache_answer_ttl_seconds=0))
    async with httpx.AsyncClient(base_url=server.url, timeout=120) as client:
        await check_reports(client)
