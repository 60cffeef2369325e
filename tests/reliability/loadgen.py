"""A bounded load driver for the reliability battery: `concurrency` clients in one event loop send
/api/v1/query and /api/v1/answer (alternating) with questions from the shared question sets, for a
fixed time, against a server in another process. Every request has a timeout; nothing waits forever."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.conftest import shared_path

REQUEST_TIMEOUT = 15.0


def questions() -> list[str]:
    """Physical AI questions, the Rust Book's conceptual quiz questions and SQuAD questions (most of
    which the books do not answer: refusals are part of real traffic)."""
    qa = shared_path("data", "qa")
    out = [json.loads(line)["text"] for line in (qa / "physical-ai" / "queries.jsonl").read_text().splitlines()]
    out += [
        r["question"]
        for r in map(json.loads, (qa / "rust-quizzes" / "quizzes.jsonl").read_text().splitlines())
        if r.get("rag_suitable")
    ]
    out += [json.loads(line)["text"] for line in (qa / "squad-v2-subset" / "queries.jsonl").read_text().splitlines()][
        :400
    ]
    return [q for q in out if 0 < len(q) <= 2000]


@dataclass
class Stats:
    statuses: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)  # exceptions and timeouts, by name
    latencies_ms: list[float] = field(default_factory=list)
    answer_ids: list[str] = field(default_factory=list)  # answers acknowledged with 200
    missing_retry_after: int = 0  # 503/429 without Retry-After
    timeline: list[tuple[float, int]] = field(default_factory=list)  # (seconds since start, status or -1)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + sum(self.failures.values())

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else 0.0

    def between(self, start: float, end: float) -> Counter[int]:
        return Counter(status for t, status in self.timeline if start <= t < end)


async def drive(base_url: str, seconds: float, concurrency: int, qs: list[str], stats: Stats | None = None) -> Stats:
    stats = stats or Stats()
    started = time.monotonic()
    deadline = started + seconds

    async def client(n: int) -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT) as http:
            i = n
            while time.monotonic() < deadline:
                question = qs[i % len(qs)]
                path = "/api/v1/answer" if i % 2 else "/api/v1/query"
                i += concurrency
                sent = time.monotonic()
                try:
                    r = await asyncio.wait_for(
                        http.post(path, json={"question": question, "k": 5}), REQUEST_TIMEOUT + 1
                    )
                except (httpx.HTTPError, TimeoutError) as exc:
                    stats.failures[type(exc).__name__] += 1
                    stats.timeline.append((sent - started, -1))
                    await asyncio.sleep(0.05)
                    continue
                stats.statuses[r.status_code] += 1
                stats.timeline.append((sent - started, r.status_code))
                stats.latencies_ms.append((time.monotonic() - sent) * 1000)
                if r.status_code in (429, 503) and not r.headers.get("Retry-After", "").isdigit():
                    stats.missing_retry_after += 1
                if r.status_code == 200 and path == "/api/v1/answer":
                    stats.answer_ids.append(r.json()["answer_id"])
                if r.status_code in (429, 503):
                    await asyncio.sleep(0.1)

    await asyncio.gather(*(client(n) for n in range(concurrency)))
    return stats


def process_tree_rss_mb(root: int) -> float:
    """Resident memory of a process and its children (a gunicorn master and its workers), in MiB."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            pid, ppid = int(entry.name), int(stat.rsplit(")", 1)[1].split()[1])
            if pid != root and ppid != root:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return total / 1024


async def sample_memory(root: int, seconds: float, every: float, out: list[tuple[float, float]]) -> None:
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < seconds:
        out.append((elapsed, process_tree_rss_mb(root)))
        await asyncio.sleep(every)


def cpu_count() -> int:
    return os.cpu_count() or 1
