"""The app on PostgreSQL, end to end: the rows one answered turn leaves behind, and an unmigrated
database reported as not ready."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from src.answering.recording import approx_tokens
from src.db.migrations import run_migrations
from src.db.models import IndexedDocument, Message, UserSession
from src.ingestion.schemas import IndexMetadata
from src.kit.db import create_engine, session_factory, transaction
from src.sessions.repository import SessionRepository
from tests.conftest import auth, running_app, shared_path
from tests.db.helpers import settings_for

CHAPTER = "docs/02-humanoid-robotics/index.md"
PAGE_URL = "https://book.example/docs/02-humanoid-robotics"


def chapter_body() -> dict[str, Any]:
    text_ = shared_path("data", "textbooks", "physical-ai", CHAPTER).read_text()
    return {"content": text_, "metadata": {"source_file": CHAPTER, "url": PAGE_URL, "document_type": "markdown"}}


async def test_app_on_postgresql_records_turns(pg_url: str, tmp_path: Path) -> None:
    await asyncio.to_thread(run_migrations, pg_url)
    settings = settings_for(tmp_path, pg_url)
    body = chapter_body()
    question = "What is the Zero Moment Point in bipedal locomotion?"
    async with running_app(settings) as (app, client):
        assert not app.state.container.settings.is_sqlite
        ready = await client.get("/api/v1/health/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["services"]["database"] == {
            "status": "up",
            "backend": "postgresql",
            "schema": "current",
            "pending_messages": 0,
        }

        indexed = await client.post("/api/v1/index", json=body, headers=auth())
        assert indexed.status_code == 200, indexed.text
        chunks = indexed.json()["indexed_chunks"]
        assert chunks > 10

        first = await client.post("/api/v1/answer", json={"question": question})
        assert first.status_code == 200, first.text
        a = first.json()
        session_id = a["session_id"]
        assert not a["refused"] and a["citations"] and len(session_id) == 32
        second = await client.post(
            "/api/v1/answer", json={"question": "How do humanoid robots keep their balance?", "session_id": session_id}
        )
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

            count = (
                await db.execute(select(func.count()).select_from(Message).where(Message.session_id == session_id))
            ).scalar_one()
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
            assert (
                document.content_hash
                == hashlib.sha256((meta.model_dump_json() + "\x00" + body["content"]).encode()).hexdigest()
            )
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
