"""Recording answered turns on real SQLite and real PostgreSQL: idempotent and race-free, a rejected row
does not block the others, turns wait for an unmigrated database in a bounded buffer (counted by the
rag_unrecorded_turns gauge), and the longest session id the API accepts is stored."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from src.agent.logging_agent import LoggingAgent, Turn
from src.db.migrations import run_migrations
from src.db.models import Message, UserSession
from src.kit.db import create_engine, session_factory, transaction
from src.retrieval.passage import Citation
from src.sessions.repository import SessionRepository
from tests.conftest import running_app
from tests.db.helpers import settings_for, sqlite_url


def turn(session_id: str, **overrides: Any) -> Turn:
    values: dict[str, Any] = {
        "answer_id": uuid.uuid4().hex,
        "session_id": session_id,
        "question": "What is ZMP?",
        "answer": "The Zero Moment Point [1].",
        "citations": [Citation(id=1, chunk_id="c1", quote="Zero Moment Point")],
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


async def test_turns_wait_for_an_unmigrated_database_in_a_bounded_buffer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Turns recorded before the schema exists wait (not dropped as bad data); past MAX_PENDING the oldest go;
    once migrated, the buffer is written."""
    import src.sessions.recorder as logging_agent_module

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


async def test_longest_allowed_session_id_is_recorded_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    """The API accepts session ids of up to 64 characters (clients chose their own before the service made
    them all): a session stored under the longest keeps taking turns, and the database stores them (not
    choke and leave every later turn stuck behind the failed one)."""
    await asyncio.to_thread(run_migrations, pg_url)
    settings = settings_for(tmp_path, pg_url)
    long_id = "s" * 64
    engine = create_engine(settings)
    try:
        async with transaction(session_factory(engine)) as db:
            await SessionRepository(db).touch(long_id)
        async with running_app(settings) as (app, client):
            first = await client.post(
                "/api/v1/answer", json={"question": "What is a humanoid robot?", "session_id": long_id}
            )
            assert first.status_code == 200, first.text
            assert first.json()["session_id"] == long_id
            second = await client.post("/api/v1/answer", json={"question": "What is a humanoid robot?"})
            assert second.status_code == 200
            assert not app.state.container.recorder.pending
        async with transaction(session_factory(engine)) as db:
            assert (await db.get(UserSession, long_id)) is not None
            assert (await db.get(Message, first.json()["answer_id"])).session_id == long_id  # type: ignore[union-attr]
            assert (await db.get(Message, second.json()["answer_id"])) is not None
    finally:
        await engine.dispose()


async def test_erasing_a_session_drops_its_waiting_turns(tmp_path: Path) -> None:
    """A turn still waiting for the database when its conversation is erased is dropped with it: written
    afterwards, it would bring the erased session back."""
    url = sqlite_url(tmp_path)
    await asyncio.to_thread(run_migrations, url)
    settings = settings_for(tmp_path, url)
    engine = create_engine(settings)
    try:
        agent = LoggingAgent(session_factory(engine), settings)
        assert await agent.record(turn("erased-session"))
        agent._retry_at = float("inf")  # the database looked down a moment ago: new turns wait
        waiting, other = turn("erased-session"), turn("kept-session")
        assert not await agent.record(waiting) and not await agent.record(other)
        async with agent.erasing("erased-session") as dropped, transaction(session_factory(engine)) as db:
            assert await SessionRepository(db).delete_session("erased-session")
        assert dropped == 1 and [t.answer_id for t in agent.pending] == [other.answer_id]
        agent._retry_at = 0.0
        assert await agent.flush_pending()
        async with transaction(session_factory(engine)) as db:
            assert await db.get(UserSession, "erased-session") is None
            assert await db.get(UserSession, "kept-session") is not None
    finally:
        await engine.dispose()


def test_pages_are_recorded_as_the_reports_group_them() -> None:
    row = turn("s" * 8, page="/docs/intro?utm_source=mail#zmp", top_chapter="C" * 900).row()
    assert row["page"] == "/docs/intro" and len(row["top_chapter"]) == 200
    assert turn("s" * 8, page="/docs/" + "a" * 1000).row()["page"] == "/docs/" + "a" * 294


async def test_the_unrecorded_turns_gauge_follows_the_buffer(tmp_path: Path) -> None:
    from prometheus_client import REGISTRY

    from src.sessions.recorder import TurnRecorder

    def gauge() -> float | None:
        return REGISTRY.get_sample_value("rag_unrecorded_turns")

    url = sqlite_url(tmp_path)
    settings = settings_for(tmp_path, url)
    engine = create_engine(settings)
    try:
        recorder = TurnRecorder(session_factory(engine), settings)
        # Not migrated yet: the turns wait, and the gauge counts them.
        assert not await recorder.record(turn("gauge-a"))
        assert not await recorder.flush_pending()
        recorder._retry_at = 0.0  # skip the back-off: the next answer tries the database at once
        assert not await recorder.record(turn("gauge-b"))
        assert len(recorder.pending) == 2 and gauge() == 2
        async with recorder.erasing("gauge-b") as dropped:
            assert dropped == 1
        assert gauge() == 1
        await asyncio.to_thread(run_migrations, url)
        assert await recorder.flush_pending()
        assert gauge() == 0
    finally:
        await engine.dispose()
