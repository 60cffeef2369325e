"""A reader without a key cannot hold a worker: the review's hostile requests (a selection of "if a "
without a period, a question of "repeat the ") are answered while /health, sent meanwhile to the same
real server process, stays as fast as it is during normal requests of the same size. Oversized input is
refused with the documented 422 before any work, and a selection counts against the token budget.

The /health comparison is a ratio, not a time: the slowest /health answered during each request, for
hostile and normal requests of the same size sent in turn, the median of the hostile ones against the
median of the normal ones. A round within the factor passes (a loaded machine can slow any one round);
the old code blocked its event loop through every hostile request (its ratio was 10 to 30)."""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from src.answering.schemas import MAX_QUESTION_CHARS, MAX_SELECTION_CHARS
from src.retrieval.schemas import MAX_SOURCE_FILE_CHARS
from tests.conftest import auth, make_settings, running_app, shared_path
from tests.security.test_rate_limits import assert_rate_limited, wait_for_next_minute_if_close

CHAPTER = "docs/02-humanoid-robotics/index.md"
REQUESTS = 5  # of each kind per round
ROUNDS = 3
FACTOR = 5.0  # the new code's ratio is about 1, the old code's 10 to 30


def chapter() -> str:
    return shared_path("data", "textbooks", "physical-ai", CHAPTER).read_text()


def sized(text: str, length: int, n: int) -> str:
    """`text` cut to `length` characters, made distinct by `n` (a cached answer would cost nothing)."""
    prefix = f"so{n} "
    return prefix + (text * (length // len(text) + 1))[: length - len(prefix)]


async def slowest_health_during(url: str, body: dict[str, Any]) -> float:
    """`body` sent to /api/v1/answer; the slowest /health answered while it runs."""
    async with (
        httpx.AsyncClient(base_url=url, timeout=120) as asker,
        httpx.AsyncClient(base_url=url, timeout=120) as prober,
    ):
        answer = asyncio.ensure_future(asker.post("/api/v1/answer", json=body))
        slowest = 0.0
        while not answer.done():
            started = time.perf_counter()
            assert (await prober.get("/health")).status_code == 200
            slowest = max(slowest, time.perf_counter() - started)
            await asyncio.sleep(0.005)
        response = await answer
    assert response.status_code == 200, response.text
    assert response.json()["answer"]
    return slowest


async def health_ratio(url: str, hostile: Any, normal: Any) -> list[float]:
    """Each round's ratio of the median slowest /health during hostile requests to that during normal ones."""
    ratios = []
    for round_ in range(ROUNDS):
        during_normal, during_hostile = [], []
        for i in range(REQUESTS):  # in turn, so both kinds meet the same load of the machine
            during_normal.append(await slowest_health_during(url, normal(round_ * REQUESTS + i)))
            during_hostile.append(await slowest_health_during(url, hostile(round_ * REQUESTS + i)))
        ratios.append(statistics.median(during_hostile) / statistics.median(during_normal))
        if ratios[-1] <= FACTOR:
            break
    return ratios


@pytest.fixture
def indexed_server(tmp_path: Path, live_server_factory: Any) -> Any:
    server = live_server_factory(make_settings(tmp_path))
    response = httpx.post(
        f"{server.url}/api/v1/index",
        json={"content": chapter(), "metadata": {"source_file": CHAPTER}},
        headers=auth(),
        timeout=120,
    )
    assert response.status_code == 200, response.text
    return server


async def test_a_hostile_selection_at_the_cap_does_not_hold_health(indexed_server: Any) -> None:
    prose = " ".join(chapter().split())

    def hostile(n: int) -> dict[str, Any]:
        return {
            "question": "give me an example",
            "selected_text": sized("if a ", MAX_SELECTION_CHARS, n),
            "mode": "selection_only",
        }

    def normal(n: int) -> dict[str, Any]:
        return {
            "question": "give me an example",
            "selected_text": sized(prose, MAX_SELECTION_CHARS, n),
            "mode": "selection_only",
        }

    ratios = await health_ratio(indexed_server.url, hostile, normal)
    assert min(ratios) <= FACTOR, f"/health was {ratios} times slower during hostile selections than during normal ones"


async def test_a_hostile_question_at_the_cap_does_not_hold_health(indexed_server: Any) -> None:
    prose = " ".join(chapter().split())

    def hostile(n: int) -> dict[str, Any]:
        return {"question": sized("repeat the ", MAX_QUESTION_CHARS, n)}

    def normal(n: int) -> dict[str, Any]:
        return {"question": sized(prose, MAX_QUESTION_CHARS, n)}

    ratios = await health_ratio(indexed_server.url, hostile, normal)
    assert min(ratios) <= FACTOR, f"/health was {ratios} times slower during hostile questions than during normal ones"


def assert_invalid(response: httpx.Response, field: str) -> None:
    """The documented 422: {error, details: [{loc, msg, type}], request_id}, naming the field, not echoing it."""
    assert response.status_code == 422, response.text[:300]
    body = response.json()
    assert set(body) == {"error", "details", "request_id"} and body["error"] == "validation_error"
    assert all(set(d) == {"loc", "msg", "type"} for d in body["details"])
    assert any(field in d["loc"] for d in body["details"]), body["details"]
    assert len(response.content) < 4096  # the input is not echoed back


async def test_oversized_input_is_refused_with_the_documented_422(client: httpx.AsyncClient) -> None:
    review = ("if a " * 4000)[:20_000]
    for body, field in [
        ({"question": "give me an example", "selected_text": review, "mode": "selection_only"}, "selected_text"),
        ({"question": "give me an example", "selected_text": "a" * (MAX_SELECTION_CHARS + 1)}, "selected_text"),
        ({"question": "explain this", "highlight_override": "a" * (MAX_SELECTION_CHARS + 1)}, "highlight_override"),
        ({"question": "a" * (MAX_QUESTION_CHARS + 1)}, "question"),
        ({"question": "x", "page": "p" * 2049}, "page"),
        ({"question": "x", "filters": {"source_file": "docs/" + "a" * MAX_SOURCE_FILE_CHARS}}, "source_file"),
        (
            {"question": "x", "filters": {"source_file": "docs/" + "a/" * 1_950_000 + "b.md"}},
            "source_file",
        ),  # the review's 3.9 MB path
        ({"question": "x", "filters": {"source_file": [f"docs/{i}.md" for i in range(101)]}}, "source_file"),
        ({"question": "x", "filters": {"chapter": "c" * 501}}, "chapter"),
    ]:
        assert_invalid(await client.post("/api/v1/answer", json=body), field)
    # The same filters bound /query.
    assert_invalid(
        await client.post(
            "/api/v1/query", json={"question": "x", "filters": {"source_file": "docs/" + "a" * MAX_SOURCE_FILE_CHARS}}
        ),
        "source_file",
    )
    # At the caps, input is answered.
    at_cap = {
        "question": "give me an example",
        "selected_text": ("if a " * 4000)[:MAX_SELECTION_CHARS],
        "mode": "selection_only",
    }
    assert (await client.post("/api/v1/answer", json=at_cap)).status_code == 200
    longest_path = {
        "question": "x",
        "filters": {"source_file": ["docs/" + "a" * (MAX_SOURCE_FILE_CHARS - 5)] * 100, "chapter": "c" * 500},
    }
    assert (await client.post("/api/v1/answer", json=longest_path)).status_code == 200


# A passage that answers nothing about robots: the answer is the short "does not answer" reply, so what
# an answer costs is, all but entirely, what it was given.
UNRELATED = "Bread is baked in a hot oven until its crust turns brown and the kitchen smells of it. "
SELECTED = (UNRELATED * 40)[:3200]  # about 800 tokens (four characters each)
BUDGET = 400  # more than a question and its answer, less than the selection


@pytest.mark.parametrize("path", ["/api/v1/answer", "/api/v1/answer/stream"])
async def test_a_selection_is_charged_to_the_token_budget(tmp_path: Path, path: str) -> None:
    settings = make_settings(tmp_path, rate_limit_tokens_per_minute=BUDGET)
    async with running_app(settings) as (_, client):
        wait_for_next_minute_if_close()
        body = {"question": "What is the Zero Moment Point?", "selected_text": SELECTED, "mode": "selection_only"}
        first = await client.post(path, json=body)
        assert first.status_code == 200, first.text
        answer = first.json()["answer"] if path.endswith("answer") else first.text
        assert "selected text does not answer" in answer
        assert (len(body["question"]) + len("The selected text does not answer this question.") * 3) // 4 < BUDGET
        # The selection's tokens spent the budget: the next request, however small, is refused.
        assert_rate_limited(
            await client.post("/api/v1/answer", json={"question": "What is balance?"}), "tokens", BUDGET
        )
