"""Fuzzing the API: schemathesis against the service's own OpenAPI document.

The real service runs as a uvicorn process on a loopback port, with one real chapter indexed. Its
own /openapi.json is loaded with schemathesis 4 and every operation in it is fuzzed over real HTTP
with schema-conforming (positive) and schema-breaking (negative) data, once with the Bearer
indexing key and once without it. The battery proves that no generated request gets a 5xx; that
every response has a documented status code, a documented content type and a body matching the
documented schema (error bodies: the one `{error, details, request_id}` shape); that no protected
operation (everything under /api/v1/index) answers anything but 401 without the key; and that
the indexed chapter is intact afterwards and still answers its question with citations.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import content_type_conformance, response_schema_conformance, status_code_conformance
from schemathesis.core.failures import FailureGroup

from tests.conftest import API_KEY, auth, make_settings, shared_path
from tests.reliability.conftest import FULL, size

CHAPTER = "docs/07-gazebo-ignition/index.md"
CHAPTER_URL = "https://book.example/docs/07-gazebo-ignition"
QUESTION = "Which physics engines does Gazebo support?"
PROTECTED_PREFIX = "/api/v1/index"
TARGET_CASES = size(250, 5000)
MAX_ROUNDS = size(4, 12)
SCHEMA_CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
ERROR_KEYS = {"error", "details", "request_id"}
# What the HTTP client itself refuses to put on the wire (e.g. a generated header with a newline): nothing reaches the service.
UNSENDABLE = (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL, UnicodeEncodeError)


@dataclass
class Tally:
    """What the fuzzing sent and saw, case by case."""

    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    per_run: Counter[tuple[str, bool]] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    schema_violations: list[str] = field(default_factory=list)
    error_shape_violations: list[str] = field(default_factory=list)
    reachable_without_key: dict[str, list[str]] = field(default_factory=dict)
    unroutable: Counter[str] = field(default_factory=Counter)
    unsent: Counter[str] = field(default_factory=Counter)

    def count(self, status: int) -> int:
        return self.statuses[status]

    def count_5xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def problems(self) -> Iterator[str]:
        yield from self.server_errors[:10]
        yield from self.schema_violations[:10]
        yield from self.error_shape_violations[:10]
        for found in self.reachable_without_key.values():
            yield from found[:3]


def is_protected(operation: schemathesis.APIOperation) -> bool:
    return operation.path.startswith(PROTECTED_PREFIX)


def describe(case: schemathesis.Case, response: schemathesis.Response, note: str) -> str:
    sent = f"path={case.path_parameters} query={case.query} body={str(case.body)[:150]!r}"
    return f"{case.operation.label} -> {response.status_code}: {note} | sent {sent} | got {response.content[:200]!r}"


def error_shape_problem(response: schemathesis.Response) -> str | None:
    """The documented error contract: a JSON body {error, details, request_id}, the id echoed in X-Request-ID."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return "error body is not JSON"
    if not isinstance(body, dict) or set(body) != ERROR_KEYS:
        return f"error body keys are {sorted(body) if isinstance(body, dict) else type(body).__name__}"
    if response.headers.get("x-request-id", [None])[0] != body["request_id"]:
        return "request_id differs from X-Request-ID"
    return None


def is_routing_miss(response: schemathesis.Response) -> bool:
    """The framework's own 404: the URL matched no route at all (the body's details are Starlette's "Not Found")."""
    if response.status_code != 404:
        return False
    try:
        return json.loads(response.content).get("details") == "Not Found"
    except (ValueError, AttributeError):
        return False


def judge(
    case: schemathesis.Case,
    response: schemathesis.Response,
    with_key: bool,
    headers: dict[str, str] | None,
    tally: Tally,
) -> None:
    tally.cases += 1
    tally.statuses[response.status_code] += 1
    tally.per_run[(case.operation.label, with_key)] += 1
    if response.status_code >= 500:
        tally.server_errors.append(describe(case, response, "server error"))
    if response.status_code >= 400 and (problem := error_shape_problem(response)):
        tally.error_shape_violations.append(describe(case, response, problem))
    try:
        case.validate_response(response, checks=SCHEMA_CHECKS, headers=headers)
    except FailureGroup as group:
        for failure in group.exceptions:
            tally.schema_violations.append(describe(case, response, f"{failure.title}: {failure.message[:300]}"))


def exercise(case: schemathesis.Case, base_url: str, session: requests.Session, with_key: bool, tally: Tally) -> None:
    """Send one generated case, with the real key or with whatever (if anything) the generator put in Authorization."""
    headers = auth() if with_key else None
    if not with_key and case.headers:
        assert API_KEY not in str(case.headers)
    try:
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=60)
    except UNSENDABLE as exc:
        tally.unsent[f"{case.operation.label}: {type(exc).__name__}"] += 1
        return
    judge(case, response, with_key, headers, tally)
    if not with_key and is_protected(case.operation) and response.status_code != 401:
        judge_unauthenticated_answer(case, response, base_url, session, tally)


def judge_unauthenticated_answer(
    case: schemathesis.Case, response: schemathesis.Response, base_url: str, session: requests.Session, tally: Tally
) -> None:
    """A protected operation answered something other than 401 without the key. That is a breach, unless the
    URL named no route at all: then the very same request with the key gets the same routing 404 (e.g. a
    newline in {source_file}, which the router's path pattern does not match), and no operation ran."""
    keyed = case.call(base_url=base_url, session=session, headers=auth(), timeout=60)
    if is_routing_miss(response) and is_routing_miss(keyed):
        tally.unroutable[case.operation.label] += 1
        return
    tally.reachable_without_key.setdefault(case.operation.label, []).append(
        describe(case, response, "answered without the key")
    )


def fuzz_operation(
    operation: schemathesis.APIOperation,
    mode: GenerationMode,
    with_key: bool,
    examples: int,
    round_seed: int,
    base_url: str,
    tally: Tally,
) -> None:
    """Up to `examples` generated cases for one operation, in one mode, with or without the key."""
    session = requests.Session()

    @seed(round_seed)
    @hypothesis_settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        exercise(case, base_url, session, with_key, tally)

    try:
        run()
    except Unsatisfiable:
        pass  # no schema-breaking variant exists for an operation that takes no input
    finally:
        session.close()


def fuzz(operations: list[schemathesis.APIOperation], base_url: str, target: int) -> Tally:
    """Rounds over every operation x mode x key until `target` cases have been sent (bounded by MAX_ROUNDS)."""
    runs = len(operations) * len(MODES) * 2
    tally = Tally()
    for round_number in range(MAX_ROUNDS):
        per_run = max(5, -(-(target - tally.cases) // runs))
        for operation in operations:
            for mode in MODES:
                for with_key in (True, False):
                    fuzz_operation(operation, mode, with_key, per_run, round_number, base_url, tally)
        if tally.cases >= target:
            break
    return tally


def index_chapter(base_url: str) -> dict[str, Any]:
    text = shared_path("data", "textbooks", "physical-ai", CHAPTER).read_text()
    body = {"content": text, "metadata": {"source_file": CHAPTER, "url": CHAPTER_URL, "document_type": "markdown"}}
    response = httpx.post(f"{base_url}/api/v1/index", json=body, headers=auth(), timeout=120)
    assert response.status_code == 200, response.text
    return response.json()


def chapter_row(base_url: str) -> dict[str, Any]:
    """The chapter's row in the document listing, paging through whatever the fuzzing indexed beside it."""
    offset = 0
    while True:
        listing = httpx.get(
            f"{base_url}/api/v1/index/documents", params={"limit": 1000, "offset": offset}, headers=auth(), timeout=60
        )
        assert listing.status_code == 200, listing.text
        documents = listing.json()["documents"]
        rows = [d for d in documents if d["source_file"] == CHAPTER]
        if rows or not documents:
            assert len(rows) == 1, f"{CHAPTER} is not listed once: {rows}"
            return rows[0]
        offset += len(documents)


def assert_chapter_answers(base_url: str) -> None:
    response = httpx.post(f"{base_url}/api/v1/answer", json={"question": QUESTION}, timeout=120)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert not answer["refused"], answer["answer"]
    assert answer["citations"], answer["answer"]
    assert {c["source_file"] for c in answer["citations"]} == {CHAPTER}
    assert all(c["url"].startswith(CHAPTER_URL) and c["quote"] for c in answer["citations"])


def unhandled_exceptions(log: str) -> list[str]:
    """The server's UNHANDLED_EXCEPTION events (by event name: a fuzzed URL may well contain the words)."""
    found = []
    for line in log.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("event") == "UNHANDLED_EXCEPTION":
            found.append(line[:500])
    return found


def record_figures(record: Any, tally: Tally, operations: list[schemathesis.APIOperation]) -> None:
    protected = [op.label for op in operations if is_protected(op)]
    unsent = sum(tally.unsent.values())
    note = f"{len(operations)} operations x positive/negative x with/without key; statuses {dict(sorted(tally.statuses.items()))}"
    record(
        "generated cases sent",
        tally.cases,
        f">= {TARGET_CASES}",
        tally.cases >= TARGET_CASES,
        note + (f"; {unsent} not sendable by the client" if unsent else ""),
    )
    record("responses of 500", tally.count(500), "0", tally.count(500) == 0)
    record("responses of any 5xx", tally.count_5xx(), "0", tally.count_5xx() == 0)
    record(
        "responses breaking the documented schema",
        len(tally.schema_violations),
        "0",
        not tally.schema_violations,
        "status code, content type, body",
    )
    record(
        "error bodies not {error, details, request_id}",
        len(tally.error_shape_violations),
        "0",
        not tally.error_shape_violations,
    )
    reachable = len(tally.reachable_without_key)
    unroutable = sum(tally.unroutable.values())
    note = "anything but 401 counts, save the router's 404 for a URL that matches no route with the key either"
    note += f" ({unroutable} such requests: {dict(tally.unroutable)})" if unroutable else ""
    record(
        "protected operations reachable without the key", f"{reachable} of {len(protected)}", "0", reachable == 0, note
    )


@pytest.mark.timeout(2400 if FULL else 300)
def test_fuzz_every_operation_with_and_without_the_key(tmp_path: Path, live_server_factory: Any, record: Any) -> None:
    server = live_server_factory(make_settings(tmp_path))
    assert index_chapter(server.url)["indexed_chunks"] > 0
    assert_chapter_answers(server.url)
    before = chapter_row(server.url)

    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 18 and any(is_protected(op) for op in operations)
    tally = fuzz(operations, server.url, TARGET_CASES)
    record_figures(record, tally, operations)
    print(
        f"cases {tally.cases}, statuses {dict(sorted(tally.statuses.items()))}, unroutable without key {dict(tally.unroutable)}, unsent {dict(tally.unsent)}"
    )
    for line in tally.problems():
        print(line)

    # Every operation was exercised both ways.
    missing = [
        (op.label, with_key)
        for op in operations
        for with_key in (True, False)
        if not tally.per_run[(op.label, with_key)]
    ]
    assert not missing, missing
    assert tally.cases >= TARGET_CASES
    assert tally.count_5xx() == 0, tally.server_errors[:5]
    assert not tally.schema_violations, tally.schema_violations[:5]
    assert not tally.error_shape_violations, tally.error_shape_violations[:5]
    assert not tally.reachable_without_key, {label: found[:2] for label, found in tally.reachable_without_key.items()}
    assert (
        sum(
            n
            for (label, with_key), n in tally.per_run.items()
            if not with_key and label.split(" ", 1)[1].startswith(PROTECTED_PREFIX)
        )
        > 0
    )

    # Nothing stored was corrupted: the chapter is listed as before and still answers with citations.
    after = chapter_row(server.url)
    assert (after["content_hash"], after["chunk_count"], after["status"]) == (
        before["content_hash"],
        before["chunk_count"],
        before["status"],
    )
    assert_chapter_answers(server.url)
    assert not unhandled_exceptions(server.log())
