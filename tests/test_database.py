"""The database layer on real SQLite and real PostgreSQL: migrations both ways (API and CLI), the
rows one answered turn leaves behind, cascades, and session retention (API, scheduler, runbook)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from src.answering.service import approx_tokens
from src.db.models import Base, Feedback, IndexedDocument, Message, UserSession
from src.ingestion.schemas import IndexMetadata
from src.kit.db import create_engine, session_factory, transaction
from src.kit.resources import _cleanup, _every, alembic_head, run_migrations
from src.kit.settings import Settings
from src.sessions.logging_agent import LoggingAgent, Turn
from src.sessions.repository import SessionRepository
from tests.conftest import REPO, auth, make_settings, running_app, shared_path

CHAPTER = "docs/02-humanoid-robotics/index.md"
PAGE_URL = "https://book.example/docs/02-humanoid-robotics"
TABLES = {"user_sessions", "messages", "feedback", "indexed_documents"}
RUNBOOK_CLEANUP = "from src.agent.logging_agent import LoggingAgent; print(LoggingAgent().cleanup_old_sessions(days=30))"


def sqlite_url(tmp_path: Path, name: str = "app.db") -> str:
    return f"sqlite+aiosqlite:///{tmp_path / name}"


def settings_for(tmp_path: Path, url: str) -> Settings:
    return make_settings(tmp_path, database_url=url, auto_migrate=False)


def alembic_config(url: str) -> Config:
    cfg = Config(str(REPO / "alembic.ini"))
    cfg.attributes["skip_logging_config"] = True
    cfg.attributes["database_url"] = url
    return cfg


def downgrade(url: str, target: str = "base") -> None:
    command.downgrade(alembic_config(url), target)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of an operator's shell: no database, cache or vector store configured unless given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEON_", "DATABASE_URL", "QDRANT_", "REDIS_", "DATA_DIR", "LOG_DIR"))}
    env["HF_HUB_OFFLINE"] = "1"
    env.update(extra)
    return env


async def schema_state(url: str, tmp_path: Path) -> tuple[set[str], str | None, list[Any]]:
    """(tables, alembic revision, differences between the migrated schema and the models)."""
    engine = create_engine(settings_for(tmp_path, url))
    try:
        async with engine.connect() as conn:

            def inspect_sync(sync_conn: Any) -> tuple[set[str], str | None, list[Any]]:
                tables = set(inspect(sync_conn).get_table_names())
                revision = MigrationContext.configure(sync_conn).get_current_revision()
                diff = compare_metadata(MigrationContext.configure(sync_conn), Base.metadata) if tables - {"alembic_version"} else []
                return tables, revision, diff

            return await conn.run_sync(inspect_sync)
    finally:
        await engine.dispose()


async def check_migrations_round_trip(url: str, tmp_path: Path) -> None:
    head = alembic_head()
    await asyncio.to_thread(run_migrations, url)
    tables, revision, diff = await schema_state(url, tmp_path)
    assert tables >= TABLES
    assert revision == head
    assert diff == [], f"the migrated schema differs from src/db/models.py: {diff}"

    await asyncio.to_thread(downgrade, url)
    tables, revision, _ = await schema_state(url, tmp_path)
    assert not (TABLES & tables), tables
    assert revision is None

    await asyncio.to_thread(run_migrations, url)
    await asyncio.to_thread(run_migrations, url)  # a second upgrade is a no-op
    tables, revision, diff = await schema_state(url, tmp_path)
    assert tables >= TABLES and revision == head and diff == []


async def test_migrations_round_trip_sqlite(tmp_path: Path) -> None:
    await check_migrations_round_trip(sqlite_url(tmp_path), tmp_path)


async def test_migrations_round_trip_postgresql(pg_url: str, tmp_path: Path) -> None:
    await check_migrations_round_trip(pg_url, tmp_path)


FIRST_REVISION = "5684c229a784"


async def check_upgrade_keeps_data(url: str, tmp_path: Path) -> None:
    """Upgrading a database that already holds sessions keeps every row (on SQLite the later migration
    rebuilds tables, which with foreign keys on would cascade-delete the messages)."""
    await asyncio.to_thread(lambda: command.upgrade(alembic_config(url), FIRST_REVISION))
    engine = create_engine(settings_for(tmp_path, url))
    try:
        await seed(engine, "before-upgrade", datetime.now(UTC), messages=3)
        before = await counts(engine)
    finally:
        await engine.dispose()
    await asyncio.to_thread(run_migrations, url)
    _, revision, diff = await schema_state(url, tmp_path)
    assert revision == alembic_head() and diff == []
    engine = create_engine(settings_for(tmp_path, url))
    try:
        assert await counts(engine) == before == {"user_sessions": 1, "messages": 3, "feedback": 3}
        await seed(engine, "x" * 64, datetime.now(UTC), messages=1)  # the longest id the API accepts
        async with transaction(session_factory(engine)) as db:  # and the cascade still holds after the rebuild
            assert await SessionRepository(db).delete_session("before-upgrade")
        assert await counts(engine) == {"user_sessions": 1, "messages": 1, "feedback": 1}
        if url.startswith("postgresql"):  # a 64-character id does not fit the old schema: the downgrade refuses
            with pytest.raises(DBAPIError, match="too long"):
                await asyncio.to_thread(downgrade, url, FIRST_REVISION)
        async with transaction(session_factory(engine)) as db:
            assert await SessionRepository(db).delete_session("x" * 64)
    finally:
        await engine.dispose()
    await asyncio.to_thread(downgrade, url, FIRST_REVISION)
    assert (await schema_state(url, tmp_path))[1] == FIRST_REVISION


async def test_upgrade_keeps_data_sqlite(tmp_path: Path) -> None:
    await check_upgrade_keeps_data(sqlite_url(tmp_path), tmp_path)


async def test_upgrade_keeps_data_postgresql(pg_url: str, tmp_path: Path) -> None:
    await check_upgrade_keeps_data(pg_url, tmp_path)


def alembic_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "alembic", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)


async def test_alembic_cli_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    env = clean_env(DATABASE_URL=pg_url, DATA_DIR=str(tmp_path / "data"))
    up = await asyncio.to_thread(alembic_cli, "upgrade", "head", env=env)
    assert up.returncode == 0, up.stderr
    tables, revision, diff = await schema_state(pg_url, tmp_path)
    assert tables >= TABLES and revision == alembic_head() and diff == []
    assert not (tmp_path / "data" / "app.db").exists(), "DATABASE_URL must win over the embedded SQLite default"

    current = await asyncio.to_thread(alembic_cli, "current", env=env)
    assert current.returncode == 0 and alembic_head() in current.stdout, current.stdout + current.stderr
    down = await asyncio.to_thread(alembic_cli, "downgrade", "base", env=env)
    assert down.returncode == 0, down.stderr
    assert not (TABLES & (await schema_state(pg_url, tmp_path))[0])
    again = await asyncio.to_thread(alembic_cli, "upgrade", "head", env=env)
    assert again.returncode == 0, again.stderr
    assert (await schema_state(pg_url, tmp_path))[1] == alembic_head()


async def test_alembic_cli_defaults_to_sqlite_in_data_dir(tmp_path: Path) -> None:
    env = clean_env(DATA_DIR=str(tmp_path / "data"))
    up = await asyncio.to_thread(alembic_cli, "upgrade", "head", env=env)
    assert up.returncode == 0, up.stderr
    db_file = tmp_path / "data" / "app.db"
    assert db_file.exists()
    tables, revision, _ = await schema_state(f"sqlite+aiosqlite:///{db_file}", tmp_path)
    assert tables >= TABLES and revision == alembic_head()


# --- the app on PostgreSQL, end to end -------------------------------------------------------------------------------


def chapter_body() -> dict[str, Any]:
    text_ = shared_path("data", "textbooks", "physical-ai", CHAPTER).read_text()
    return {"content": text_, "metadata": {"source_file": CHAPTER, "url": PAGE_URL, "document_type": "markdown"}}


async def test_app_on_postgresql_records_turns(pg_url: str, tmp_path: Path) -> None:
    await asyncio.to_thread(run_migrations, pg_url)
    settings = settings_for(tmp_path, pg_url)
    body = chapter_body()
    session_id = "pg-e2e-" + uuid.uuid4().hex[:12]
    question = "What is the Zero Moment Point in bipedal locomotion?"
    async with running_app(settings) as (app, client):
        assert not app.state.resources.settings.is_sqlite
        ready = await client.get("/api/v1/health/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["services"]["database"] == {"status": "up", "backend": "postgresql", "pending_messages": 0}

        indexed = await client.post("/api/v1/index", json=body, headers=auth())
        assert indexed.status_code == 200, indexed.text
        chunks = indexed.json()["indexed_chunks"]
        assert chunks > 10

        first = await client.post("/api/v1/answer", json={"question": question, "session_id": session_id})
        assert first.status_code == 200, first.text
        a = first.json()
        assert not a["refused"] and a["citations"] and a["session_id"] == session_id
        second = await client.post("/api/v1/answer", json={"question": "How do humanoid robots keep their balance?", "session_id": session_id})
        assert second.status_code == 200, second.text

        docs = (await client.get("/api/v1/index/documents", headers=auth())).json()
        assert docs["total"] == 1 and docs["documents"][0]["chunk_count"] == chunks

    engine = create_engine(settings)
    try:
        async with transaction(session_factory(engine)) as db:
            message = await db.get(Message, a["answer_id"])
            assert message is not None
            assert message.session_id == session_id
            assert message.question == question
            assert message.answer == a["answer"]
            assert message.citations == a["citations"]
            assert [c["id"] for c in message.citations] == [c["id"] for c in a["citations"]]
            assert message.provider == "extractive" == a["provider"]
            assert message.latency_ms == pytest.approx(a["latency_ms"]) and message.latency_ms > 0
            assert message.prompt_tokens == approx_tokens(question)
            assert message.completion_tokens == approx_tokens(a["answer"])
            assert message.refused is False
            assert message.confidence == pytest.approx(a["confidence_score"])
            assert message.created_at.tzinfo is not None

            count = (await db.execute(select(func.count()).select_from(Message).where(Message.session_id == session_id))).scalar_one()
            assert count == 2
            history = await SessionRepository(db).history(session_id, 10)
            assert [m.id for m in history] == [a["answer_id"], second.json()["answer_id"]]

            user_session = await db.get(UserSession, session_id)
            assert user_session is not None
            assert user_session.created_at <= user_session.last_active_at
            assert user_session.created_at == message.created_at
            assert user_session.last_active_at == history[-1].created_at
            assert datetime.now(UTC) - user_session.last_active_at < timedelta(minutes=10)

            document = await db.get(IndexedDocument, CHAPTER)
            assert document is not None
            assert document.chunk_count == chunks
            meta = IndexMetadata(**body["metadata"])
            assert document.content_hash == hashlib.sha256((meta.model_dump_json() + "\x00" + body["content"]).encode()).hexdigest()
            assert document.document_type == "markdown" and document.status == "indexed"
            assert document.title and document.content_id == indexed.json()["content_id"]
    finally:
        await engine.dispose()


async def test_app_on_unmigrated_postgresql_is_not_ready(pg_url: str, tmp_path: Path) -> None:
    async with running_app(settings_for(tmp_path, pg_url)) as (_, client):
        ready = await client.get("/api/v1/health/ready")
        assert ready.status_code == 503
        assert ready.json()["services"]["database"]["status"] == "not_migrated"
        assert (await client.get("/health")).status_code == 200


# --- cascades --------------------------------------------------------------------------------------------------------


async def seed(engine: AsyncEngine, session_id: str, last_active: datetime, messages: int = 2) -> list[str]:
    ids = []
    async with transaction(session_factory(engine)) as db:
        db.add(UserSession(id=session_id, created_at=last_active, last_active_at=last_active))
        await db.flush()
        for i in range(messages):
            mid = uuid.uuid4().hex
            ids.append(mid)
            db.add(
                Message(
                    id=mid,
                    session_id=session_id,
                    question=f"q{i}",
                    answer=f"a{i}",
                    citations=[{"id": 1, "chunk_id": "c", "quote": "x"}],
                    provider="extractive",
                    latency_ms=1.5,
                    created_at=last_active,
                )
            )
            await db.flush()
            db.add(Feedback(message_id=mid, rating="up", comment="thanks"))
        await db.flush()
    return ids


async def counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return {t: int((await conn.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one()) for t in ("user_sessions", "messages", "feedback")}


async def check_cascade(url: str, tmp_path: Path) -> None:
    await asyncio.to_thread(run_migrations, url)
    engine = create_engine(settings_for(tmp_path, url))
    try:
        now = datetime.now(UTC)
        await seed(engine, "cascade-doomed", now, messages=3)
        kept = await seed(engine, "cascade-kept", now, messages=2)
        assert await counts(engine) == {"user_sessions": 2, "messages": 5, "feedback": 5}

        async with transaction(session_factory(engine)) as db:
            assert await SessionRepository(db).delete_session("cascade-doomed")
        assert await counts(engine) == {"user_sessions": 1, "messages": 2, "feedback": 2}
        async with engine.connect() as conn:
            left = {r[0] for r in await conn.execute(select(Message.id))}
            fb = {r[0] for r in await conn.execute(select(Feedback.message_id))}
        assert left == set(kept) == fb

        async with transaction(session_factory(engine)) as db:  # a raw DELETE cascades too: it is the database's rule
            await db.execute(text("DELETE FROM user_sessions WHERE id = 'cascade-kept'"))
        assert await counts(engine) == {"user_sessions": 0, "messages": 0, "feedback": 0}
        async with transaction(session_factory(engine)) as db:
            assert not await SessionRepository(db).delete_session("cascade-kept")
    finally:
        await engine.dispose()


async def test_cascade_sqlite(tmp_path: Path) -> None:
    await check_cascade(sqlite_url(tmp_path), tmp_path)


async def test_cascade_postgresql(pg_url: str, tmp_path: Path) -> None:
    await check_cascade(pg_url, tmp_path)


# --- retention -------------------------------------------------------------------------------------------------------


async def seed_ages(url: str, tmp_path: Path) -> set[str]:
    """Sessions idle 400, 45 and 31 days (old) and 29 days, 1 day and now (kept); returns the kept ids."""
    await asyncio.to_thread(run_migrations, url)
    engine = create_engine(settings_for(tmp_path, url))
    now = datetime.now(UTC)
    try:
        for days in (400, 45, 31):
            await seed(engine, f"old-{days}d", now - timedelta(days=days))
        for days in (29, 1, 0):
            await seed(engine, f"new-{days}d", now - timedelta(days=days))
        # Created long ago but active yesterday: kept (retention counts from the last activity).
        async with transaction(session_factory(engine)) as db:
            db.add(UserSession(id="long-lived", created_at=now - timedelta(days=90), last_active_at=now - timedelta(days=1)))
    finally:
        await engine.dispose()
    return {"new-29d", "new-1d", "new-0d", "long-lived"}


async def remaining(url: str, tmp_path: Path) -> tuple[set[str], dict[str, int]]:
    engine = create_engine(settings_for(tmp_path, url))
    try:
        async with engine.connect() as conn:
            ids = {r[0] for r in await conn.execute(select(UserSession.id))}
        return ids, await counts(engine)
    finally:
        await engine.dispose()


def test_cleanup_sync_sqlite(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    kept = asyncio.run(seed_ages(url, tmp_path))
    agent = LoggingAgent(settings=settings_for(tmp_path, url))
    assert agent.cleanup_old_sessions(days=30) == 3
    ids, n = asyncio.run(remaining(url, tmp_path))
    assert ids == kept
    assert n == {"user_sessions": 4, "messages": 6, "feedback": 6}  # the old sessions' messages and feedback went with them
    assert agent.cleanup_old_sessions(days=30) == 0


def test_cleanup_sync_postgresql(pg_url: str, tmp_path: Path) -> None:
    kept = asyncio.run(seed_ages(pg_url, tmp_path))
    agent = LoggingAgent(settings=settings_for(tmp_path, pg_url))
    assert agent.cleanup_old_sessions(days=30) == 3
    ids, n = asyncio.run(remaining(pg_url, tmp_path))
    assert ids == kept and n["messages"] == 6 and n["feedback"] == 6
    assert agent.cleanup_old_sessions(days=2) == 1  # new-29d
    assert asyncio.run(remaining(pg_url, tmp_path))[0] == {"new-1d", "new-0d", "long-lived"}


async def test_cleanup_sync_from_inside_an_event_loop(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    kept = await seed_ages(url, tmp_path)
    assert LoggingAgent(settings=settings_for(tmp_path, url)).cleanup_old_sessions(days=30) == 3
    assert (await remaining(url, tmp_path))[0] == kept


async def test_cleanup_async_postgresql(pg_url: str, tmp_path: Path) -> None:
    kept = await seed_ages(pg_url, tmp_path)
    settings = settings_for(tmp_path, pg_url)
    engine = create_engine(settings)
    try:
        agent = LoggingAgent(session_factory(engine), settings)
        assert await agent.cleanup_old_sessions_async(days=30) == 3
        assert await agent.cleanup_old_sessions_async(days=30) == 0
    finally:
        await engine.dispose()
    assert (await remaining(pg_url, tmp_path))[0] == kept
    # Without a factory it opens (and closes) its own engine; the default retention comes from settings.
    assert await LoggingAgent(settings=settings.model_copy(update={"session_retention_days": 2})).cleanup_old_sessions_async() == 1


async def test_cleanup_async_sqlite(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    kept = await seed_ages(url, tmp_path)
    assert await LoggingAgent(settings=settings_for(tmp_path, url)).cleanup_old_sessions_async(30) == 3
    assert (await remaining(url, tmp_path))[0] == kept


def test_runbook_cleanup_command(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    url = f"sqlite+aiosqlite:///{data_dir / 'app.db'}"
    data_dir.mkdir()
    kept = asyncio.run(seed_ages(url, tmp_path))
    env = clean_env(DATA_DIR=str(data_dir), LOG_DIR=str(tmp_path / "logs"))
    run = subprocess.run([sys.executable, "-c", RUNBOOK_CLEANUP], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert lines[-1] == "3", run.stdout
    assert lines == ["3"], f"logging must not reach stdout: {run.stdout!r}"
    assert "SESSION_CLEANUP" in run.stderr  # the log line goes to stderr (and the log file)
    assert "SESSION_CLEANUP" in (tmp_path / "logs" / "app.log").read_text()
    assert asyncio.run(remaining(url, tmp_path))[0] == kept

    again = subprocess.run([sys.executable, "-c", RUNBOOK_CLEANUP], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 0 and again.stdout.strip().splitlines() == ["0"], again.stdout + again.stderr


def test_cli_cleanup_command(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    asyncio.run(seed_ages(f"sqlite+aiosqlite:///{data_dir / 'app.db'}", tmp_path))
    env = clean_env(DATA_DIR=str(data_dir), LOG_DIR=str(tmp_path / "logs"))
    run = subprocess.run(
        [sys.executable, "-m", "src.cli", "cleanup", "--days", "30"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines() == ["Cleaned up 3 old sessions"], run.stdout


async def test_scheduled_cleanup_job(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path, "sched.db")
    kept = await seed_ages(url, tmp_path)
    settings = make_settings(tmp_path, database_url=url, auto_migrate=False, session_retention_days=30, cleanup_interval_seconds=60)
    async with running_app(settings) as (app, _):
        resources = app.state.resources
        names = {t.get_name(): t for t in resources.tasks}
        assert not names["session-cleanup"].done() and not names["pending-flush"].done()
        await _cleanup(resources)
        assert (await remaining(url, tmp_path))[0] == kept
        await _cleanup(resources)  # idempotent
        assert (await remaining(url, tmp_path))[0] == kept
        log = (settings.log_dir / "app.log").read_text()
        assert '"removed": 3' in log and '"retention_days": 30' in log


async def test_scheduler_survives_a_failing_job() -> None:
    runs: list[int] = []

    async def job(_: object) -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("the first run fails")

    task = asyncio.create_task(_every(0.01, job, object()))  # type: ignore[arg-type]
    try:
        for _ in range(500):
            if len(runs) >= 3:
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(runs) >= 3


async def test_longest_allowed_session_id_is_recorded_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    """The API accepts session ids of up to 64 characters; the database must store them (not choke and
    leave every later turn stuck behind the failed one)."""
    await asyncio.to_thread(run_migrations, pg_url)
    settings = settings_for(tmp_path, pg_url)
    long_id = "s" * 64
    async with running_app(settings) as (app, client):
        first = await client.post("/api/v1/answer", json={"question": "What is a humanoid robot?", "session_id": long_id})
        assert first.status_code == 200, first.text
        second = await client.post("/api/v1/answer", json={"question": "What is a humanoid robot?"})
        assert second.status_code == 200
        assert not app.state.resources.logging_agent.pending
    engine = create_engine(settings)
    try:
        async with transaction(session_factory(engine)) as db:
            assert (await db.get(UserSession, long_id)) is not None
            assert (await db.get(Message, first.json()["answer_id"])).session_id == long_id  # type: ignore[union-attr]
            assert (await db.get(Message, second.json()["answer_id"])) is not None
    finally:
        await engine.dispose()


def turn(session_id: str, **overrides: Any) -> Turn:
    values: dict[str, Any] = {
        "answer_id": uuid.uuid4().hex,
        "session_id": session_id,
        "question": "What is ZMP?",
        "answer": "The Zero Moment Point [1].",
        "citations": [{"id": 1, "chunk_id": "c1", "quote": "Zero Moment Point"}],
        "provider": "extractive",
        "latency_ms": 12.5,
        "prompt_tokens": 3,
        "completion_tokens": 7,
    }
    return Turn(**(values | overrides))


async def check_recording(url: str, tmp_path: Path) -> None:
    await asyncio.to_thread(run_migrations, url)
    settings = settings_for(tmp_path, url)
    engines = [create_engine(settings), create_engine(settings)]
    try:
        # Two workers record the first turns of the same new session at the same moment: one session, both turns.
        workers = [LoggingAgent(session_factory(e), settings) for e in engines]
        turns = [turn("shared-session"), turn("shared-session")]
        assert await asyncio.gather(*(w.record(t) for w, t in zip(workers, turns, strict=True))) == [True, True]
        # A write replayed after a lost acknowledgement (same answer id) is stored once.
        again = LoggingAgent(session_factory(engines[0]), settings)
        assert await again.record(turns[0])
        # last_active_at only moves forward, even if an older turn is written late.
        late = turn("shared-session", created_at=datetime.now(UTC) - timedelta(days=3))
        assert await again.record(late)
        async with transaction(session_factory(engines[0])) as db:
            ids = {r[0] for r in await db.execute(select(Message.id).where(Message.session_id == "shared-session"))}
            row = await db.get(UserSession, "shared-session")
        assert ids == {turns[0].answer_id, turns[1].answer_id, late.answer_id}
        assert row is not None
        newest = max(turns[0].created_at, turns[1].created_at)
        assert abs((row.last_active_at.replace(tzinfo=UTC) - newest).total_seconds()) < 0.01
        assert row.created_at.replace(tzinfo=UTC) <= newest
    finally:
        for e in engines:
            await e.dispose()


async def test_recording_is_idempotent_and_race_free_sqlite(tmp_path: Path) -> None:
    await check_recording(sqlite_url(tmp_path), tmp_path)


async def test_recording_is_idempotent_and_race_free_postgresql(pg_url: str, tmp_path: Path) -> None:
    await check_recording(pg_url, tmp_path)


async def test_a_rejected_turn_does_not_block_the_others(pg_url: str, tmp_path: Path) -> None:
    """A row the database refuses (here: a provider name longer than its column) is retried a few times,
    then dropped with an error log; the turns behind it are written."""
    await asyncio.to_thread(run_migrations, pg_url)
    settings = settings_for(tmp_path, pg_url)
    engine = create_engine(settings)
    try:
        agent = LoggingAgent(session_factory(engine), settings)
        bad, good = turn("rejected-1", provider="p" * 100), turn("rejected-1")
        assert not await agent.record(bad)
        assert not await agent.record(good)  # queued behind it (the agent is backing off after the failure)
        for _ in range(5):
            if await agent.flush_pending():
                break
        assert not agent.pending and agent.dropped == 1
        async with transaction(session_factory(engine)) as db:
            assert await db.get(Message, good.answer_id) is not None
            assert await db.get(Message, bad.answer_id) is None
    finally:
        await engine.dispose()


async def test_turns_wait_for_an_unmigrated_database_in_a_bounded_buffer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Turns recorded before the schema exists wait (not dropped as bad data); past MAX_PENDING the oldest go;
    once migrated, the buffer is written."""
    import src.sessions.logging_agent as logging_agent_module

    monkeypatch.setattr(logging_agent_module, "MAX_PENDING", 3)
    url = sqlite_url(tmp_path)
    settings = settings_for(tmp_path, url)
    engine = create_engine(settings)
    try:
        agent = LoggingAgent(session_factory(engine), settings)
        turns = [turn("early-session") for _ in range(5)]
        for t in turns:
            assert not await agent.record(t)
        assert [t.answer_id for t in agent.pending] == [t.answer_id for t in turns[2:]]
        assert agent.dropped == 2
        assert not await agent.flush_pending()  # still no tables: kept
        await asyncio.to_thread(run_migrations, url)
        assert await agent.flush_pending()
        async with transaction(session_factory(engine)) as db:
            stored = {r[0] for r in await db.execute(select(Message.id))}
        assert stored == {t.answer_id for t in turns[2:]}
    finally:
        await engine.dispose()
