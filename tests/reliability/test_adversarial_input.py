"""Adversarial input: bounded work per request.

The outside review's hostile requests and documents, each sent over real HTTP to one uvicorn server
(SQLite, the embedded vector store, a chapter of the shared Physical AI book indexed): a selection of
"if a " at the 8,000-character cap and the review's 20,000 characters of it, a question of
"repeat the " and one of 10,000 characters of distinct names; a YAML alias bomb in front matter,
80,000 characters of `<!--`, a ten-page PDF whose pages share one content stream, a bulk job whose
first page nests its front matter 3,000 deep, and HTML nested 5,000 deep.

Per attack, each figure the median (and the largest) of its repetitions: the status and error (the
documented shape); the CPU seconds of the server's process tree (the worker and its parsing
children) from the request until the server is idle again, against a normal request of the same
size; the slowest /health answered while it ran, against the same during that normal request (each
pair sent in turn, so a loaded machine slows both; a round past its factor is measured again); the
growth of the worker's resident memory while it ran, against a normal request's. Then what is stored: the pages the refused
documents tried to replace are listed and found as before, and the bulk job indexed its ordinary page.

Before the review's fixes the alias bomb was indexed after adding 660 to 1,460 MiB to the worker and
holding /health for 5 seconds, 80,000 characters of `<!--` held it for 8, and the shared-stream PDF
cost 80 CPU seconds.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import os
import statistics
import string
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer, auth, make_settings, shared_path
from tests.ingestion.pdf_maker import make_pdf, make_shared_stream_pdf
from tests.kit.test_errors import assert_error
from tests.reliability.conftest import FULL, size

pytestmark = pytest.mark.slow
CHAPTER = "docs/02-humanoid-robotics/index.md"
REPETITIONS = size(1, 5)
ROUNDS = 3  # a pair of attack and normal request past a factor is measured again, at most this often
HEALTH_FACTOR = 5.0  # the slowest /health during an attack against that during a normal request
CPU_FACTOR = 5.0  # the server's CPU seconds for an attack against those for a normal request
# Floors under a normal request's figures: below them a ratio measures noise, not work. On a loaded
# 2-core machine /health on loopback takes from 3 to 20 ms whatever runs beside it (a blocked event
# loop holds it for hundreds); the kernel counts CPU in 10 ms ticks.
HEALTH_FLOOR_SECONDS = 0.020
CPU_FLOOR_SECONDS = 0.050
# Memory an attack may add beyond what a normal request of the same size adds (embedding a batch of full
# 256-token chunks alone takes about 100 MiB of activations, however the text looks).
RSS_BAR_MIB = 100.0

Send = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


# --- the server process, from outside -------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat's fields after the command name (which may hold spaces), or None once it ended."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants: the sandbox's parsing children hang under the forkserver it starts."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))):
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        found.append(todo.pop())
        todo += children.get(found[-1], [])
    return found


def cpu_seconds(pid: int) -> float:
    """utime + stime of the tree, with cutime + cstime: a child that ended (a parser killed past its
    limit) moves its time to its parent, so the sum only grows."""
    ticks = sum(sum(int(f) for f in fields[11:15]) for p in process_tree(pid) if (fields := _stat(p)))
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


class PeakRss:
    """The largest resident size of one process, sampled every few milliseconds in a thread (the
    alias bomb's expansion is freed again before the response)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = rss_mib(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.003):
            self.peak = max(self.peak, rss_mib(self.pid))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return max(self.peak, rss_mib(self.pid))


async def idle(pid: int, limit: float = 5.0) -> None:
    """Until the server spends less than two ticks in 100 ms: the work a request leaves behind (the
    turn recorder, the embedder's threads) is counted with that request, not the next."""
    deadline = time.monotonic() + limit
    last = cpu_seconds(pid)
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        now = cpu_seconds(pid)
        if now - last < 0.02:
            return
        last = now


@dataclass
class Run:
    response: httpx.Response
    cpu: float
    slowest_health: float
    rss_growth: float


async def measured(server: LiveServer, client: httpx.AsyncClient, prober: httpx.AsyncClient, send: Send) -> Run:
    pid = server.proc.pid
    await idle(pid)
    before = rss_mib(pid)
    rss = PeakRss(pid)
    started_cpu = cpu_seconds(pid)
    request = asyncio.ensure_future(send(client))
    slowest = 0.0
    while not request.done():  # at least one /health: the request has not been sent yet
        started = time.perf_counter()
        assert (await prober.get("/health")).status_code == 200
        slowest = max(slowest, time.perf_counter() - started)
        await asyncio.sleep(0.005)
    response = await request
    await idle(pid)
    return Run(response, cpu_seconds(pid) - started_cpu, slowest, rss.stop() - before)


# --- the attacks and the normal requests of the same size -----------------------------------------


def prose() -> str:
    return " ".join(shared_path("data", "textbooks", "physical-ai", CHAPTER).read_text().split())


def cut(text: str, length: int, n: int) -> str:
    """`text` repeated and cut to `length` characters, made distinct by `n`: a repeated request would be
    a cache hit, and a repeated document `unchanged`, and cost nothing."""
    prefix = f"n{n} "
    return prefix + (text * (length // len(text) + 1))[: length - len(prefix)]


def answer(question: str, selection: str | None = None) -> Send:
    body: dict[str, Any] = {"question": question}
    if selection is not None:
        body |= {"selected_text": selection, "mode": "selection_only"}
    return lambda client: client.post("/api/v1/answer", json=body)


def index(content: str, source_file: str, document_type: str = "markdown") -> Send:
    body = {"content": content, "metadata": {"source_file": source_file, "document_type": document_type}}
    return lambda client: client.post("/api/v1/index", json=body, headers=auth())


def bulk(documents: list[tuple[str, str]]) -> Send:
    """The job posted and followed until it ends: its last status is the response."""

    async def send(client: httpx.AsyncClient) -> httpx.Response:
        body = {"documents": [{"content": c, "metadata": {"source_file": s}} for s, c in documents]}
        accepted = await client.post("/api/v1/index/bulk", json=body, headers=auth())
        if accepted.status_code != 202:
            return accepted
        for _ in range(3000):
            status = await client.get(accepted.json()["status_url"], headers=auth())
            if status.status_code != 200 or status.json()["status"] in {"completed", "failed"}:
                return status
            await asyncio.sleep(0.05)
        raise AssertionError(f"the job did not finish: {status.text}")

    return send


def distinct_names(length: int, n: int) -> str:
    """Words no book has, none repeated: every one is a name the question asks about."""
    words = " ".join("Zq" + "".join(w) + "ix" for w in itertools.product(string.ascii_lowercase, repeat=4))
    return cut(words, length, n)


def alias_bomb(source: str) -> str:
    """Six anchors, each nine aliases of the one before: the title expands to 9**6 words."""
    lines = [
        "---",
        "a0: &a0 [" + ", ".join(['"lol"'] * 9) + "]",
        *(f"a{k}: &a{k} [" + ", ".join([f"*a{k - 1}"] * 9) + "]" for k in range(1, 6)),
    ]
    return "\n".join([*lines, "title: *a5", "---", "", f"# {source}", "", "Some text about robots."])


NESTED_FRONT_MATTER = "---\ntitle: " + "[" * 3000 + "]" * 3000 + "\n---\n\n# Nested\n\nSome text.\n"
NESTED_HTML = "<div>" * 5000 + "Text."


def shared_stream_pdf(n: int) -> bytes:
    """The review's 2.6 KB: ten pages that each draw one stream of 106,000 characters."""
    return make_shared_stream_pdf(
        [f"Run {n}.", *(f"The robot walks on two legs and keeps its balance {i % 7}." for i in range(2000))], 10
    )


def pdf_of_size(text: str, size_bytes: int, n: int) -> bytes:
    """An ordinary one-page PDF of lines of `text`, at least `size_bytes` long."""
    words = cut(text, 100_000, n).split()
    lines = [" ".join(words[i : i + 10]) for i in range(0, len(words), 10)]
    count = 1
    while len(make_pdf([lines[:count]])) < size_bytes:
        count += 1
    return make_pdf([lines[:count]])


def html_of_size(text: str, length: int, n: int) -> str:
    body = cut(text, length - 60, n)
    paragraphs = "".join(f"<p>{body[i : i + 400]}</p>" for i in range(0, len(body), 400))
    return f"<html><body><h1>Page {n}</h1>{paragraphs}</body></html>"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# The pages the refused documents try to replace, each with a phrase that finds it.
GOOD_PAGES = {
    "docs/balance.md": (
        "markdown",
        "# Balance\n\nThe quokka gyroscope keeps a walking robot upright on two legs.\n",
        "quokka gyroscope",
    ),
    "manual.pdf": ("pdf", b64(make_pdf([["The wombat actuator turns commands into motion."]])), "wombat actuator"),
    "page.html": (
        "html",
        "<html><body><h1>Sensors</h1><p>The numbat lidar measures distance.</p></body></html>",
        "numbat lidar",
    ),
}
ORDINARY = "# Ordinary\n\nThe platypus encoder counts the wheel's turns.\n"
OTHER_ORDINARY = (
    "# Another\n\nThe bilby brake holds the wheel while it stops.\n"  # the normal job's: not found by ORDINARY's phrase
)


def answered(response: httpx.Response) -> str | None:
    if response.status_code != 200 or not response.json().get("answer"):
        return f"expected an answer, got {response.status_code} {response.text[:200]}"
    return None


def refused(*words: str) -> Callable[[httpx.Response], str | None]:
    """The documented 422: ErrorBody with `validation_error`, its details naming the reason, the input not echoed."""

    def check(response: httpx.Response) -> str | None:
        if response.status_code != 422:
            return f"expected 422, got {response.status_code} {response.text[:200]}"
        body = assert_error(response, 422, "validation_error")
        missing = [w for w in words if w not in str(body["details"])]
        if missing or len(response.content) > 4096:
            return f"422 without {missing} or echoing its input: {response.text[:300]}"
        return None

    return check


def job_fails_nested_alone(response: httpx.Response) -> str | None:
    job = response.json() if response.status_code == 200 else {}
    results = {Path(r["source_file"]).name.split("-")[0]: r for r in job.get("results", [])}
    if (
        job.get("status") != "completed"
        or (job.get("done"), job.get("failed")) != (1, 1)
        or "nested deeper than" not in str(results.get("nested", {}).get("error"))
        or results.get("ordinary", {}).get("status") != "indexed"
    ):
        return f"expected the nested page failed and the ordinary one indexed: {response.status_code} {response.text[:400]}"
    return None


def accepted(response: httpx.Response) -> str | None:
    return None if response.status_code == 200 else f"expected 200, got {response.status_code} {response.text[:200]}"


def outcome(response: httpx.Response) -> str:
    if response.status_code >= 400:
        body = response.json()
        reason = (
            "; ".join(str(d.get("msg", d)) for d in body["details"])
            if isinstance(body["details"], list)
            else str(body["details"])
        )
        return f"{response.status_code} {body['error']}: {reason[:140]}"
    job = response.json()
    if "results" in job:  # a bulk job's last status; its pages are named `nested-<n>.md` and `ordinary-<n>.md`
        return f"202, job {job['status']}: " + ", ".join(
            f"{Path(r['source_file']).name.split('-')[0]} page {r['status']}" for r in job["results"]
        )
    return f"{response.status_code}" + (f" ({job['indexed_chunks']} chunks)" if "indexed_chunks" in job else "")


@dataclass
class Attack:
    name: str
    hostile: Callable[[int], Send]
    normal: Callable[[int], Send]
    expected: str
    check: Callable[[httpx.Response], str | None]
    runs: list[tuple[Run, Run]] = field(default_factory=list)  # (normal, hostile) of the round judged
    ratios: list[tuple[float, float]] = field(default_factory=list)  # (/health, CPU) of each round
    wrong: list[str] = field(default_factory=list)  # hostile responses other than the documented one


def attacks(text: str) -> list[Attack]:
    bomb = len(alias_bomb("docs/balance.md"))
    return [
        Attack(
            'selection of "if a " at the 8,000-character cap, selection_only',
            lambda n: answer("give me an example", cut("if a ", 8000, n)),
            lambda n: answer("give me an example", cut(text, 8000, n)),
            "200, an answer",
            answered,
        ),
        Attack(
            'the review\'s 20,000-character selection of "if a "',
            lambda n: answer("give me an example", cut("if a ", 20_000, n)),
            lambda n: answer("give me an example", cut(text, 20_000, n)),
            "422 validation_error naming selected_text",
            refused("selected_text"),
        ),
        Attack(
            'question of "repeat the " × 910 (10,000 characters)',
            lambda n: answer(cut("repeat the ", 10_000, n)),
            lambda n: answer(cut(text, 10_000, n)),
            "200, an answer",
            answered,
        ),
        Attack(
            "question of 10,000 characters of distinct names",
            lambda n: answer(distinct_names(10_000, n)),
            lambda n: answer(cut(text, 10_000, n)),
            "200, an answer",
            answered,
        ),
        Attack(
            "YAML alias bomb in front matter (6 levels, nine-way), over an indexed page",
            lambda n: index(alias_bomb(f"docs/balance.md {n}"), "docs/balance.md"),
            lambda n: index(cut(text, bomb, n), f"notes/normal-bomb-{n}.md"),
            "422 validation_error: front matter refused",
            refused("front matter refused"),
        ),
        Attack(
            "80,000 characters of `<!--`",
            lambda n: index(f"n{n} " + "<!--" * 20_000, f"notes/comments-{n}.md"),
            lambda n: index(cut(text, 80_004, n), f"notes/normal-comments-{n}.md"),
            "200: an unclosed comment is text",
            accepted,
        ),
        Attack(
            "10-page PDF whose pages share one content stream, over an indexed PDF",
            lambda n: index(b64(shared_stream_pdf(n)), "manual.pdf", "pdf"),
            lambda n: index(b64(pdf_of_size(text, len(shared_stream_pdf(n)), n)), f"notes/normal-{n}.pdf", "pdf"),
            "422 validation_error naming MAX_PDF_TEXT_PER_BYTE",
            refused("MAX_PDF_TEXT_PER_BYTE"),
        ),
        Attack(
            "bulk job: front matter nested 3,000 deep, then an ordinary page",
            lambda n: bulk(
                [(f"docs/nested-{n}.md", NESTED_FRONT_MATTER), (f"docs/ordinary-{n}.md", f"{ORDINARY}\nRun {n}.\n")]
            ),
            lambda n: bulk(
                [
                    (f"notes/normal-nested-{n}.md", cut(text, len(NESTED_FRONT_MATTER), n)),
                    (f"notes/normal-ordinary-{n}.md", f"{OTHER_ORDINARY}\nRun {n}.\n"),
                ]
            ),
            "202; the job completes: the nested page failed (nested deeper than), the ordinary page indexed",
            job_fails_nested_alone,
        ),
        Attack(
            "HTML nested 5,000 deep, over an indexed page",
            lambda n: index(f"<p>n{n}</p>" + NESTED_HTML, "page.html", "html"),
            lambda n: index(html_of_size(text, len(NESTED_HTML), n), f"notes/normal-{n}.html", "html"),
            "422 validation_error: nested deeper than 100 elements",
            refused("nested deeper than"),
        ),
    ]


# --- what is stored ----------------------------------------------------------------------------------


async def stored(client: httpx.AsyncClient) -> dict[str, Any]:
    """The good pages as listed, and the chunks their phrases find."""
    listed = await client.get("/api/v1/index/documents", params={"limit": 1000}, headers=auth())
    assert listed.status_code == 200, listed.text
    state: dict[str, Any] = {d["source_file"]: d for d in listed.json()["documents"] if d["source_file"] in GOOD_PAGES}
    for _, _, phrase in GOOD_PAGES.values():
        state[phrase] = await found_first(client, phrase)
    return state


async def found_first(client: httpx.AsyncClient, phrase: str) -> tuple[str, str] | None:
    """The chunk a phrase finds first, and its source file."""
    found = await client.post("/api/v1/query", json={"question": phrase, "k": 1})
    assert found.status_code == 200, found.text
    first = found.json()["retrieved_contexts"][:1]
    return (first[0]["chunk_id"], first[0]["metadata"]["source_file"]) if first else None


# --- the test ------------------------------------------------------------------------------------------


def ratio(hostile: float, normal: float, floor: float) -> float:
    return hostile / max(normal, floor)


def spread(values: list[float], unit: str, scale: float = 1.0, digits: int = 2) -> str:
    """The median, and the largest when there is more than one."""
    median = f"{statistics.median(values) * scale:.{digits}f}"
    return f"{median} {unit}" if len(values) == 1 else f"{median} (max {max(values) * scale:.{digits}f}) {unit}"


def pair_ratios(runs: list[tuple[Run, Run]]) -> tuple[float, float]:
    """(/health ratio, CPU ratio) of the medians of the hostile runs against those of the normal ones."""
    normal, hostile = [r[0] for r in runs], [r[1] for r in runs]

    def med(rs: list[Run], key: Callable[[Run], float]) -> float:
        return statistics.median(key(r) for r in rs)

    return (
        ratio(med(hostile, lambda r: r.slowest_health), med(normal, lambda r: r.slowest_health), HEALTH_FLOOR_SECONDS),
        ratio(med(hostile, lambda r: r.cpu), med(normal, lambda r: r.cpu), CPU_FLOOR_SECONDS),
    )


async def measure(
    attack: Attack, server: LiveServer, client: httpx.AsyncClient, prober: httpx.AsyncClient, numbers: Iterator[int]
) -> None:
    """REPETITIONS pairs of a normal request and the attack, in turn so both meet the same load of the
    machine; the round is measured again, at most ROUNDS times, while a ratio is past its factor."""
    for _ in range(ROUNDS):
        attack.runs = []
        for _ in range(REPETITIONS):
            normal = await measured(server, client, prober, attack.normal(next(numbers)))
            assert normal.response.status_code < 500, normal.response.text
            hostile = await measured(server, client, prober, attack.hostile(next(numbers)))
            if problem := attack.check(hostile.response):
                attack.wrong.append(problem)
            attack.runs.append((normal, hostile))
        attack.ratios.append(pair_ratios(attack.runs))
        if attack.ratios[-1][0] <= HEALTH_FACTOR and attack.ratios[-1][1] <= CPU_FACTOR:
            return


def report(attack: Attack, record: Any) -> list[str]:
    """Records the attack's figures; the bars it missed."""
    normal, hostile = [n for n, _ in attack.runs], [h for _, h in attack.runs]
    health, cpu = attack.ratios[-1]
    growth = max(h.rss_growth for h in hostile)
    allowed = max(n.rss_growth for n in normal) + RSS_BAR_MIB
    earlier = (
        f"; measured {len(attack.ratios)} times, the ratios before: {[f'{h:.1f}, {c:.1f}' for h, c in attack.ratios[:-1]]}"
        if attack.ratios[1:]
        else ""
    )
    outcomes = " / ".join(sorted({outcome(h.response) for h in hostile}))
    record(
        f"{attack.name}: status and error", outcomes, attack.expected, not attack.wrong, "; ".join(attack.wrong)[:300]
    )
    record(
        f"{attack.name}: server CPU seconds (a normal request's)",
        f"{spread([h.cpu for h in hostile], 's')} ({spread([n.cpu for n in normal], 's')})",
        f"≤ {CPU_FACTOR:g} × a normal request's (at least {CPU_FLOOR_SECONDS} s)",
        cpu <= CPU_FACTOR,
        f"ratio of the medians {cpu:.2f}{earlier}",
    )
    record(
        f"{attack.name}: slowest /health while it ran (while a normal request ran)",
        f"{spread([h.slowest_health for h in hostile], 'ms', 1000, 0)} ({spread([n.slowest_health for n in normal], 'ms', 1000, 0)})",
        f"≤ {HEALTH_FACTOR:g} × a normal request's (at least {HEALTH_FLOOR_SECONDS * 1000:.0f} ms)",
        health <= HEALTH_FACTOR,
        f"ratio of the medians {health:.2f}{earlier}",
    )
    record(
        f"{attack.name}: worker RSS growth while it ran (while a normal request ran)",
        f"{spread([h.rss_growth for h in hostile], 'MiB', digits=1)} ({spread([n.rss_growth for n in normal], 'MiB', digits=1)})",
        f"< a normal request's + {RSS_BAR_MIB:.0f} MiB",
        growth < allowed,
    )
    missed = [f"{attack.name}: {problem}" for problem in attack.wrong]
    if cpu > CPU_FACTOR:
        missed.append(f"{attack.name}: {cpu:.1f} times the CPU of a normal request of the same size")
    if health > HEALTH_FACTOR:
        missed.append(f"{attack.name}: /health {health:.1f} times slower than during a normal request of the same size")
    if growth >= allowed:
        missed.append(
            f"{attack.name}: the worker's memory grew by {growth:.0f} MiB (a normal request's: {allowed - RSS_BAR_MIB:.0f} MiB)"
        )
    return missed


@pytest.mark.timeout(1800 if FULL else 300)
async def test_adversarial_input_costs_bounded_work(tmp_path: Path, live_server_factory: Any, record: Any) -> None:
    text = prose()
    server: LiveServer = live_server_factory(make_settings(tmp_path))
    numbers = itertools.count()
    missed: list[str] = []
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=300) as client,
        httpx.AsyncClient(base_url=server.url, timeout=300) as prober,
    ):
        chapter = await client.post(
            "/api/v1/index", json={"content": text, "metadata": {"source_file": CHAPTER}}, headers=auth()
        )
        assert chapter.status_code == 200, chapter.text
        # The pages the attacks try to replace; the PDF and the HTML page also start the parsing children.
        for source, (kind, content, _) in GOOD_PAGES.items():
            r = await index(content, source, kind)(client)
            assert r.status_code == 200 and r.json()["indexed_chunks"] == 1, r.text
        before = await stored(client)
        for attack in attacks(text):
            await measure(attack, server, client, prober, numbers)
            missed += report(attack, record)
        after = await stored(client)
        ordinary = (await found_first(client, "platypus encoder") or ("", "nothing"))[1]
    unchanged = after == before
    record(
        "refused documents: the pages they tried to replace, listed and found as before", unchanged, "True", unchanged
    )
    record(
        "bulk job: its ordinary page found by /api/v1/query",
        ordinary,
        "docs/ordinary-<n>.md",
        ordinary.startswith("docs/ordinary-"),
    )
    assert not missed, "\n".join(missed)
    assert unchanged, (before, after)
    assert ordinary.startswith("docs/ordinary-"), ordinary
