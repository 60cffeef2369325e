"""Which answers are cached: an answer about a short highlighted selection is (students highlight the same
sentence and ask the same thing), one about a selection longer than CACHE_ANSWER_MAX_SELECTION_CHARS is not:
it is unlikely to be asked again word for word, and it is the largest an answer gets (the selection is in it
as a passage, and in its citations' quotes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from prometheus_client import REGISTRY

from tests.conftest import auth, make_settings, running_app, shared_path

CHAPTER = "docs/02-humanoid-robotics/index.md"


def answer_hits() -> float:
    return REGISTRY.get_sample_value("rag_cache_events_total", {"kind": "answer", "outcome": "hit"}) or 0.0


async def asked_twice_hits(client: httpx.AsyncClient, body: dict[str, Any]) -> float:
    before = answer_hits()
    for _ in range(2):
        response = await client.post("/api/v1/answer", json=body)
        assert response.status_code == 200, response.text
        assert response.json()["degraded"] is False
    return answer_hits() - before


def passage(text: str, chars: int) -> str:
    """About `chars` characters of the chapter's prose, whole lines."""
    lines = [line for line in text.splitlines() if len(line) > 80 and not line.startswith(("#", "|", "```"))]
    taken: list[str] = []
    while sum(len(line) + 1 for line in taken) < chars:
        taken.append(lines[len(taken)])
    return "\n".join(taken)


async def test_an_answer_about_a_long_selection_is_not_cached(tmp_path: Path) -> None:
    limit = 2000
    settings = make_settings(tmp_path, cache_answer_max_selection_chars=limit)
    text = shared_path("data", "textbooks", "physical-ai", CHAPTER).read_text()
    async with running_app(settings) as (app, client):
        assert (
            await client.post(
                "/api/v1/index", json={"content": text, "metadata": {"source_file": CHAPTER}}, headers=auth()
            )
        ).status_code == 200
        short, long = passage(text, 300), passage(text, limit + 500)
        assert len(short) <= limit < len(long)
        for mode in ("book", "selection_only"):
            question = {"question": "Explain this", "mode": mode, "k": 50}
            assert await asked_twice_hits(client, question | {"selected_text": short}) == 1
            assert await asked_twice_hits(client, question | {"selected_text": long}) == 0
        cached = [key for key in app.state.container.cache.local._data if key.startswith("rag:answer:")]
        assert len(cached) == 2  # the short selection's, one per mode
