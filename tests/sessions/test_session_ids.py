"""Session ids are capabilities the service makes (128 random bits): a client cannot choose one. An id it
sends that names no session gets a new one with the answer (so nobody can create `student1` and read,
extend or erase it with whoever else guesses the name); an existing session's id keeps linking its turns,
ids clients chose before included, and so does one this worker issued whose turn is still waiting to be
written."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx

from src.db.migrations import run_migrations
from src.kit.db import create_engine, session_factory, transaction
from src.sessions.repository import SessionRepository
from tests.conftest import make_settings, running_app
from tests.db.helpers import settings_for, sqlite_url
from tests.sessions.test_recording import turn
from tests.sessions.test_sessions import index_chapter

MADE = re.compile(r"^[0-9a-f]{32}$")


async def ask(client: httpx.AsyncClient, question: str, session_id: str | None = None) -> dict[str, Any]:
    body = {"question": question} | ({"session_id": session_id} if session_id else {})
    response = await client.post("/api/v1/answer", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_a_client_chosen_session_id_names_no_session(client: httpx.AsyncClient) -> None:
    await index_chapter(client)
    first = await ask(client, "What is the Zero Moment Point?", session_id="student1")
    issued = first["session_id"]
    assert issued != "student1" and MADE.match(issued)
    # Nobody can read or erase a conversation under the name the client made up.
    assert (await client.get("/api/v1/sessions/student1")).status_code == 404
    assert (await client.delete("/api/v1/sessions/student1")).status_code == 404
    # Another client sending the same name gets a conversation of its own, not the first one's.
    other = await ask(client, "What is a humanoid robot?", session_id="student1")
    assert other["session_id"] not in {"student1", issued} and MADE.match(other["session_id"])
    # The id the service made links the turns, as before.
    follow = await ask(client, "Why does it matter for stable walking?", session_id=issued)
    assert follow["session_id"] == issued
    assert follow["standalone_question"] and "Zero Moment Point" in follow["standalone_question"]
    history = (await client.get(f"/api/v1/sessions/{issued}")).json()
    assert [m["answer_id"] for m in history["messages"]] == [first["answer_id"], follow["answer_id"]]
    assert len((await client.get(f"/api/v1/sessions/{other['session_id']}")).json()["messages"]) == 1


async def test_a_session_a_client_named_before_keeps_its_turns(tmp_path: Path) -> None:
    """Sessions stored under ids clients chose (before the service made them all) go on working."""
    async with running_app(make_settings(tmp_path)) as (app, client):
        await index_chapter(client)
        async with transaction(app.state.db) as db:
            await SessionRepository(db).touch("student1-legacy")
        answer = await ask(client, "What is the Zero Moment Point?", session_id="student1-legacy")
        assert answer["session_id"] == "student1-legacy"
        history = await client.get("/api/v1/sessions/student1-legacy")
        assert history.status_code == 200 and [m["answer_id"] for m in history.json()["messages"]] == [
            answer["answer_id"]
        ]


async def test_an_issued_id_waiting_in_the_recorder_counts_as_a_session(tmp_path: Path) -> None:
    """A follow-up can come before its first turn is written (turns are written after the answer, later still
    while the database is slow): an id with a turn waiting here is kept, with its history reader. An id that
    names nothing gets a new one and no history reader, so nothing is read under it."""
    from src.sessions.recorder import TurnRecorder, new_session_id

    url = sqlite_url(tmp_path)
    await asyncio.to_thread(run_migrations, url)
    settings = settings_for(tmp_path, url)
    engine = create_engine(settings)

    async def history() -> list[str]:
        return []

    try:
        recorder = TurnRecorder(session_factory(engine), settings)
        waiting = new_session_id()
        recorder.pending.append(turn(waiting))
        assert await recorder.session_for(waiting, history) == (waiting, history)
        for unknown in ("student1", new_session_id()):
            replaced, reader = await recorder.session_for(unknown, history)
            assert replaced != unknown and MADE.match(replaced) and reader is None
        fresh, reader = await recorder.session_for(None, history)
        assert MADE.match(fresh) and reader is None
        assert await recorder.flush_pending() and not recorder.pending
        assert await recorder.session_for(waiting, history) == (waiting, history)  # written: in the database now

        # While the database cannot be read, an id of the shape the service makes is kept (it was most likely
        # issued, and the conversation goes on); a made-up name is not.
        recorder._retry_at = float("inf")
        issued_elsewhere = new_session_id()
        assert await recorder.session_for(issued_elsewhere, history) == (issued_elsewhere, history)
        assert (await recorder.session_for("student1", history))[0] != "student1"
    finally:
        await engine.dispose()
