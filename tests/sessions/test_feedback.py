"""Feedback is one row per answer: the latest rating and comment replace the earlier ones (the table grew by
a row per click before), on SQLite and PostgreSQL, also when ratings of one answer arrive at once, and rows
the release before left (it inserts a row per rating while both run during a deploy) fold into one."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import delete, func, select

from src.db.migrations import run_migrations
from src.db.models import Feedback, Message, utcnow
from src.kit.db import create_engine, session_factory, transaction
from tests.conftest import running_app
from tests.db.helpers import seed, settings_for, sqlite_url
from tests.sessions.test_sessions import index_chapter


async def feedback_rows(app: FastAPI, answer_id: str) -> list[Feedback]:
    async with transaction(app.state.db) as db:
        return list((await db.execute(select(Feedback).where(Feedback.message_id == answer_id))).scalars())


async def message_rating(app: FastAPI, answer_id: str) -> str | None:
    async with transaction(app.state.db) as db:
        message = await db.get(Message, answer_id)
        assert message is not None
        return message.rating


async def answer_id_of(client: httpx.AsyncClient, question: str) -> str:
    response = await client.post("/api/v1/answer", json={"question": question})
    assert response.status_code == 200, response.text
    return str(response.json()["answer_id"])


async def check_one_row_per_answer(url: str, tmp_path: Path) -> None:
    await asyncio.to_thread(run_migrations, url)
    async with running_app(settings_for(tmp_path, url)) as (app, client):
        await index_chapter(client)
        answer = await answer_id_of(client, "What is the Zero Moment Point?")
        given = [("up", "clear"), ("down", "too long"), ("down", None)]
        responses = [
            await client.post(
                "/api/v1/feedback", json={"answer_id": answer, "rating": r} | ({"comment": c} if c else {})
            )
            for r, c in given
        ]
        assert [r.status_code for r in responses] == [201] * 3
        assert len({r.json()["feedback_id"] for r in responses}) == 1
        rows = await feedback_rows(app, answer)
        assert [(f.rating, f.comment) for f in rows] == [("down", None)]
        assert await message_rating(app, answer) == "down"

        # Ratings of one answer at once (a double click, two tabs) still leave one row.
        other = await answer_id_of(client, "How do humanoid robots keep their balance?")
        at_once = await asyncio.gather(
            *(
                client.post("/api/v1/feedback", json={"answer_id": other, "rating": "up", "comment": f"n{i}"})
                for i in range(8)
            )
        )
        assert [r.status_code for r in at_once] == [201] * 8, [r.text for r in at_once]
        rows = await feedback_rows(app, other)
        assert len(rows) == 1 and rows[0].rating == "up"


async def test_feedback_is_one_row_per_answer_sqlite(tmp_path: Path) -> None:
    await check_one_row_per_answer(sqlite_url(tmp_path), tmp_path)


async def test_feedback_is_one_row_per_answer_postgresql(pg_url: str, tmp_path: Path) -> None:
    await check_one_row_per_answer(pg_url, tmp_path)


async def test_two_ratings_in_flight_take_turns_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    """The first rating's transaction holds the turn's row; the second waits for its commit, then finds its
    feedback row and updates it (two inserts were possible when each looked for a row first, unlocked)."""
    from src.sessions.repository import SessionRepository

    await asyncio.to_thread(run_migrations, pg_url)
    engine = create_engine(settings_for(tmp_path, pg_url))
    factory = session_factory(engine)
    try:
        [answer] = await seed(engine, "seeded-session-0001", utcnow(), messages=1)
        async with transaction(factory) as db:  # the seed's own feedback row goes: start from none
            await db.execute(delete(Feedback))
        async with transaction(factory) as first:
            assert await SessionRepository(first).rate(answer, "up", "first") is not None

            async def second() -> None:
                async with transaction(factory) as db:
                    assert await SessionRepository(db).rate(answer, "down", "second") is not None

            waiting = asyncio.create_task(second())
            await asyncio.sleep(0.2)  # let it reach the row lock (the outcome does not depend on it)
        await waiting
        async with transaction(factory) as db:
            rows = list((await db.execute(select(Feedback).where(Feedback.message_id == answer))).scalars())
            assert [(f.rating, f.comment) for f in rows] == [("down", "second")]
    finally:
        await engine.dispose()


async def test_rows_the_release_before_left_fold_into_the_latest(tmp_path: Path) -> None:
    from src.sessions.repository import SessionRepository

    url = sqlite_url(tmp_path)
    await asyncio.to_thread(run_migrations, url)
    engine = create_engine(settings_for(tmp_path, url))
    factory = session_factory(engine)
    try:
        [answer] = await seed(engine, "seeded-session-0002", utcnow(), messages=1)
        async with transaction(factory) as db:  # as the release before writes them: a row per rating
            db.add_all(
                [
                    Feedback(message_id=answer, rating="down", comment="old"),
                    Feedback(message_id=answer, rating="up", comment=None),
                ]
            )
        async with transaction(factory) as db:
            assert (await db.execute(select(func.count()).select_from(Feedback))).scalar_one() == 3
            await SessionRepository(db).rate(answer, "down", "latest")
        async with transaction(factory) as db:
            rows = list((await db.execute(select(Feedback))).scalars())
            assert [(f.message_id, f.rating, f.comment) for f in rows] == [(answer, "down", "latest")]
    finally:
        await engine.dispose()
