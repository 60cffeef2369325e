"""Questions about a highlighted passage: selection_only answers from the selection alone (and
says so when it does not hold the answer); book mode puts the selection first."""

from __future__ import annotations

import httpx

from tests.conftest import auth, shared_path

CHAPTER = "docs/02-humanoid-robotics/index.md"
SELECTION = (
    "Series elastic actuators place a spring between the motor and the load. "
    "The spring stores energy and protects the gearbox from shocks when the robot lands a step."
)


async def test_selection_only_answers_from_the_selection(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/v1/answer",
        json={
            "question": "Why is there a spring in series elastic actuators?",
            "selected_text": SELECTION,
            "mode": "selection_only",
        },
    )
    a = r.json()
    assert r.status_code == 200 and a["refused"] is False
    assert [c["chunk_id"] for c in a["citations"]] == ["selection"]
    assert a["citations"][0]["quote"] in SELECTION and "[1]" in a["answer"]
    assert [c["chunk_id"] for c in a["retrieved_contexts"]] == ["selection"]


async def test_selection_only_says_when_the_selection_has_no_answer(client: httpx.AsyncClient) -> None:
    body = {"question": "What is the capital of Australia?", "highlight_override": SELECTION, "mode": "selection_only"}
    a = (await client.post("/api/v1/answer", json=body)).json()
    assert a["refused"] is True and a["citations"] == [] and "selected text does not answer" in a["answer"]


async def test_book_mode_puts_the_selection_first(client: httpx.AsyncClient) -> None:
    text = shared_path("data", "textbooks", "physical-ai", CHAPTER).read_text()
    await client.post("/api/v1/index", json={"content": text, "metadata": {"source_file": CHAPTER}}, headers=auth())
    a = (
        await client.post(
            "/api/v1/answer", json={"question": "What do series elastic actuators protect?", "selected_text": SELECTION}
        )
    ).json()
    assert a["retrieved_contexts"][0]["chunk_id"] == "selection"
    assert len(a["retrieved_contexts"]) > 1  # the book fills in the rest
    assert a["citations"][0]["chunk_id"] == "selection" and not a["refused"]


async def test_selection_only_needs_a_selection(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/answer", json={"question": "Why?", "mode": "selection_only"})
    assert r.status_code == 422 and set(r.json()) == {"error", "details", "request_id"}


async def test_small_talk_gets_a_short_reply_without_a_search(client: httpx.AsyncClient) -> None:
    for message, expected in (
        ("Hello!", "Ask me anything"),
        ("who are you?", "study assistant"),
        ("thanks a lot", "welcome"),
    ):
        a = (await client.post("/api/v1/answer", json={"question": message})).json()
        assert (
            a["route"] == "smalltalk"
            and expected in a["answer"]
            and a["citations"] == []
            and a["retrieved_contexts"] == []
        )
    book = (await client.post("/api/v1/answer", json={"question": "Hello, what is a humanoid robot?"})).json()
    assert book["route"] == "book"
