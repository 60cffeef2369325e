"""POST /api/v1/answer/stream: server-sent events in order, with the same answer and citations as
/api/v1/answer."""

from __future__ import annotations

import json

import httpx

from tests.conftest import auth, shared_path

CHAPTER = "docs/02-humanoid-robotics/index.md"


async def events(client: httpx.AsyncClient, body: dict[str, object]) -> list[tuple[str, dict]]:
    out = []
    async with client.stream("POST", "/api/v1/answer/stream", json=body) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        buffer = ""
        async for chunk in r.aiter_text():
            buffer += chunk
            while "\n\n" in buffer:
                block, buffer = buffer.split("\n\n", 1)
                lines = dict(line.split(": ", 1) for line in block.split("\n"))
                out.append((lines["event"], json.loads(lines["data"])))
    return out


async def test_stream_matches_the_answer(client: httpx.AsyncClient) -> None:
    text = shared_path("data", "textbooks", "physical-ai", CHAPTER).read_text()
    await client.post(
        "/api/v1/index",
        json={"content": text, "metadata": {"source_file": CHAPTER, "url": "https://book.example/h"}},
        headers=auth(),
    )
    question = {"question": "What is the Zero Moment Point in bipedal locomotion?"}
    stream = await events(client, question)
    kinds = [k for k, _ in stream]
    assert (
        kinds[0] == "retrieval"
        and kinds[-1] == "done"
        and "delta" in kinds
        and "citation" in kinds
        and "error" not in kinds
    )
    done = stream[-1][1]
    assert "".join(d["text"] for k, d in stream if k == "delta") == done["answer"]
    assert [d for k, d in stream if k == "citation"] == done["citations"]
    assert stream[0][1]["retrieved_contexts"] == done["retrieved_contexts"]
    plain = (await client.post("/api/v1/answer", json=question)).json()
    assert plain["answer"] == done["answer"] and plain["citations"] == done["citations"]
    history = (await client.get(f"/api/v1/sessions/{done['session_id']}")).json()
    assert [m["answer_id"] for m in history["messages"]] == [done["answer_id"]]


async def test_stream_says_when_the_book_does_not_cover_it(client: httpx.AsyncClient) -> None:
    text = shared_path("data", "textbooks", "physical-ai", CHAPTER).read_text()
    await client.post("/api/v1/index", json={"content": text, "metadata": {"source_file": CHAPTER}}, headers=auth())
    stream = await events(client, {"question": "Who won the 1998 football world cup final?"})
    assert stream[0][0] == "retrieval"
    done = stream[-1][1]
    assert stream[-1][0] == "done" and done["refused"] is True and done["citations"] == []
    assert not [k for k, _ in stream if k == "citation"]


async def test_stream_rejects_bad_input_with_the_error_shape(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/answer/stream", json={"question": ""})
    assert r.status_code == 422 and set(r.json()) == {"error", "details", "request_id"}
