"""Crashes: SIGKILL of the indexer and of a gunicorn worker.

- The indexer. A book folder is indexed in an older edition (many chunks worded differently, a foreword
  that shifts the position, hence the id, of nearly every chunk, and a closing section the current edition
  dropped). Then the command line indexer is SIGKILLed at a seeded random point of its work (uniform
  between its opening of the vector store, once the model is loaded, and the length of a completed switch
  of edition), again and again (short form 2 kills on 2 chapters, full form 20 on the whole
  book): each run is the re-run of the one killed before it. The runs alternate between the current and
  the older edition so that every kill lands in a run with work to do (embedding, upserting new chunks,
  deleting stale ones), not in a no-op re-run; a run that ends before its kill does not count as one.
  A last run of the current edition is let finish. The collection must then equal that of a clean run of
  the current edition in a separate DATA_DIR: the same chunk ids and count, the same payloads, no
  duplicate (two chunks at one position of one file), no phantom (an id the clean run lacks), no chunk of
  the older edition; and the document registry must be the clean run's. The store is read directly,
  with no indexer running. RELIABILITY_SEED sets the seed (recorded with the delays).
- A worker. Gunicorn (one worker: the embedded store serves one process, and QDRANT_URL cannot be
  ":memory:") serves a steady stream of uncached answers from a few clients, each on its own kept-alive
  connection. Its worker is SIGKILLed while answers are in flight. The master must boot a replacement (a new
  pid, ready again, answering). Only requests the killed worker held may fail, as a dropped connection, never
  an HTTP error: those in flight at the kill, and a request a client sent after the kill on its kept-alive
  connection to the killed worker before the kernel closed that connection. Its main thread (the event loop)
  dies at once, but the kernel closes the process's sockets only when its last thread has exited, tens to
  hundreds of milliseconds later on a busy machine: until then the connection looks alive to the client, and
  what it sends there reaches no live code and is reset. So such a failure is allowed only on a connection
  opened before the kill and only for a request sent before the master reaped the worker (every thread gone,
  every socket closed), at most one per client per kill. Every other request sent after the kill must
  succeed: a new connection waits in the listening socket's backlog, which the master keeps open, until
  the new worker accepts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from src.kit.settings import Settings
from src.retrieval.store.embedded import EmbeddedStore
from tests.conftest import REPO, LiveServer, auth, env_for, make_settings, shared_path
from tests.kit.test_shutdown import _kill_group
from tests.reliability.conftest import FULL, Recorder, size

SEED = int(os.environ.get("RELIABILITY_SEED", "4242"))
PREFIX = "physical-ai"
SHORT_CHAPTERS = ("01-introduction", "02-humanoid-robotics")
RUN_TIMEOUT = 600
OLD_MARK = "dropped from the current edition"
OLD_FOREWORD = f"\n## Foreword to the previous edition\n\nThis foreword was {OLD_MARK}.\n"
OLD_SECTION = f"\n\n## Errata of the previous edition\n\nThis section was {OLD_MARK} of the chapter.\n"

Start = Callable[..., LiveServer]


# --- the indexer -----------------------------------------------------------------------------------


def older_edition(text: str) -> str:
    """Another wording of many chunks, a foreword that shifts the position (so the id) of every chunk after it,
    and a closing section the current edition dropped."""
    reworded = text.replace(" the ", " this ").replace(" a ", " one ")
    cut = reworded.index("\n## ")
    return reworded[:cut] + OLD_FOREWORD + reworded[cut:] + OLD_SECTION


def book_editions(tmp_path: Path) -> tuple[Path, Path]:
    """(current, older) copies of the book folder, with the same file names."""
    docs = shared_path("data", "textbooks", "physical-ai", "docs")
    chapters = sorted(p.name for p in docs.iterdir() if p.is_dir()) if FULL else list(SHORT_CHAPTERS)
    current, older = tmp_path / "current" / "docs", tmp_path / "older" / "docs"
    for chapter in chapters:
        shutil.copytree(docs / chapter, current / chapter)
        shutil.copytree(docs / chapter, older / chapter)
        page = older / chapter / "index.md"
        page.write_text(older_edition(page.read_text()))
    return current, older


def index_command(folder: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "src.cli",
        "index",
        str(folder),
        "--base-url",
        "https://book.example",
        "--prefix",
        PREFIX,
    ]


def store_open(pid: int, vector_dir: Path) -> bool:
    """Whether the process holds a file of the vector store open (Linux /proc): it loaded the model and began."""
    try:
        links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
    except OSError:
        return False
    return any(link.startswith(str(vector_dir)) for link in links)


def index_run(settings: Settings, folder: Path, kill_after: float | None = None) -> tuple[bool, float]:
    """One indexing run. Its work starts when it opens the vector store (after loading the embedding model).
    With `kill_after`, SIGKILL it that many seconds into its work. Returns (killed, seconds of work)."""
    errors = settings.data_dir.parent / "indexer-stderr.log"
    errors.parent.mkdir(parents=True, exist_ok=True)
    with errors.open("ab") as err:
        proc = subprocess.Popen(
            index_command(folder),
            cwd=REPO,
            env=env_for(settings),
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
    try:
        deadline, vector_dir = time.monotonic() + RUN_TIMEOUT, settings.vector_dir.resolve()
        while not store_open(proc.pid, vector_dir) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        began = time.monotonic()
        try:
            proc.wait(timeout=RUN_TIMEOUT if kill_after is None else kill_after)
        except subprocess.TimeoutExpired:
            if kill_after is None:
                raise
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            return True, time.monotonic() - began
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    assert proc.returncode == 0, f"indexing {folder} failed\n{errors.read_text(errors='replace')[-3000:]}"
    return False, time.monotonic() - began


@dataclass
class Collection:
    """What the vector store of one DATA_DIR holds."""

    count: int
    payloads: dict[str, dict[str, Any]]


def registry(settings: Settings) -> dict[str, tuple[str, int, str]]:
    """indexed_documents: source_file -> (content_hash, chunk_count, status). Read after a completed run only: a
    read-only connection cannot roll back the journal a killed run may leave."""
    db = sqlite3.connect(f"file:{settings.data_dir / 'app.db'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT source_file, content_hash, chunk_count, status FROM indexed_documents").fetchall()
    finally:
        db.close()
    return {source: (content_hash, count, status) for source, content_hash, count, status in rows}


def read_collection(settings: Settings, sources: set[str]) -> Collection:
    """Read the store directly, with no indexer or server running (the embedded store serves one process)."""
    store = EmbeddedStore(settings.vector_dir / settings.collection_name, 384)
    try:
        ids: set[str] = set()
        for source in sources:
            ids |= store.ids_for_source(source)
        payloads = {hit.id: hit.payload for hit in store.retrieve(sorted(ids))}
        count = store.count()
    finally:
        store.close()
    return Collection(count, payloads)


def duplicates(collection: Collection) -> int:
    """Chunks beyond the first at one (file, position): a chunk of two versions side by side."""
    seen = [(p["source_file"], p["position"]) for p in collection.payloads.values()]
    return len(seen) - len(set(seen))


@pytest.mark.timeout(3600 if FULL else 300)
def test_sigkilled_indexer_is_repaired_by_the_next_run(tmp_path: Path, record: Recorder) -> None:
    current, older = book_editions(tmp_path)
    sources = {f"{PREFIX}/{p.parent.name}/index.md" for p in current.glob("*/index.md")}
    crashed = make_settings(tmp_path / "crashed")
    clean = make_settings(tmp_path / "clean")

    with ThreadPoolExecutor(1) as beside:
        clean_run = beside.submit(index_run, clean, current)  # the reference, in its own DATA_DIR
        index_run(crashed, older)  # the starting point: the older edition, fully indexed
        clean_run.result()
    old_edition = read_collection(crashed, sources)
    expected = read_collection(clean, sources)
    _, work_seconds = index_run(crashed, current)  # how long a switch of edition works: the bound of the kill delays
    old_only = old_edition.payloads.keys() - expected.payloads.keys()
    assert expected.count == len(expected.payloads) and old_only, "the two editions must differ in most chunks"

    kills = size(2, 20)
    rng = random.Random(SEED)
    delays: list[float] = []
    mixed_states = attempts = 0
    editions = (older, current)
    while len(delays) < kills and attempts < 3 * kills:
        edition = editions[attempts % 2]
        attempts += 1
        delay = round(rng.uniform(0.0, work_seconds), 2)
        killed, _ = index_run(crashed, edition, kill_after=delay)
        if not killed:
            continue  # finished before the kill: the next run starts from a complete edition
        delays.append(delay)
        state = read_collection(crashed, sources)
        if state.payloads.keys() not in (old_edition.payloads.keys(), expected.payloads.keys()):
            mixed_states += 1  # killed between the first write and the last: a mix of both editions
    index_run(crashed, current)
    final = read_collection(crashed, sources)

    phantoms = final.payloads.keys() - expected.payloads.keys()
    missing = expected.payloads.keys() - final.payloads.keys()
    old_chunks = len(final.payloads.keys() & old_only) + sum(OLD_MARK in p["content"] for p in final.payloads.values())
    changed_payloads = sum(
        final.payloads[i] != expected.payloads[i] for i in final.payloads.keys() & expected.payloads.keys()
    )
    dupes = duplicates(final)
    same_registry = registry(crashed) == registry(clean)
    scope = f"{len(sources)} chapters, {expected.count} chunks per edition, seed {SEED}"
    record(
        "indexer SIGKILLs landed mid-run",
        f"{len(delays)} of {attempts} runs",
        f"{kills} kills",
        len(delays) == kills,
        f"{scope}; seconds into the work: {delays}",
    )
    record(
        "kills that left both editions mixed in the store",
        mixed_states,
        "recorded (proves kills landed mid-write)",
        True,
    )
    record(
        "chunk count after the re-run vs a clean run",
        f"{final.count} vs {expected.count}",
        "equal",
        final.count == expected.count,
    )
    record("chunk ids missing vs the clean run", len(missing), "0", not missing)
    record("phantom chunk ids (not in the clean run)", len(phantoms), "0", not phantoms)
    record("duplicate chunks (same file and position)", dupes, "0", dupes == 0)
    record("chunks of the older edition left", old_chunks, "0", old_chunks == 0)
    record("payloads differing from the clean run", changed_payloads, "0", changed_payloads == 0)
    record("document registry equals the clean run's", same_registry, "True", same_registry)

    assert len(delays) == kills, f"only {len(delays)} of {attempts} runs were still running at their kill"
    assert final.count == expected.count == len(final.payloads)
    assert not missing and not phantoms
    assert dupes == 0 and old_chunks == 0 and changed_payloads == 0
    assert same_registry


# --- a gunicorn worker -----------------------------------------------------------------------------


def children_of(pid: int) -> set[int]:
    """Live (not zombie) direct children of a process, from /proc."""
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry.name))
    return found


def gone(pid: int) -> bool:
    """Dead: no longer in /proc, or a zombie waiting for its parent. For a threaded process the zombie is its main
    thread: others may still be exiting, and its sockets stay open until the last one has (see `reaped`)."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def reaped(pid: int) -> bool:
    """Collected by its parent. The kernel hands a process to wait() only once every thread of it has exited,
    and the last thread's exit closes its file descriptors first: its connections are closed, and the client
    side of each has its FIN or reset."""
    return not (Path("/proc") / str(pid)).exists()


kill_group = _kill_group


@pytest.fixture
def serve(live_server_factory: Start) -> Iterator[Start]:
    """`live_server_factory`, and in teardown SIGTERM to each master, then SIGKILL to its process group: the factory
    kills only the master, and a gunicorn master killed that way leaves its worker running. The server runs in its
    own session, so pgid == pid."""
    groups: list[int] = []

    def start(settings: Settings, cmd: list[str] | None = None, extra_env: dict[str, str] | None = None) -> LiveServer:
        before = children_of(os.getpid())
        try:
            server = live_server_factory(settings, cmd, extra_env)
        except BaseException:
            groups.extend(children_of(os.getpid()) - before)  # a server that never became ready
            raise
        groups.append(server.proc.pid)
        return server

    yield start
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pgid, signal.SIGTERM)  # a master that stops by itself removes its metrics directory
    deadline = time.monotonic() + 45
    while any(not gone(pgid) for pgid in groups) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pgid in groups:
        kill_group(pgid)


@dataclass
class Outcome:
    started: float
    ended: float
    status: int | None  # None: the connection failed
    error: str = ""
    fresh: bool = True  # sent on a connection opened for it; False: on a kept-alive one (which a dead worker may hold)


class NewConnection:
    """A request's httpcore trace (the `trace` request extension): httpcore reports `connection.connect_tcp` only
    when its pool opens a connection for the request, not when it reuses a kept-alive one."""

    def __init__(self) -> None:
        self.opened = False

    async def __call__(self, event: str, info: dict[str, Any]) -> None:
        if event == "connection.connect_tcp.started":
            self.opened = True


@dataclass
class Stream:
    """A few clients asking uncached questions back to back until told to stop."""

    url: str
    clients: int = 3
    outcomes: list[Outcome] = field(default_factory=list)
    in_flight: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    counter: int = 0

    QUESTIONS = (
        "What is a humanoid robot",
        "Why do humanoid robots walk on two legs",
        "What is physical AI",
        "How does a robot perceive its environment",
        "What is embodied intelligence",
    )

    def next_question(self) -> str:
        self.counter += 1  # a new question each time: the answer cache must not serve it
        return f"{self.QUESTIONS[self.counter % len(self.QUESTIONS)]}, as asked in request number {self.counter}?"

    async def client(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=180) as http:
            while not self.stop.is_set():
                started = time.monotonic()
                self.in_flight += 1
                connection = NewConnection()
                question = {"question": self.next_question(), "k": 4}
                try:
                    response = await http.post("/api/v1/answer", json=question, extensions={"trace": connection})
                    error = "" if response.status_code == 200 else response.text[:200]
                    self.outcomes.append(
                        Outcome(started, time.monotonic(), response.status_code, error, connection.opened)
                    )
                except httpx.TransportError as exc:
                    self.outcomes.append(
                        Outcome(started, time.monotonic(), None, type(exc).__name__, connection.opened)
                    )
                finally:
                    self.in_flight -= 1

    def completed_after(self, moment: float) -> int:
        return sum(o.started > moment and o.status == 200 for o in self.outcomes)


async def wait_for(condition: Callable[[], bool], timeout: float, what: str, every: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(every)


async def ready(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            return (await http.get(url + "/api/v1/health/ready")).status_code == 200
    except httpx.TransportError:
        return False


async def index_chapters(url: str) -> None:
    docs = shared_path("data", "textbooks", "physical-ai", "docs")
    async with httpx.AsyncClient(base_url=url, timeout=300) as http:
        for chapter in SHORT_CHAPTERS:
            source = f"docs/{chapter}/index.md"
            body = {
                "content": (docs / chapter / "index.md").read_text(),
                "metadata": {"source_file": source, "document_type": "markdown"},
            }
            response = await http.post("/api/v1/index", json=body, headers=auth())
            assert response.status_code == 200, response.text


@dataclass
class Kill:
    pid: int
    at: float  # when SIGKILL was sent
    dead_at: float  # when the process was seen dead (its main thread, which runs the event loop)
    closed_at: float  # when the master had reaped it: every thread gone, its connections closed by the kernel
    in_flight: int  # answers in flight at the kill
    replacement: int = 0  # the new worker's pid
    ready_at: float = 0.0  # when the new worker answered readiness
    up_at: float = 0.0  # when the new worker was first seen answering: its readiness or an answer, whichever came first

    def dropped(self, o: Outcome) -> bool:
        """A request this worker held, lost with it: a dropped connection (never an HTTP error) that was in flight
        at the kill, or sent after the kill on a kept-alive connection the worker held, before the kernel closed
        it (the client could not know; at most one such request per client, which then opens a new connection).
        A kept-alive connection used before the reap was opened to this worker: the master forks the
        replacement only after reaping it."""
        if o.status is not None or o.ended < self.at:
            return False
        return o.started < self.at or (not o.fresh and o.started < self.closed_at)


async def kill_the_worker(server: LiveServer, stream: Stream, warm: int) -> Kill:
    """SIGKILL the master's worker once `warm` answers succeeded and every client has an answer in flight."""
    await wait_for(lambda: sum(o.status == 200 for o in stream.outcomes) >= warm, 300, "warm answers")
    await wait_for(lambda: stream.in_flight >= stream.clients, 60, "answers in flight")
    (worker,) = children_of(server.proc.pid)
    in_flight, kill_at = stream.in_flight, time.monotonic()
    os.kill(worker, signal.SIGKILL)
    await wait_for(lambda: gone(worker), 30, f"worker {worker} to die", every=0.005)
    dead_at = time.monotonic()
    await wait_for(lambda: reaped(worker), 30, f"the master to reap worker {worker}", every=0.005)
    return Kill(worker, kill_at, dead_at, time.monotonic(), in_flight)


async def wait_for_replacement(server: LiveServer, stream: Stream, kill: Kill) -> None:
    """Note the new worker's pid and when it was ready, then wait until it has answered every client twice."""
    await wait_for(lambda: bool(children_of(server.proc.pid) - {kill.pid}), 120, "the master to fork a new worker")
    (new_worker,) = children_of(server.proc.pid)
    deadline = time.monotonic() + 120
    while not await ready(server.url):
        assert time.monotonic() < deadline, f"the new worker {new_worker} never became ready\n{server.log()[-3000:]}"
        await asyncio.sleep(0.2)
    kill.replacement, kill.ready_at = new_worker, time.monotonic()
    await wait_for(
        lambda: stream.completed_after(kill.closed_at) >= 2 * stream.clients, 300, "answers from the new worker"
    )
    # The readiness probe polls: the new worker may have answered a waiting request before it saw the probe.
    answered = [o.ended for o in stream.outcomes if o.status == 200 and o.started > kill.closed_at]
    kill.up_at = min([kill.ready_at, *answered])


@pytest.mark.timeout(900 if FULL else 300)
async def test_sigkilled_worker_is_replaced_and_only_its_requests_fail(
    serve: Start, tmp_path: Path, record: Recorder
) -> None:
    cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        "src.api.main:app",
        "-c",
        "gunicorn.conf.py",
        "-b",
        "127.0.0.1:{port}",
        "-w",
        "1",
    ]
    cmd += ["--control-socket", str(tmp_path / "gunicorn.ctl")]  # not the machine-wide default under $HOME
    server = serve(make_settings(tmp_path), cmd=cmd)
    master = server.proc.pid
    await index_chapters(server.url)

    stream = Stream(server.url)
    tasks = [asyncio.create_task(stream.client()) for _ in range(stream.clients)]
    kills = size(1, 4)
    killed: list[Kill] = []
    try:
        for _ in range(kills):
            killed.append(await kill_the_worker(server, stream, warm=2 * stream.clients + len(killed) * 6))
            await wait_for_replacement(server, stream, killed[-1])
    finally:
        stream.stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=300)

    first_death = killed[0].dead_at
    failures = [o for o in stream.outcomes if o.status != 200]
    # The failures a killed worker accounts for (see Kill.dropped), by kill.
    held = [[o for o in failures if k.dropped(o)] for k in killed]
    per_kill = [len(lost) for lost in held]
    failed_in_flight = [o for lost in held for o in lost]
    # Of those, the ones sent after the kill: on a kept-alive connection the killed worker still held.
    sent_after_kill = [o for k, lost in zip(killed, held, strict=True) for o in lost if o.started >= k.at]
    other_failures = [o for o in failures if o not in failed_in_flight]
    after_kill = [o for o in stream.outcomes if any(o.started > k.at for k in killed) and o not in failed_in_flight]
    # Sent while no worker was up (from the kill to the new worker's first answer), the killed worker's aside: on a
    # new connection, which waits in the listening socket's backlog for the new worker.
    while_down = [
        o for o in stream.outcomes if any(k.at < o.started < k.up_at for k in killed) and o not in failed_in_flight
    ]
    replacements = [k.replacement for k in killed]
    in_flight_total = sum(k.in_flight for k in killed)
    log = server.log()
    booted = all(f"Booting worker with pid: {pid}" in log for pid in replacements)
    replaced = len(replacements) == kills and all(k.replacement not in (0, k.pid) for k in killed) and booted

    record(
        "worker SIGKILLs mid-answer, each replaced by the master",
        f"{len(replacements)} of {kills} (new pids {replacements})",
        f"{kills}",
        replaced,
    )
    record(
        "requests failed that a killed worker held",
        f"{len(failed_in_flight)} ({per_kill} per kill); {in_flight_total} in flight at the kills",
        f"<= {stream.clients} per kill (one per client connection)",
        max(per_kill) <= stream.clients,
        "dropped connections, expected",
    )
    record(
        "of those, sent after the kill on a kept-alive connection the killed worker still held",
        len(sent_after_kill),
        "recorded",
        True,
        "seconds from the SIGKILL to the master's reaping (the kernel closes the connections when the last thread exits): "
        + ", ".join(f"{k.closed_at - k.at:.3f}" for k in killed),
    )
    record(
        "other requests failed",
        f"{len(other_failures)} of {len(stream.outcomes) - len(failed_in_flight)}",
        "0",
        not other_failures,
    )
    record(
        "requests sent while no worker was up that succeeded",
        f"{sum(o.status == 200 for o in while_down)} of {len(while_down)}",
        "all",
        all(o.status == 200 for o in while_down),
    )
    record(
        "requests sent after a worker was killed that succeeded (those it held aside)",
        f"{sum(o.status == 200 for o in after_kill)} of {len(after_kill)}",
        "all",
        all(o.status == 200 for o in after_kill),
        "seconds from the reaping to the new worker answering: "
        + ", ".join(f"{k.up_at - k.closed_at:.1f}" for k in killed),
    )

    assert replaced, f"replacements {replacements}, killed {killed}\n{log[-3000:]}"
    assert server.proc.poll() is None, "the master stopped"
    assert not other_failures, ([(o.status, o.error, o.fresh, o.started, o.ended) for o in other_failures][:10], killed)
    assert max(per_kill) <= stream.clients, (per_kill, killed)
    assert after_kill and all(o.status == 200 for o in after_kill)
    assert all(o.status == 200 for o in while_down)
    assert stream.completed_after(first_death) >= 2 * stream.clients

    os.kill(master, signal.SIGTERM)  # a clean stop of the master, which removes its metrics directory
    assert await asyncio.to_thread(server.proc.wait, 60) == 0, log[-3000:]
