"""Citations are typed from the answer to the stored turn and back: a turn recorded now reads back with
each citation's `kind`, and a turn an earlier release stored (citations without `kind`, the highlighted
passage known by its chunk id) reads back typed too, in the session's history and as the conversation
a follow-up is resolved against."""

from __future__ import annotations

from pathlib import Path

from src.answering.recording import past_turn, previous_turns
from src.db.models import Message, utcnow
from src.kit.db import transaction
from src.sessions.repository import SessionRepository
from tests.conftest import make_settings, running_app

EARLIER = [
    {
        "id": 1,
        "chunk_id": "c1",
        "source_file": "docs/balance.md",
        "title": "Humanoids",
        "section": "Balance",
        "heading_path": [],
        "url": None,
        "quote": "The ZMP.",
    },
    {
        "id": 2,
        "chunk_id": "selection",
        "source_file": None,
        "title": "Selected text",
        "section": "Selected text",
        "heading_path": [],
        "url": None,
        "quote": "Mine.",
    },
]


async def test_a_turn_stored_by_an_earlier_release_reads_back_typed(tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path)) as (app, client):
        container = app.state.container
        async with transaction(container.db) as db:
            repo = SessionRepository(db)
            await repo.touch("earlier-session-1")
            values = {
                "id": "earlier-answer-1",
                "session_id": "earlier-session-1",
                "question": "What is the ZMP?",
                "answer": "The ZMP. [1]",
            }
            await repo.add_message(
                {**values, "citations": EARLIER, "provider": "extractive", "latency_ms": 1.0, "created_at": utcnow()}
            )
        history = (await client.get("/api/v1/sessions/earlier-session-1")).json()
        assert [(c["chunk_id"], c["kind"]) for c in history["messages"][0]["citations"]] == [
            ("c1", "book"),
            ("selection", "selection"),
        ]
        [turn] = await previous_turns(container.db, 5.0, "earlier-session-1")
        assert (
            turn.sources == ("docs/balance.md",)
            and turn.sections == (("docs/balance.md", "Balance"),)
            and turn.quotes == ("The ZMP.", "Mine.")
        )


async def test_a_turn_recorded_now_keeps_its_citations_kinds(tmp_path: Path) -> None:
    selection = "The Zero Moment Point must stay inside the support polygon. Otherwise the robot tips over."
    async with running_app(make_settings(tmp_path)) as (app, client):
        body = {"question": "explain this", "selected_text": selection, "mode": "selection_only"}
        answer = (await client.post("/api/v1/answer", json=body)).json()
        await app.state.container.recorder.flush_pending()
        history = (await client.get(f"/api/v1/sessions/{answer['session_id']}")).json()
        stored = history["messages"][0]["citations"]
        assert stored == answer["citations"] and [c["kind"] for c in stored] == ["selection"]
        async with transaction(app.state.container.db) as db:
            message = await db.get(Message, answer["answer_id"])
        assert message is not None and past_turn(message).quotes == (answer["citations"][0]["quote"],)
