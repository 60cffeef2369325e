"""/metrics: requests by route template and status, each pipeline stage's latency after an answer, and the
readiness gauge set by every readiness check, and by the app itself at start and periodically without a probe
(under gunicorn with several workers: tests/health/test_ready_gauge_workers.py)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import auth, make_settings, running_app, shared_path

CHAPTER = "docs/02-humanoid-robotics/index.md"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests(samples: Samples, route: str, status: str, method: str) -> float:
    return value(samples, "rag_http_requests_total", method=method, route=route, status=status)


async def test_metrics_count_requests_by_route_and_status_and_time_each_stage(tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path)) as (_, client):
        text = shared_path("data", "textbooks", "physical-ai", CHAPTER).read_text()
        indexed = await client.post(
            "/api/v1/index", json={"content": text, "metadata": {"source_file": CHAPTER}}, headers=auth()
        )
        assert indexed.status_code == 200
        before = await scrape(client)

        # The app (and its in-process cache) is new, so no cache answers it and every stage runs.
        question = "How does the Zero Moment Point keep a humanoid robot balanced?"
        answer = await client.post("/api/v1/answer", json={"question": question})
        assert answer.status_code == 200 and not answer.json()["refused"], answer.text
        assert (await client.post("/api/v1/query", json={"question": "x", "k": 0})).status_code == 422
        assert (await client.get("/api/v1/index/documents")).status_code == 401
        assert (await client.delete(f"/api/v1/index/{CHAPTER}/nothing", headers=auth())).status_code == 404
        assert (await client.get("/no/such/route")).status_code == 404
        after = await scrape(client)

    assert requests(after, "/api/v1/answer", "200", "POST") == requests(before, "/api/v1/answer", "200", "POST") + 1
    assert requests(after, "/api/v1/query", "422", "POST") == requests(before, "/api/v1/query", "422", "POST") + 1
    assert (
        requests(after, "/api/v1/index/documents", "401", "GET")
        == requests(before, "/api/v1/index/documents", "401", "GET") + 1
    )
    # Routes are labelled by template, never by the raw path (which would grow without bound).
    assert (
        requests(after, "/api/v1/index/{source_file:path}", "404", "DELETE")
        == requests(before, "/api/v1/index/{source_file:path}", "404", "DELETE") + 1
    )
    assert requests(after, "unmatched", "404", "GET") == requests(before, "unmatched", "404", "GET") + 1
    assert not any(
        name == "rag_http_requests_total" and ("route", "/no/such/route") in labels for name, labels in after
    )
    # The first scrape itself was counted.
    assert requests(after, "/metrics", "200", "GET") >= 1

    for stage in ("embedding", "search", "answer"):
        count_before = value(before, "rag_stage_duration_seconds_count", stage=stage)
        count_after = value(after, "rag_stage_duration_seconds_count", stage=stage)
        assert count_after >= count_before + 1, stage
        assert value(after, "rag_stage_duration_seconds_sum", stage=stage) > value(
            before, "rag_stage_duration_seconds_sum", stage=stage
        )
        assert value(after, "rag_stage_duration_seconds_bucket", stage=stage, le="+Inf") == count_after
    # Request latency is recorded with the same labels.
    assert (
        value(after, "rag_http_request_duration_seconds_count", method="POST", route="/api/v1/answer", status="200")
        >= 1
    )


async def test_readiness_sets_the_ready_gauge_each_time_it_is_evaluated(tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path / "migrated")) as (app, client):
        assert (await client.get("/api/v1/health/ready")).status_code == 200
        assert value(await scrape(client), "rag_ready") == 1
        app.state.in_flight.draining = True  # what SIGTERM sets
        assert (await client.get("/api/v1/health/ready")).status_code == 503
        assert value(await scrape(client), "rag_ready") == 0
        app.state.in_flight.draining = False
        assert (await client.get("/api/v1/health/ready")).status_code == 200
        assert value(await scrape(client), "rag_ready") == 1
    # Not migrated (AUTO_MIGRATE off): not ready.
    async with running_app(make_settings(tmp_path / "new", auto_migrate=False)) as (_, client):
        assert (await client.get("/api/v1/health/ready")).status_code == 503
        assert value(await scrape(client), "rag_ready") == 0


async def gauge_becomes(client: httpx.AsyncClient, expected: float, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while (found := value(await scrape(client), "rag_ready")) != expected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert found == expected


async def test_the_app_sets_the_ready_gauge_by_itself_at_start_and_then_periodically(tmp_path: Path) -> None:
    """No readiness probe here: the gauge is the app's own evaluation."""

    def probes(samples: Samples) -> float:
        return sum(requests(samples, "/api/v1/health/ready", status, "GET") for status in ("200", "503"))

    async with running_app(make_settings(tmp_path / "migrated", readiness_check_seconds=0.5)) as (app, client):
        before = await scrape(client)  # the counters are the process's: earlier tests' probes are in them
        await gauge_becomes(client, 1)
        app.state.in_flight.draining = True  # set directly, as SIGTERM does, without the handler's own gauge update
        await gauge_becomes(client, 0)
        assert probes(await scrape(client)) == probes(before)
