"""End to end over HTTP (ASGI): index a real chapter, query it, answer it, re-index, delete."""

from __future__ import annotations

import httpx

from tests.conftest import auth, shared_path

CHAPTER = "docs/02-humanoid-robotics/index.md"
PAGE_URL = "https://book.example/docs/02-humanoid-robotics"


def chapter_body() -> dict[str, object]:
    text = shared_path("data", "textbooks", "physical-ai", CHAPTER).read_text()
    return {"content": text, "metadata": {"source_file": CHAPTER, "url": PAGE_URL, "document_type": "markdown"}}


async def test_index_query_answer_reindex_delete(client: httpx.AsyncClient) -> None:
    first = await client.post("/api/v1/index", json=chapter_body(), headers=auth())
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["status"] == "indexed"
    assert body["indexed_chunks"] > 10
    assert body["chunks_new"] == body["indexed_chunks"]
    assert set(body) >= {"status", "indexed_chunks", "content_id", "processing_time"}

    query = await client.post("/api/v1/query", json={"question": "What is the Zero Moment Point?", "k": 3})
    assert query.status_code == 200
    q = query.json()
    assert len(q["retrieved_contexts"]) == 3
    top = q["retrieved_contexts"][0]
    assert "Zero Moment Point" in top["content"]
    assert top["metadata"]["source_file"] == CHAPTER
    assert top["metadata"]["heading_path"][0].startswith("Chapter 2")
    assert top["metadata"]["url"].startswith(PAGE_URL + "#")
    assert "[1]" in q["assembled_context"] and q["query_id"]

    answer = await client.post(
        "/api/v1/answer", json={"question": "What is the Zero Moment Point in bipedal locomotion?"}
    )
    assert answer.status_code == 200
    a = answer.json()
    assert not a["refused"]
    assert "ZMP" in a["answer"] or "Zero Moment Point" in a["answer"]
    numbers = {int(n) for n in __import__("re").findall(r"\[(\d+)\]", a["answer"])}
    assert numbers and numbers == {c["id"] for c in a["citations"]}
    for citation in a["citations"]:
        assert citation["source_file"] == CHAPTER
        assert citation["quote"] and citation["quote"].split(" ")[0] in a["answer"]
        assert citation["url"].startswith(PAGE_URL)
    assert a["session_id"] and a["answer_id"]

    again = await client.post("/api/v1/index", json=chapter_body(), headers=auth())
    assert again.status_code == 200
    assert again.json()["status"] == "unchanged"
    assert again.json()["indexed_chunks"] == body["indexed_chunks"]
    assert again.json()["chunks_new"] == 0

    docs = (await client.get("/api/v1/index/documents", headers=auth())).json()
    assert [d["source_file"] for d in docs["documents"]] == [CHAPTER]
    assert docs["documents"][0]["chunk_count"] == body["indexed_chunks"]

    deleted = await client.delete(f"/api/v1/index/{CHAPTER}", headers=auth())
    assert deleted.status_code == 200
    assert deleted.json()["deleted_chunks"] == body["indexed_chunks"]
    empty = await client.post("/api/v1/query", json={"question": "What is the Zero Moment Point?"})
    assert empty.json()["retrieved_contexts"] == []
    missing = await client.delete(f"/api/v1/index/{CHAPTER}", headers=auth())
    assert missing.status_code == 404
    assert set(missing.json()) == {"error", "details", "request_id"}


async def test_changed_chapter_replaces_only_what_changed(client: httpx.AsyncClient) -> None:
    body = chapter_body()
    first = (await client.post("/api/v1/index", json=body, headers=auth())).json()
    text = str(body["content"])
    cut = text.index("## ", len(text) // 2)
    body["content"] = text[:cut]  # the author removed the second half of the chapter
    second = (await client.post("/api/v1/index", json=body, headers=auth())).json()
    assert second["chunks_deleted"] > 0
    assert second["chunks_new"] <= 1
    assert second["indexed_chunks"] == first["indexed_chunks"] - second["chunks_deleted"] + second["chunks_new"]
    listed = (await client.get("/api/v1/index/documents", headers=auth())).json()["documents"][0]
    assert listed["chunk_count"] == second["indexed_chunks"]
    probe = await client.post(
        "/api/v1/query", json={"question": "references", "k": 50, "filters": {"source_file": CHAPTER}}
    )
    assert len(probe.json()["retrieved_contexts"]) == second["indexed_chunks"]


async def test_not_in_the_book_is_said_plainly(client: httpx.AsyncClient) -> None:
    await client.post("/api/v1/index", json=chapter_body(), headers=auth())
    r = await client.post("/api/v1/answer", json={"question": "Who won the 1998 football world cup final?"})
    assert r.status_code == 200
    a = r.json()
    assert a["refused"] is True
    assert "does not seem to cover" in a["answer"]
    assert a["citations"] == []


async def test_bulk_job_indexes_in_the_background(client: httpx.AsyncClient) -> None:
    import asyncio

    root = shared_path("data", "textbooks", "physical-ai", "docs")
    docs = [
        {"content": (root / chapter / "index.md").read_text(), "metadata": {"source_file": f"docs/{chapter}/index.md"}}
        for chapter in ("01-introduction", "05-vision-language-action")
    ]
    docs.append({"content": "x" * 20, "metadata": {"source_file": "docs/broken.pdf", "document_type": "pdf"}})
    accepted = await client.post("/api/v1/index/bulk", json={"documents": docs}, headers=auth())
    assert accepted.status_code == 202, accepted.text
    job = accepted.json()
    assert (
        job["status"] == "queued" and job["total"] == 3 and job["status_url"] == f"/api/v1/index/jobs/{job['job_id']}"
    )
    status: dict[str, object] = {}
    for _ in range(600):
        status = (await client.get(job["status_url"], headers=auth())).json()
        if status["status"] in {"completed", "failed"}:
            break
        await asyncio.sleep(0.1)
    assert status["status"] == "completed"
    assert status["done"] == 2 and status["failed"] == 1
    results = {r["source_file"]: r for r in status["results"]}  # type: ignore[union-attr]
    assert results["docs/broken.pdf"]["status"] == "failed" and "PDF" in results["docs/broken.pdf"]["error"]
    assert results["docs/01-introduction/index.md"]["indexed_chunks"] > 0
    listed = (await client.get("/api/v1/index/documents", headers=auth())).json()
    assert {d["source_file"] for d in listed["documents"]} == {
        "docs/01-introduction/index.md",
        "docs/05-vision-language-action/index.md",
    }
    unknown = await client.get("/api/v1/index/jobs/00000000-0000-0000-0000-000000000000", headers=auth())
    assert unknown.status_code == 404
    anonymous = await client.get(job["status_url"])
    assert anonymous.status_code == 401
