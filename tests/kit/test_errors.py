"""Every error has one shape, `{error, details, request_id}`, and an X-Request-ID equal to its id; bad
input of every kind is refused with the right status; and nothing refused touches what was stored."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import API_KEY, auth, make_settings, running_app, shared_path

CHAPTER = "docs/02-humanoid-robotics/index.md"
QUESTION = "What is the Zero Moment Point?"
MAX_BODY = 256 * 1024
BAD_SOURCE_FILES = [
    "../etc/passwd",
    "/etc/passwd",
    "a/../../b",
    "a//b",
    "a\\b",
    "..\\..\\windows\\win.ini",
    "a\x00b",
    "docs/\u202egnp.md",
    "./a.md",
    "a/.",
    " a.md",
    "",
]


def chapter_text() -> str:
    return shared_path("data", "textbooks", "physical-ai", CHAPTER).read_text()


def assert_error(response: httpx.Response, status: int, error: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "details", "request_id"}, body
    assert isinstance(body["error"], str) and body["error"]
    assert body["request_id"] and response.headers["x-request-id"] == body["request_id"]
    if error is not None:
        assert body["error"] == error, body
    return body


async def raw_asgi(
    app: Any, method: str, raw_path: bytes, headers: list[tuple[bytes, bytes]] | None = None, body: bytes = b""
) -> httpx.Response:
    """Speak ASGI directly: HTTP clients normalise `..` away, a hostile client does not."""
    path = raw_path.decode("latin-1")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": raw_path,
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), *(headers or [])],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent = False
    status = 0
    response_headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            response_headers.extend(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return httpx.Response(status, headers=response_headers, content=b"".join(chunks))


async def chunked(total: int, piece: int = 8192) -> AsyncIterator[bytes]:
    """A body without Content-Length: httpx sends it chunked."""
    sent = 0
    while sent < total:
        size = min(piece, total - sent)
        sent += size
        yield b"x" * size


async def snapshot(client: httpx.AsyncClient) -> tuple[list[str], dict[str, Any]]:
    query = await client.post("/api/v1/query", json={"question": QUESTION, "k": 5})
    assert query.status_code == 200, query.text
    docs = await client.get("/api/v1/index/documents", headers=auth())
    assert docs.status_code == 200, docs.text
    return [c["chunk_id"] for c in query.json()["retrieved_contexts"]], docs.json()


@pytest.fixture(scope="module")
async def indexed(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Any, httpx.AsyncClient, Any]]:
    """One app with the chapter indexed, shared by this module's tests (none of them changes the index)."""
    text = chapter_text()
    settings = make_settings(
        tmp_path_factory.mktemp("errors"), max_body_bytes=MAX_BODY, max_index_content_chars=len(text) + 1000
    )
    async with running_app(settings) as (app, client):
        first = await client.post(
            "/api/v1/index", json={"content": text, "metadata": {"source_file": CHAPTER}}, headers=auth()
        )
        assert first.status_code == 200, first.text
        assert first.json()["indexed_chunks"] > 5
        yield app, client, settings


async def test_every_rejected_request_has_the_error_shape_and_leaves_the_store_intact(
    indexed: tuple[Any, httpx.AsyncClient, Any],
) -> None:
    app, client, settings = indexed
    chunk_ids_before, docs_before = await snapshot(client)
    assert chunk_ids_before and docs_before["total"] == 1
    limit = settings.max_index_content_chars

    # 404 and 405.
    assert_error(await client.get("/api/v1/nothing-here"), 404, "not_found")
    assert_error(await client.post("/nothing", json={}), 404, "not_found")
    assert_error(await client.get("/api/v1/query"), 405, "method_not_allowed")
    assert_error(await client.put("/api/v1/answer", json={"question": "x"}), 405, "method_not_allowed")
    assert_error(await client.patch("/api/v1/index", json={}, headers=auth()), 405, "method_not_allowed")
    assert_error(await client.post("/api/v1/index/documents", json={}, headers=auth()), 405, "method_not_allowed")

    # 413: with a Content-Length and chunked without one, on open and on authenticated routes.
    oversize = MAX_BODY + 1
    for path, headers in (("/api/v1/query", {}), ("/api/v1/answer", {}), ("/api/v1/index", auth())):
        declared = await client.post(
            path, content=b"{" + b" " * (oversize - 2) + b"}", headers={**headers, "content-type": "application/json"}
        )
        assert_error(declared, 413, "payload_too_large")
        streamed = await client.post(
            path, content=chunked(oversize), headers={**headers, "content-type": "application/json"}
        )
        assert "content-length" not in streamed.request.headers
        assert_error(streamed, 413, "payload_too_large")
    text = chapter_text()
    assert_error(
        await client.put(
            "/api/v1/index", json={"content": text * 20, "metadata": {"source_file": CHAPTER}}, headers=auth()
        ),
        413,
    )
    # Just under the limit is not 413 (the body is refused for what it says instead).
    under = await client.post(
        "/api/v1/query", content=b"{" + b" " * (MAX_BODY - 2) + b"}", headers={"content-type": "application/json"}
    )
    assert_error(under, 422, "validation_error")

    # 422: malformed JSON, wrong types, binary bodies, limits on each field.
    bad_bodies: list[tuple[str, dict[str, Any]]] = [
        ("/api/v1/query", {"content": b"{not json", "headers": {"content-type": "application/json"}}),
        ("/api/v1/answer", {"content": b'{"question": "x",}', "headers": {"content-type": "application/json"}}),
        ("/api/v1/query", {"content": bytes(range(256)) * 4, "headers": {"content-type": "application/json"}}),
        ("/api/v1/query", {"content": bytes(range(256)) * 4, "headers": {"content-type": "application/octet-stream"}}),
        ("/api/v1/answer", {"content": b"\xff\xfe\x00\x00garbage"}),
        ("/api/v1/query", {"content": b"", "headers": {"content-type": "application/json"}}),
        ("/api/v1/query", {"json": []}),
        ("/api/v1/query", {"json": "a question"}),
        ("/api/v1/query", {"json": {}}),
        ("/api/v1/query", {"json": {"question": 42}}),
        ("/api/v1/query", {"json": {"question": ["What", "is"]}}),
        ("/api/v1/query", {"json": {"question": None}}),
        ("/api/v1/query", {"json": {"question": "x", "k": "five"}}),
        ("/api/v1/query", {"json": {"question": "x", "k": 2.5}}),
        ("/api/v1/query", {"json": {"question": "x", "k": 0}}),
        ("/api/v1/query", {"json": {"question": "x", "k": 51}}),
        ("/api/v1/answer", {"json": {"question": "x", "k": -1}}),
        ("/api/v1/answer", {"json": {"question": "x", "k": 10_000}}),
        ("/api/v1/query", {"json": {"question": ""}}),
        ("/api/v1/answer", {"json": {"question": "x" * 10_001}}),
        ("/api/v1/query", {"json": {"question": "é" * 10_001}}),
        ("/api/v1/query", {"json": {"question": "   "}}),
        ("/api/v1/query", {"json": {"question": "x", "unexpected": True}}),
        ("/api/v1/query", {"json": {"question": "x", "filters": {"source_file": "../etc/passwd"}}}),
        ("/api/v1/answer", {"json": {"question": "x", "session_id": "not a session id!"}}),
    ]
    for path, kwargs in bad_bodies:
        body = assert_error(await client.post(path, **kwargs), 422, "validation_error")
        assert isinstance(body["details"], list) and body["details"], body
        assert all(set(d) == {"loc", "msg", "type"} for d in body["details"])
    # Field limits hold at their edges: 1 and 10,000 characters, k 1 and 50 are valid.
    for ok in ({"question": "x" * 10_000, "k": 1}, {"question": "é" * 10_000, "k": 50}, {"question": "a"}):
        assert (await client.post("/api/v1/query", json=ok)).status_code == 200

    # Index content and metadata: too long, wrong types, and every unsafe source_file.
    for method in ("POST", "PUT"):
        too_long = {"content": "x" * (limit + 1), "metadata": {"source_file": "notes/too-long.md"}}
        body = assert_error(
            await client.request(method, "/api/v1/index", json=too_long, headers=auth()), 422, "validation_error"
        )
        assert body["details"][0]["loc"] == ["body", "content"]
        for bad in (
            {"content": "", "metadata": {"source_file": "a.md"}},
            {"content": "x"},
            {"content": 5, "metadata": {"source_file": "a.md"}},
        ):
            assert_error(await client.request(method, "/api/v1/index", json=bad, headers=auth()), 422)
        for source in BAD_SOURCE_FILES:
            payload = {"content": "# Title\n\nSome text.", "metadata": {"source_file": source}}
            body = assert_error(
                await client.request(method, "/api/v1/index", json=payload, headers=auth()), 422, "validation_error"
            )
            assert any(d["loc"][-1] == "source_file" for d in body["details"]), (source, body)
    assert_error(
        await client.post(
            "/api/v1/index",
            json={"content": "x", "metadata": {"source_file": "a.md", "url": "javascript:alert(1)"}},
            headers=auth(),
        ),
        422,
    )
    assert_error(
        await client.post(
            "/api/v1/index",
            json={"content": "x", "metadata": {"source_file": "a.md", "document_type": "exe"}},
            headers=auth(),
        ),
        422,
    )

    # DELETE with unsafe paths: percent-encoded through an HTTP client, raw through ASGI (no client normalising `..`).
    encoded = [
        "%2e%2e/etc/passwd",
        "%2E%2E/%2E%2E/etc/passwd",
        "a/%2e%2e/%2e%2e/b",
        "/etc/passwd",
        "a//b",
        "a%5Cb",
        "a%00b",
        "a%E2%80%AEb.md",
        "%2e/a.md",
    ]
    for path in encoded:
        body = assert_error(await client.delete(f"/api/v1/index/{path}", headers=auth()), 422, "validation_error")
        assert body["details"][0]["loc"] == ["path", "source_file"]
    raw_auth = [(b"authorization", f"Bearer {API_KEY}".encode())]
    for raw in (
        b"../etc/passwd",
        b"a/../../b",
        b"../../../../etc/shadow",
        b"docs/../" + CHAPTER.encode(),
        b"./" + CHAPTER.encode(),
    ):
        response = await raw_asgi(app, "DELETE", b"/api/v1/index/" + raw, raw_auth)
        assert_error(response, 422, "validation_error")
    assert_error(await client.delete("/api/v1/index/" + "a" * 1100, headers=auth()), 422)
    assert_error(await client.delete("/api/v1/index/never/indexed.md", headers=auth()), 404, "not_found")

    # 401: no key, wrong key, wrong scheme, whatever the body (even malformed JSON).
    for headers in (
        {},
        {"Authorization": "Bearer wrong-key"},
        {"Authorization": f"Basic {API_KEY}"},
        {"Authorization": API_KEY},
    ):
        for method, path, kwargs in (
            ("POST", "/api/v1/index", {"json": {"content": "x", "metadata": {"source_file": "evil.md"}}}),
            ("PUT", "/api/v1/index", {"json": {"content": "x", "metadata": {"source_file": CHAPTER}}}),
            ("POST", "/api/v1/index", {"content": b"{broken", "headers": {"content-type": "application/json"}}),
            ("POST", "/api/v1/index", {"content": bytes(range(256))}),
            ("DELETE", f"/api/v1/index/{CHAPTER}", {}),
            ("DELETE", "/api/v1/index/%2e%2e/etc/passwd", {}),
            ("GET", "/api/v1/index/health", {}),
            ("GET", "/api/v1/index/documents", {}),
        ):
            merged = {**kwargs, "headers": {**kwargs.get("headers", {}), **headers}}
            response = await client.request(method, path, **merged)
            assert_error(response, 401, "unauthorized")
            assert response.headers["www-authenticate"] == "Bearer"

    # Nothing of it changed what was stored.
    chunk_ids_after, docs_after = await snapshot(client)
    assert chunk_ids_after == chunk_ids_before
    assert docs_after == docs_before


async def test_unicode_edge_cases_in_questions(indexed: tuple[Any, httpx.AsyncClient, Any]) -> None:
    _, client, settings = indexed
    emoji = "🤖" * 10_000
    assert len(emoji) == 10_000
    for path in ("/api/v1/query", "/api/v1/answer"):
        assert (await client.post(path, json={"question": emoji})).status_code == 200
        assert_error(await client.post(path, json={"question": emoji + "🤖"}), 422, "validation_error")
        for nul in ("What is\x00 ZMP?", "\x00", "ZMP\x00"):
            body = assert_error(await client.post(path, json={"question": nul}), 422, "validation_error")
            assert body["details"][0]["loc"] == ["body", "question"]
        assert_error(await client.post(path, json={"question": "\u202e\u202d\u2066"}), 422, "validation_error")
    # Escaped NUL in the JSON text is the same NUL.
    assert_error(
        await client.post(
            "/api/v1/query", content=b'{"question": "a\\u0000b"}', headers={"content-type": "application/json"}
        ),
        422,
    )

    # Right-to-left overrides are stripped: the stored question has none and retrieval sees the plain text.
    plain = (await client.post("/api/v1/query", json={"question": QUESTION})).json()
    spoofed = (
        await client.post("/api/v1/query", json={"question": "What is the \u202eZero Moment\u202c Point?"})
    ).json()
    assert [c["chunk_id"] for c in spoofed["retrieved_contexts"]] == [
        c["chunk_id"] for c in plain["retrieved_contexts"]
    ]
    answer = await client.post(
        "/api/v1/answer", json={"question": "How does the \u202eZero Moment Point\u202c keep a humanoid balanced?"}
    )
    assert answer.status_code == 200, answer.text
    answer_id = answer.json()["answer_id"]
    with sqlite3.connect(Path(settings.data_dir) / "app.db") as db:
        (stored,) = db.execute("SELECT question FROM messages WHERE id = ?", (answer_id,)).fetchone()
    assert stored == "How does the Zero Moment Point keep a humanoid balanced?"


async def test_unexpected_exception_is_a_500_with_the_error_shape(indexed: tuple[Any, httpx.AsyncClient, Any]) -> None:
    app, _, settings = indexed

    async def broken() -> None:
        raise RuntimeError("something inside broke")

    app.add_api_route("/api/v1/test-broken", broken, methods=["GET"])
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/api/v1/test-broken", headers={"X-Request-ID": "trace-500-abc"})
    body = assert_error(response, 500, "internal_error")
    assert body["request_id"] == "trace-500-abc"
    assert "something inside broke" not in response.text and "Traceback" not in response.text
    lines = [
        json.loads(line)
        for line in (Path(settings.log_dir) / "app.log").read_text().splitlines()
        if line.startswith("{")
    ]
    assert any(e.get("event") == "UNHANDLED_EXCEPTION" and e.get("request_id") == "trace-500-abc" for e in lines)
