"""Sessions over HTTP: history in order, feedback on an answer, and erasing a session with
everything under it."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.conftest import auth, shared_path

CHAPTER = "docs/02-humanoid-robotics/index.md"


async def index_chapter(client: httpx.AsyncClient) -> None:
    text = shared_path("data", "textbooks", "physical-ai", CHAPTER).read_text()
    r = await client.post("/api/v1/index", json={"content": text, "metadata": {"source_file": CHAPTER}}, headers=auth())
    assert r.status_code == 200


async def test_history_feedback_and_erase(client: httpx.AsyncClient) -> None:
    await index_chapter(client)
    first = (await client.post("/api/v1/answer", json={"question": "What is the Zero Moment Point?"})).json()
    session = first["session_id"]
    second = (
        await client.post(
            "/api/v1/answer",
            json={"question": "How many degrees of freedom does a humanoid arm have?", "session_id": session},
        )
    ).json()
    assert second["session_id"] == session

    history = await client.get(f"/api/v1/sessions/{session}")
    assert history.status_code == 200
    body = history.json()
    assert [m["answer_id"] for m in body["messages"]] == [first["answer_id"], second["answer_id"]]
    assert body["messages"][0]["question"] == "What is the Zero Moment Point?"
    assert body["messages"][0]["citations"] == first["citations"]

    rated = await client.post(
        "/api/v1/feedback", json={"answer_id": first["answer_id"], "rating": "up", "comment": "clear"}
    )
    assert rated.status_code == 201 and rated.json()["answer_id"] == first["answer_id"]
    assert (
        await client.post("/api/v1/feedback", json={"answer_id": first["answer_id"], "rating": "meh"})
    ).status_code == 422
    assert (
        await client.post(
            "/api/v1/feedback", json={"answer_id": first["answer_id"], "rating": "up", "comment": "a\x00b"}
        )
    ).status_code == 422
    unknown = await client.post("/api/v1/feedback", json={"answer_id": "0" * 32, "rating": "down"})
    assert unknown.status_code == 404 and set(unknown.json()) == {"error", "details", "request_id"}

    erased = await client.delete(f"/api/v1/sessions/{session}")
    assert erased.status_code == 200 and erased.json()["deleted_messages"] == 2
    assert (await client.get(f"/api/v1/sessions/{session}")).status_code == 404
    assert (await client.delete(f"/api/v1/sessions/{session}")).status_code == 404
    gone = await client.post("/api/v1/feedback", json={"answer_id": first["answer_id"], "rating": "down"})
    assert gone.status_code == 404  # the answer went with its session


async def test_bad_session_ids_are_rejected(client: httpx.AsyncClient) -> None:
    for bad in ("short", "x" * 65, "has%20space", "..%2F..%2Fetc"):
        r = await client.get(f"/api/v1/sessions/{bad}")
        assert r.status_code in {404, 422}, bad
        assert set(r.json()) == {"error", "details", "request_id"}
    assert (await client.get("/api/v1/sessions/" + "a" * 32)).status_code == 404


async def test_follow_up_questions_use_the_conversation(client: httpx.AsyncClient) -> None:
    await index_chapter(client)
    first = (await client.post("/api/v1/answer", json={"question": "What is the Zero Moment Point?"})).json()
    follow = (
        await client.post(
            "/api/v1/answer",
            json={"question": "Why does it matter for stable walking?", "session_id": first["session_id"]},
        )
    ).json()
    assert not follow["refused"]
    assert any("ZMP" in c["content"] or "Zero Moment Point" in c["content"] for c in follow["retrieved_contexts"][:3])
    history = (await client.get(f"/api/v1/sessions/{first['session_id']}")).json()
    assert history["messages"][1]["question"] == "Why does it matter for stable walking?"  # recorded as asked


def test_standalone_rewrites_only_follow_ups() -> None:
    from src.answering.followup import standalone

    previous = ["What is the Zero Moment Point?"]
    assert standalone("Why does it matter?", previous) == "Why does Zero Moment Point matter?"
    assert (
        standalone("How do ROS 2 services differ from topics in latency guarantees?", previous)
        == "How do ROS 2 services differ from topics in latency guarantees?"
    )
    assert standalone("Why does it matter?", []) == "Why does it matter?"


async def test_a_full_backlog_of_unrecorded_turns_refuses_new_answers_until_it_drains(tmp_path: Path) -> None:
    """Answers are acknowledged only while their turn can still be recorded: with ACCEPT_LIMIT turns
    waiting (a database that was away under load), /answer says 503 with Retry-After; once the backlog
    is written, answers flow again and every waiting turn is in the database."""
    from src.sessions.recorder import ACCEPT_LIMIT, Turn
    from tests.conftest import make_settings, running_app

    async with running_app(make_settings(tmp_path)) as (app, client):
        agent = app.state.container.recorder
        backlog = [
            Turn(
                answer_id=f"backlog-{n:05d}",
                session_id=f"backlog-session-{n % 50:03d}",
                question="q",
                answer="a",
                citations=[],
                provider="extractive",
                latency_ms=1.0,
            )
            for n in range(ACCEPT_LIMIT)
        ]
        agent.pending.extend(backlog)
        refused = await client.post("/api/v1/answer", json={"question": "What is the Zero Moment Point?"})
        assert refused.status_code == 503 and refused.headers["Retry-After"].isdigit()
        assert set(refused.json()) == {"error", "details", "request_id"}
        await agent.flush_pending()
        assert not agent.pending
        answered = await client.post("/api/v1/answer", json={"question": "What is the Zero Moment Point?"})
        assert answered.status_code == 200
        first, last = [await client.get(f"/api/v1/sessions/backlog-session-{n:03d}") for n in (0, 49)]
        assert first.status_code == 200 and len(first.json()["messages"]) == ACCEPT_LIMIT // 50
        assert last.status_code == 200 and len(last.json()["messages"]) == ACCEPT_LIMIT // 50
