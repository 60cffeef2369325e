"""Backups: a PostgreSQL dump and a vector store snapshot, restored into empty stores, answer as before.

With PostgreSQL and the embedded vector store, the service indexes chapters of the book and answers a set
of questions (and a two-turn conversation, and a rating). It is stopped, and backed up as docs/runbook.md
section 9 says: `pg_dump "$URL" > backup.sql` and `tar czf qdrant.tgz -C data qdrant`. The original
DATA_DIR is then moved away, the dump is restored into an empty database (`psql "$URL" < backup.sql`)
and the snapshot unpacked into a fresh DATA_DIR. The service started on the restored pair must be ready
(migrations at head), hold the same rows in every table and the same chunks, give every question the same
answer with the same citations (chunk ids, quotes, sections, links), serve the recorded session histories
unchanged, and carry a restored conversation on.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from src.db.migrations import run_migrations
from src.kit.settings import Settings
from src.retrieval.store.embedded import EmbeddedStore
from tests.conftest import auth, fresh_database, make_settings, running_app, shared_path
from tests.reliability.conftest import FULL, Recorder

CHAPTERS = ("02-humanoid-robotics", "03-ros2-fundamentals") + (
    ("01-introduction", "05-vision-language-action") if FULL else ()
)
QUESTIONS = (
    "What is the Zero Moment Point?",
    "How do humanoid robots keep their balance while walking?",
    "What is a ROS 2 node?",
    "How do ROS 2 topics differ from services?",
) + (
    (
        "What actuators do humanoid robots use?",
        "What is the role of a launch file in ROS 2?",
        "What is physical AI?",
        "What is a vision-language-action model?",
        "Which sensors does a humanoid robot rely on?",
        "What quality of service settings does ROS 2 offer?",
    )
    if FULL
    else ()
)
CONVERSATION = ("What is the Zero Moment Point?", "Why does it matter for stable walking?")
TABLES = ("alembic_version", "indexed_documents", "user_sessions", "messages", "feedback")
# What an answer is judged by; answer_id, session_id and latency_ms differ by nature.
SAME_FIELDS = (
    "answer",
    "citations",
    "refused",
    "route",
    "provider",
    "confidence_score",
    "degraded",
    "removed_sentences",
)


@pytest.fixture
async def empty_database(pg_available: None) -> AsyncIterator[str]:
    """A second, empty PostgreSQL database to restore into, dropped afterwards."""
    async with fresh_database("rag_restore") as url:
        yield url


def run(cmd: list[str], cwd: Path, stdin: Path | None = None, stdout: Path | None = None) -> str:
    """Run a command of the runbook; returns its stderr, fails the test on a non-zero exit."""
    with contextlib.ExitStack() as files:
        given = files.enter_context(stdin.open("rb")) if stdin else subprocess.DEVNULL
        out = files.enter_context(stdout.open("wb")) if stdout else subprocess.DEVNULL
        done = subprocess.run(cmd, cwd=cwd, stdin=given, stdout=out, stderr=subprocess.PIPE, timeout=300, check=False)
    stderr = done.stderr.decode(errors="replace")
    assert done.returncode == 0, f"{cmd[0]} exited with {done.returncode}: {stderr[-2000:]}"
    return stderr


async def table_rows(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        return {table: int(await conn.fetchval(f"SELECT count(*) FROM {table}")) for table in TABLES}
    finally:
        await conn.close()


def chunk_ids(settings: Settings) -> set[str]:
    """The stored chunk ids, read directly with no service running; the count must match them."""
    store = EmbeddedStore(settings.vector_dir / settings.collection_name, 384)
    try:
        ids: set[str] = set()
        for chapter in CHAPTERS:
            ids |= store.ids_for_source(f"docs/{chapter}/index.md")
        assert store.count() == len(ids)
    finally:
        store.close()
    return ids


async def index_book(client: httpx.AsyncClient) -> None:
    docs = shared_path("data", "textbooks", "physical-ai", "docs")
    for chapter in CHAPTERS:
        metadata = {
            "source_file": f"docs/{chapter}/index.md",
            "url": f"https://book.example/docs/{chapter}",
            "document_type": "markdown",
        }
        response = await client.post(
            "/api/v1/index",
            json={"content": (docs / chapter / "index.md").read_text(), "metadata": metadata},
            headers=auth(),
        )
        assert response.status_code == 200, response.text


async def ask(client: httpx.AsyncClient, question: str, session_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"question": question}
    if session_id:
        body["session_id"] = session_id
    response = await client.post("/api/v1/answer", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def judged(answer: dict[str, Any]) -> dict[str, Any]:
    fields = {name: answer[name] for name in SAME_FIELDS}
    fields["retrieved"] = [c["chunk_id"] for c in answer["retrieved_contexts"]]
    return fields


async def history(client: httpx.AsyncClient, session_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/sessions/{session_id}")
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.timeout(600 if FULL else 300)
async def test_restored_dump_and_snapshot_answer_as_the_originals(
    tmp_path: Path, pg_url: str, empty_database: str, record: Recorder
) -> None:
    await asyncio.to_thread(run_migrations, pg_url)
    original = make_settings(tmp_path / "original", database_url=pg_url, auto_migrate=False)
    async with running_app(original) as (_, client):
        await index_book(client)
        answers = [await ask(client, q) for q in QUESTIONS]
        first = await ask(client, CONVERSATION[0])
        follow = await ask(client, CONVERSATION[1], first["session_id"])
        rated = await client.post(
            "/api/v1/feedback", json={"answer_id": answers[0]["answer_id"], "rating": "up", "comment": "clear"}
        )
        assert rated.status_code == 201, rated.text
        sessions = [a["session_id"] for a in answers] + [first["session_id"]]
        histories = {s: await history(client, s) for s in sessions}
        documents = (await client.get("/api/v1/index/documents", headers=auth())).json()
    assert follow["session_id"] == first["session_id"] and len(histories[first["session_id"]]["messages"]) == 2
    assert sum(not a["refused"] and bool(a["citations"]) for a in answers) >= len(answers) // 2, (
        "too few cited answers to compare"
    )
    rows_before = await table_rows(pg_url)
    ids_before = chunk_ids(original)

    # The backup, as the runbook writes it, with the service stopped.
    backups = tmp_path / "backups"
    backups.mkdir()
    run(["pg_dump", pg_url], cwd=backups, stdout=backups / "backup.sql")
    run(["tar", "czf", str(backups / "qdrant.tgz"), "-C", "data", "qdrant"], cwd=original.data_dir.parent)
    shutil.move(original.data_dir, tmp_path / "original-moved-away")

    # The restore: an empty database and a fresh DATA_DIR.
    restored = make_settings(tmp_path / "restored", database_url=empty_database, auto_migrate=False)
    restore_errors = run(["psql", empty_database], cwd=backups, stdin=backups / "backup.sql")
    restored.data_dir.mkdir(parents=True)
    run(["tar", "xzf", str(backups / "qdrant.tgz"), "-C", str(restored.data_dir)], cwd=backups)
    rows_after = await table_rows(empty_database)
    ids_after = chunk_ids(restored)

    async with running_app(restored) as (_, client):
        ready = await client.get("/api/v1/health/ready")
        again = [await ask(client, q) for q in QUESTIONS]
        histories_after = {s: await history(client, s) for s in sessions}
        documents_after = (await client.get("/api/v1/index/documents", headers=auth())).json()
        carried_on = await ask(client, "And what does a humanoid robot use it for?", first["session_id"])
        conversation_after = await history(client, first["session_id"])

    same_answers = sum(judged(a) == judged(b) for a, b in zip(answers, again, strict=True))
    same_histories = sum(histories[s] == histories_after[s] for s in sessions)
    citations = sum(len(a["citations"]) for a in answers)
    turns = sum(len(h["messages"]) for h in histories.values())
    record(
        "size of the backup",
        f"{rows_before['messages']} messages in {rows_before['user_sessions']} sessions, {len(ids_before)} chunks",
        "recorded",
        True,
    )
    record(
        "restore into an empty database: psql errors", restore_errors.count("ERROR"), "0", "ERROR" not in restore_errors
    )
    equal_tables = sum(rows_after[t] == rows_before[t] for t in TABLES)
    record(
        "tables with the same rows after the restore",
        f"{equal_tables} of {len(TABLES)}",
        "all",
        equal_tables == len(TABLES),
        f"rows: {rows_before}",
    )
    record(
        "chunk ids after the snapshot's restore",
        f"{len(ids_after)} of {len(ids_before)}, same set: {ids_after == ids_before}",
        "same set",
        ids_after == ids_before,
    )
    record("restored service ready (migrations at head)", ready.status_code, "200", ready.status_code == 200)
    record(
        "same answer and citations after the restore",
        f"{same_answers} of {len(QUESTIONS)} questions ({citations} citations)",
        "all",
        same_answers == len(QUESTIONS),
    )
    record(
        "session histories unchanged after the restore",
        f"{same_histories} of {len(sessions)} sessions ({turns} turns)",
        "all",
        same_histories == len(sessions),
    )
    record(
        "restored conversation carries on",
        f"{len(conversation_after['messages'])} turns",
        "3",
        len(conversation_after["messages"]) == 3,
    )

    assert "ERROR" not in restore_errors, restore_errors[-2000:]
    assert rows_after == rows_before and rows_before["feedback"] == 1
    assert ids_after == ids_before and ids_before
    assert ready.status_code == 200, ready.text
    for before, after in zip(answers, again, strict=True):
        assert judged(after) == judged(before), before["answer"]
    assert histories_after == histories
    assert documents_after == documents
    assert carried_on["session_id"] == first["session_id"]
    assert [m["answer_id"] for m in conversation_after["messages"]] == [
        first["answer_id"],
        follow["answer_id"],
        carried_on["answer_id"],
    ]
