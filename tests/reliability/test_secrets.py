"""Secrets and privacy: no key, password or other session's question in a log line or error body; sessions are isolated.

A real server process (uvicorn) runs with DATABASE_URL pointing at PostgreSQL through a URL that
carries a password (trust authentication ignores it, so the service works normally with the secret
in its settings) and with REDIS_URL. A sequence of requests is sent: indexing with the key, wrong
and near-miss keys, answers and streamed answers in two sessions, invalid and oversized input that
carries session A's question, unknown sessions and documents. Then app.log, the process's own
output and every response body are scanned for the API key, the database password and session A's
full question. Isolation: session ids are random (32 hex digits), each session's history holds only
its own turns, and guessed or altered ids read and erase nothing.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from pathlib import Path
from typing import Any

import httpx

from src.db.migrations import run_migrations
from tests.conftest import API_KEY, auth, make_settings, running_app, shared_path
from tests.reliability.conftest import size

CHAPTER = "docs/02-humanoid-robotics/index.md"
BODY_LIMIT = 64 * 1024
HEX32 = re.compile(r"^[0-9a-f]{32}$")


def with_password(url: str, password: str) -> str:
    """postgresql://postgres@host/db -> postgresql://postgres:<password>@host/db"""
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user.split(':', 1)[0]}:{password}@{host}"


def chapter() -> dict[str, Any]:
    text = shared_path("data", "textbooks", "physical-ai", CHAPTER).read_text()
    return {"content": text, "metadata": {"source_file": CHAPTER, "url": "https://book.example/docs/humanoid-robotics"}}


def questions(marker: str) -> tuple[str, str]:
    """A session's first question (unique to it through the marker) and a follow-up."""
    return (
        f"How does the Zero Moment Point keep a walking humanoid balanced, asks student {marker}?",
        "What limits does it have?",
    )


def occurrences(needle: str, texts: list[str]) -> int:
    return sum(text.count(needle) for text in texts)


async def test_no_key_password_or_other_sessions_question_in_logs_or_error_bodies(
    pg_url: str, redis_url: str, tmp_path: Path, live_server_factory: Any, record: Any
) -> None:
    password = f"Pw-{uuid.uuid4().hex}"
    database_url = with_password(pg_url, password)
    await asyncio.to_thread(run_migrations, database_url)
    settings = make_settings(tmp_path, database_url=database_url, redis_url=redis_url)
    # A small body limit: a client still writing megabytes past it may see the connection closed before it reads the 413.
    server = live_server_factory(settings, extra_env={"MAX_BODY_BYTES": str(BODY_LIMIT)})

    marker_a, marker_b = f"alice-{uuid.uuid4().hex[:12]}", f"bob-{uuid.uuid4().hex[:12]}"
    question_a, follow_up = questions(marker_a)
    question_b, _ = questions(marker_b)
    near_misses = [API_KEY[:-1] + "X", API_KEY + "x", API_KEY.upper(), API_KEY[1:]]
    own_bodies_a: list[str] = []  # session A's own answers and history may hold its question
    other_bodies: list[str] = []  # everything else: errors, session B, health, metrics
    errors: list[httpx.Response] = []

    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:

        async def send(method: str, path: str, own_a: bool = False, **kwargs: Any) -> httpx.Response:
            response = await client.request(method, path, **kwargs)
            (own_bodies_a if own_a else other_bodies).append(response.text)
            if response.status_code >= 400:
                errors.append(response)
            return response

        assert (await send("POST", "/api/v1/index", json=chapter(), headers=auth())).status_code == 200

        # Wrong keys, near misses of the right one, the right one in the wrong place.
        wrong_keys = [
            {"Authorization": f"Bearer wrong-{uuid.uuid4().hex}"},
            *({"Authorization": f"Bearer {k}"} for k in near_misses),
        ]
        wrong_keys += [{"Authorization": f"Basic {API_KEY}"}, {"Authorization": API_KEY}, {"X-API-Key": API_KEY}]
        for headers in wrong_keys:
            for method, path, kwargs in (
                ("POST", "/api/v1/index", {"json": chapter()}),
                ("DELETE", f"/api/v1/index/{CHAPTER}", {}),
                ("GET", "/api/v1/index/documents", {}),
            ):
                assert (await send(method, path, headers=headers, **kwargs)).status_code == 401
        assert (await send("GET", f"/api/v1/index/documents?api_key={API_KEY}")).status_code == 401

        # Two sessions, each with a follow-up; A also streams one answer.
        first_a = await send("POST", "/api/v1/answer", own_a=True, json={"question": question_a})
        session_a = first_a.json()["session_id"]
        assert (
            await send("POST", "/api/v1/answer", own_a=True, json={"question": follow_up, "session_id": session_a})
        ).status_code == 200
        stream = await send(
            "POST",
            "/api/v1/answer/stream",
            own_a=True,
            json={"question": question_a + " Explain briefly.", "session_id": session_a},
        )
        assert stream.status_code == 200 and "event: done" in stream.text
        first_b = await send("POST", "/api/v1/answer", json={"question": question_b})
        session_b = first_b.json()["session_id"]
        assert (
            await send("POST", "/api/v1/answer", json={"question": follow_up, "session_id": session_b})
        ).status_code == 200
        assert (
            await send("POST", "/api/v1/answer", json={"question": question_a})
        ).status_code == 200  # A's words, B's cache hit
        assert (await send("GET", f"/api/v1/sessions/{session_b}")).status_code == 200
        assert (await send("GET", f"/api/v1/sessions/{session_a}", own_a=True)).status_code == 200

        # Errors that carry A's question: each refused without echoing it.
        big = json.dumps({"question": question_a, "session_id": session_a, "pad": "x" * BODY_LIMIT}).encode()
        for method, path, kwargs, status in (
            ("POST", "/api/v1/answer", {"json": {"question": question_a + "\x00"}}, 422),
            ("POST", "/api/v1/answer", {"json": {"question": (question_a + " ") * 120}}, 422),
            ("POST", "/api/v1/answer", {"json": {"question": question_a, "session_id": "not a session!"}}, 422),
            ("POST", "/api/v1/answer", {"json": {"question": question_a, "k": 0}}, 422),
            ("POST", "/api/v1/answer", {"json": {"question": question_a, "unexpected": question_a}}, 422),
            ("POST", "/api/v1/answer/stream", {"json": {"question": question_a, "mode": "selection_only"}}, 422),
            (
                "POST",
                "/api/v1/query",
                {
                    "content": ('{"question": "' + question_a + '",').encode(),
                    "headers": {"content-type": "application/json"},
                },
                422,
            ),
            ("POST", "/api/v1/answer", {"content": big, "headers": {"content-type": "application/json"}}, 413),
            (
                "POST",
                "/api/v1/feedback",
                {"json": {"answer_id": uuid.uuid4().hex, "rating": "down", "comment": question_a}},
                404,
            ),
            (
                "POST",
                "/api/v1/index",
                {"json": {"content": question_a, "metadata": {"source_file": "../" + marker_a}}, "headers": auth()},
                422,
            ),
            ("GET", f"/api/v1/sessions/{uuid.uuid4().hex}", {}, 404),
            ("DELETE", f"/api/v1/sessions/{uuid.uuid4().hex}", {}, 404),
            ("DELETE", "/api/v1/index/never/indexed.md", {"headers": auth()}, 404),
        ):
            response = await send(method, path, **kwargs)
            assert response.status_code == status, (path, response.status_code, response.text[:200])
        for path in ("/api/v1/health", "/api/v1/health/ready", "/metrics", "/api/v1/answer/health"):
            assert (await send("GET", path)).status_code == 200
        assert (await send("GET", "/api/v1/index/health", headers=auth())).status_code == 200

    await asyncio.sleep(0.5)  # let the last log lines reach the file
    logs = [(settings.log_dir / "app.log").read_text(), server.log()]
    error_bodies = [r.text for r in errors] + [json.dumps(dict(r.headers)) for r in errors]
    assert len(errors) >= 35 and all(set(r.json()) == {"error", "details", "request_id"} for r in errors)
    assert any('"AUTHENTICATION_FAILURE"' in line for line in logs[0].splitlines())
    assert any('"INPUT_VALIDATION_FAILURE"' in line for line in logs[0].splitlines())

    figures = {
        "API key in log lines": occurrences(API_KEY, logs),
        "API key in error bodies or headers": occurrences(API_KEY, error_bodies),
        "API key in any response body": occurrences(API_KEY, other_bodies + own_bodies_a),
        "database password in log lines": occurrences(password, logs),
        "database password in any response body": occurrences(password, other_bodies + own_bodies_a + error_bodies),
        "session A's question in log lines": occurrences(question_a, logs) + occurrences(marker_a, logs),
        "session A's question in error bodies": occurrences(marker_a, error_bodies),
        "session A's question in session B's and other responses": occurrences(marker_a, other_bodies),
        "session B's question in log lines": occurrences(marker_b, logs),
        "session A's id (the key to its history) in log lines": occurrences(session_a, logs),
    }
    scanned = f"{len(logs[0].splitlines()) + len(logs[1].splitlines())} log lines, {len(other_bodies) + len(own_bodies_a)} bodies ({len(errors)} errors)"
    for n, (measure, value) in enumerate(figures.items()):
        record(measure, value, "0", value == 0, "" if n else "scanned: " + scanned)
    assert figures == dict.fromkeys(figures, 0), figures
    assert any(marker_a in body for body in own_bodies_a)  # the scan would have found it: A's own history holds it
    assert HEX32.match(session_a) and HEX32.match(session_b) and session_a != session_b


async def test_one_session_cannot_read_or_erase_another(pg_url: str, tmp_path: Path, record: Any) -> None:
    await asyncio.to_thread(run_migrations, pg_url)
    marker_a, marker_b = f"alice-{uuid.uuid4().hex[:12]}", f"bob-{uuid.uuid4().hex[:12]}"
    question_a, follow_up = questions(marker_a)
    question_b, _ = questions(marker_b)
    async with running_app(make_settings(tmp_path, database_url=pg_url)) as (_, client):
        assert (await client.post("/api/v1/index", json=chapter(), headers=auth())).status_code == 200

        async def ask(question: str, session: str | None = None) -> dict[str, Any]:
            response = await client.post(
                "/api/v1/answer", json={"question": question} | ({"session_id": session} if session else {})
            )
            assert response.status_code == 200, response.text
            return dict(response.json())

        a1 = await ask(question_a)
        session_a = a1["session_id"]
        a2 = await ask(follow_up, session_a)
        b1 = await ask(question_b)
        session_b = b1["session_id"]
        b2 = await ask(follow_up, session_b)
        b3 = await ask(question_a, session_b)  # A's exact words in B's session: the cached answer, under B's ids
        ids = [session_a, session_b, *(t["answer_id"] for t in (a1, a2, b1, b2, b3))]
        assert all(HEX32.match(i) for i in ids) and len(set(ids)) == len(ids), ids
        assert {a2["session_id"]} == {session_a} and {b2["session_id"], b3["session_id"]} == {session_b}
        assert (
            marker_a not in json.dumps([b1, b2])
            and session_a not in json.dumps([b1, b2, b3])
            and a1["answer_id"] not in json.dumps(b3)
        )

        async def history(session: str) -> list[dict[str, Any]]:
            response = await client.get(f"/api/v1/sessions/{session}")
            assert response.status_code == 200, response.text
            return list(response.json()["messages"])

        history_a = await history(session_a)
        history_b = await history(session_b)
        assert [m["question"] for m in history_a] == [question_a, follow_up]
        assert [m["question"] for m in history_b] == [question_b, follow_up, question_a]
        assert {m["answer_id"] for m in history_a}.isdisjoint(m["answer_id"] for m in history_b)

        # Guessed and altered ids: random ones, near misses of A's, and SQL-wildcard-looking ones.
        altered = [
            session_a[:-1] + ("0" if session_a[-1] != "0" else "1"),
            session_a.upper(),
            session_a[:-1],
            session_a + "0",
            session_a[:8],
        ]
        guesses = [uuid.uuid4().hex for _ in range(size(20, 500))] + altered + ["_" * 32, "_" * 8, "-" * 32]
        reads, erasures, statuses = 0, 0, set()
        for guess in guesses:
            got = await client.get(f"/api/v1/sessions/{guess}")
            erased = await client.delete(f"/api/v1/sessions/{guess}")
            statuses |= {got.status_code, erased.status_code}
            reads += got.status_code == 200
            erasures += erased.status_code == 200
        for bad in ("%25", "a' OR '1'='1", "*" * 32):
            assert (await client.get(f"/api/v1/sessions/{bad}")).status_code in {404, 422}
            assert (await client.delete(f"/api/v1/sessions/{bad}")).status_code in {404, 422}
        unchanged_after_guesses = await history(session_a) == history_a and await history(session_b) == history_b

        # B erases its own session: A's stays whole.
        erased_b = await client.delete(f"/api/v1/sessions/{session_b}")
        assert erased_b.status_code == 200 and erased_b.json()["deleted_messages"] == 3
        assert (await client.get(f"/api/v1/sessions/{session_b}")).status_code == 404
        a_after_b_erased = await history(session_a) == history_a

    record(
        "guessed or altered session ids that read a history",
        f"{reads} of {len(guesses)}",
        "0",
        reads == 0,
        f"statuses seen: {sorted(statuses)}",
    )
    record("guessed or altered session ids that erased a history", f"{erasures} of {len(guesses)}", "0", erasures == 0)
    record("session histories unchanged by the guesses", unchanged_after_guesses, "True", unchanged_after_guesses)
    record("session A whole after session B erased itself", a_after_b_erased, "True", a_after_b_erased)
    crossed = sum(
        needle in json.dumps([b1, b2, history_b[:2]])
        for needle in (marker_a, session_a, a1["answer_id"], a2["answer_id"])
    )
    record("session B's own turns and history holding A's question or ids", crossed, "0", crossed == 0)
    assert crossed == 0
    assert reads == 0 and erasures == 0 and statuses <= {404}
    assert unchanged_after_guesses and a_after_b_erased
