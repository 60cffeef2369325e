"""The request's transaction commits before the response is sent: a client told 200 can read its write
back at once, and a commit that fails is reported as an error, not as a success."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event

from src.app import create_app
from tests.conftest import make_settings


async def test_commit_precedes_the_response(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    events: list[str] = []

    async def recording(scope: dict[str, Any], receive: Any, send: Any) -> None:
        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                events.append("response")
            await send(message)

        await app(scope, receive, sending)

    async with app.router.lifespan_context(app):
        event.listen(app.state.db.kw["bind"].sync_engine, "commit", lambda _conn: events.append("commit"))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=recording), base_url="http://testserver"
        ) as client:
            answered = (await client.post("/api/v1/answer", json={"question": "What is a digital twin?"})).json()
            events.clear()
            erased = await client.delete(f"/api/v1/sessions/{answered['session_id']}")
            assert erased.status_code == 200, erased.text
            assert events == ["commit", "response"], events
            assert (await client.get(f"/api/v1/sessions/{answered['session_id']}")).status_code == 404
