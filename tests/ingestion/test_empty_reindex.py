"""A re-index whose content has no text to index (a comment, whitespace, a page that is all navigation)
does not silently delete the page: it is refused with 422 before anything is written, unless the
request says allow_empty; a bulk job reports such a document failed and indexes the rest."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.conftest import auth, shared_path

PAGE = "src/ch03-01-variables-and-mutability.md"  # 13 chunks: the page of the security review
OTHERS = ("src/ch03-03-how-functions-work.md", "src/ch16-02-message-passing.md")
QUESTION = "How do you make a variable mutable in Rust?"
NOTHING_TO_INDEX = [
    ("POST", "<!-- draft -->", "markdown"),
    (
        "PUT",
        "<html><body><nav>Home | Next chapter</nav><script>var draft = true;</script>\n \t \n</body></html>",
        "html",
    ),
    ("PUT", "  \n\n   ", "markdown"),
]


def page(source_file: str) -> dict[str, Any]:
    text = shared_path("data", "textbooks", "rust-book", source_file).read_text()
    return {"content": text, "metadata": {"source_file": source_file}}


async def chunks_found(client: httpx.AsyncClient, source_file: str) -> int:
    query = {"question": QUESTION, "k": 50, "filters": {"source_file": source_file}}
    response = await client.post("/api/v1/query", json=query)
    assert response.status_code == 200, response.text
    return len(response.json()["retrieved_contexts"])


async def registry(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    listed = (await client.get("/api/v1/index/documents", headers=auth())).json()["documents"]
    return {d["source_file"]: d for d in listed}


async def test_a_repost_with_no_text_is_refused_and_changes_nothing(client: httpx.AsyncClient) -> None:
    first = await client.post("/api/v1/index", json=page(PAGE), headers=auth())
    assert first.status_code == 200, first.text
    n = first.json()["indexed_chunks"]
    assert n > 10 and await chunks_found(client, PAGE) == n
    before = await registry(client)

    for method, content, document_type in NOTHING_TO_INDEX:
        body = {"content": content, "metadata": {"source_file": PAGE, "document_type": document_type}}
        refused = await client.request(method, "/api/v1/index", json=body, headers=auth())
        assert refused.status_code == 422, (content, refused.text)
        error = refused.json()
        assert set(error) == {"error", "details", "request_id"} and error["error"] == "validation_error"
        [detail] = error["details"]
        assert detail["type"] == "empty_reindex" and detail["loc"] == ["body", "content"]
        assert (
            f"would remove all {n} chunks of {PAGE}" in detail["msg"]
            and "allow_empty: true" in detail["msg"]
            and "DELETE" in detail["msg"]
        )
        assert await chunks_found(client, PAGE) == n  # nothing was written: the good version still answers
        assert await registry(client) == before

    top = (await client.post("/api/v1/query", json={"question": QUESTION, "k": 1})).json()["retrieved_contexts"][0]
    assert top["metadata"]["source_file"] == PAGE

    emptied = await client.post(
        "/api/v1/index",
        json={"content": "<!-- draft -->", "metadata": {"source_file": PAGE}, "allow_empty": True},
        headers=auth(),
    )
    assert emptied.status_code == 200, emptied.text
    assert emptied.json()["indexed_chunks"] == 0 and emptied.json()["chunks_deleted"] == n
    assert await chunks_found(client, PAGE) == 0
    assert (await registry(client))[PAGE]["chunk_count"] == 0

    new_and_empty = await client.post(
        "/api/v1/index", json={"content": "<!-- draft -->", "metadata": {"source_file": "src/draft.md"}}, headers=auth()
    )
    assert (
        new_and_empty.status_code == 200 and new_and_empty.json()["indexed_chunks"] == 0
    )  # nothing to lose: indexed as before

    api = (await client.get("/openapi.json")).json()
    assert api["components"]["schemas"]["IndexRequest"]["properties"]["allow_empty"]["default"] is False
    for method in ("post", "put"):
        operation = api["paths"]["/api/v1/index"][method]
        assert (
            "allow_empty" in operation["description"]
            and "empty_reindex" in operation["responses"]["422"]["description"]
        )


async def run_job(client: httpx.AsyncClient, documents: list[dict[str, Any]]) -> dict[str, Any]:
    accepted = await client.post("/api/v1/index/bulk", json={"documents": documents}, headers=auth())
    assert accepted.status_code == 202, accepted.text
    job: dict[str, Any] = {}
    for _ in range(600):
        job = (await client.get(accepted.json()["status_url"], headers=auth())).json()
        if job["status"] in {"completed", "failed"}:
            break
        await asyncio.sleep(0.1)
    return job


async def test_a_bulk_job_fails_only_the_document_that_would_be_emptied(client: httpx.AsyncClient) -> None:
    indexed = {}
    for source in (PAGE, OTHERS[0]):
        response = await client.post("/api/v1/index", json=page(source), headers=auth())
        indexed[source] = response.json()["indexed_chunks"]

    job = await run_job(client, [{"content": "<!-- draft -->", "metadata": {"source_file": PAGE}}, page(OTHERS[1])])
    assert job["status"] == "completed" and job["done"] == 1 and job["failed"] == 1, job
    results = {r["source_file"]: r for r in job["results"]}
    assert results[PAGE]["status"] == "failed" and f"would remove all {indexed[PAGE]} chunks" in results[PAGE]["error"]
    assert results[OTHERS[1]]["status"] == "indexed" and results[OTHERS[1]]["indexed_chunks"] > 0
    assert await chunks_found(client, PAGE) == indexed[PAGE]
    assert (await registry(client))[PAGE]["chunk_count"] == indexed[PAGE]

    emptied = await run_job(
        client, [{"content": " \n ", "metadata": {"source_file": OTHERS[0]}, "allow_empty": True}]
    )  # on purpose
    assert emptied["done"] == 1 and emptied["results"][0]["indexed_chunks"] == 0, emptied
    assert await chunks_found(client, OTHERS[0]) == 0
