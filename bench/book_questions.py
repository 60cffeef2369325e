"""A student's first questions (issue 20): the questions of `../shared/data/qa/book-questions/`, made from
the four books' own headings and code blocks, asked of an index of the four books alone.

    .venv/bin/python -m bench.book_questions [--write] [--limit N] [--books d2l,ros2-docs] [--misses FILE] [--workers 4]

Every question goes to `/api/v1/answer` over real HTTP (a uvicorn on a loopback port, provider `extractive`),
k=5, each in a session of its own, caches off. Per book and in all:

- howto: the book's command is in the answer (`must_contain`, whitespace and case ignored; another book showing
  the same command counts too), the gold section is cited first, the gold file is cited; and, to tell retrieval
  from composing, whether the command is in the first 1 / 3 / 5 retrieved passages.
- concept: the named section is cited first, the gold file is cited.
- both: the share refused.

"Cited first": the first citation is from the gold file and its section is the gold heading (compared without
case, Markdown marks, leading numbering and surrounding spaces; either `gold_section` or `gold_section_clean`).
A few requests run at once, each question embedded alone and the composer's time budget lifted, so that the
answers are those of one request at a time. Every miss goes to `--misses` (JSONL) for analysis.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.common import serve
from bench.corpus import CACHE, QA, books_store, require_shared
from bench.report import machine, write_section
from src.kit.settings import Settings
from src.retrieval.embedder import Embedder

DATA = QA / "book-questions"
BOOKS = ("d2l", "physical-ai", "ros2-docs", "rust-book")
PORT = 8766
K = 5
TOP = (1, 3, 5)
MISSES = CACHE / "book_questions_misses.jsonl"
# Answers that do not depend on how many requests run at once: questions arriving together would share one
# embedding call (micro-batching), and the int8 model quantises activations per call (over a batch padded to its
# longest question), so a question's vector, its passages' scores and at times their order would change with its
# batch: each question is embedded alone here. And the composer stops at ANSWER_COMPOSE_SECONDS (2 s by default)
# with what it has, which a busy machine might reach.
SERVER_ENV = {"LLM_PROVIDER": "extractive", "QUERY_BATCH_WINDOW_MS": "0", "ANSWER_COMPOSE_SECONDS": "60"}

_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_MARKS = re.compile(r"[`*_~\\[\]]")
_NUMBERING = re.compile(r"^(?:step\s+)?\d+(?:\.\d+)*[.:)]?\s+")


def heading_key(heading: str | None) -> str:
    """A heading as compared: no case, no Markdown or reStructuredText marks (links keep their text; d2l's
    `[Heading]` loses its brackets), no leading numbering ("1.1 ", "2. ", "Step 3: "), blanks collapsed."""
    text = _LINK.sub(r"\1", heading or "")
    text = _MARKS.sub("", text).strip().lstrip("#").lower()
    text = _NUMBERING.sub("", text.strip()).lstrip(".:)- ")
    return " ".join(text.split())


def gold_keys(row: dict[str, Any]) -> set[str]:
    """The gold heading's keys: as written and cleaned (the cleaned form sometimes drops more than marks)."""
    keys = {heading_key(row["gold_section"])}
    if row.get("gold_section_clean"):
        keys.add(heading_key(row["gold_section_clean"]))
    return keys - {""}


def squeeze(text: str) -> str:
    return "".join(text.lower().split())


def contains_command(text: str, command: str) -> bool:
    """`command` in `text`, whitespace and case ignored."""
    return squeeze(command) in squeeze(text)


def first_citation(body: dict[str, Any]) -> dict[str, Any] | None:
    """The citation numbered first ([1]), if the answer cites anything."""
    citations: list[dict[str, Any]] = body.get("citations") or []
    return min(citations, key=lambda c: c.get("id", 0)) if citations else None


def section_cited_first(body: dict[str, Any], row: dict[str, Any]) -> bool:
    first = first_citation(body)
    return (
        first is not None
        and first.get("source_file") == row["gold_file"]
        and heading_key(first.get("section")) in gold_keys(row)
    )


def file_cited(body: dict[str, Any], gold_file: str) -> bool:
    return any(c.get("source_file") == gold_file for c in body.get("citations") or [])


def command_rank(body: dict[str, Any], command: str) -> int | None:
    """The 0-based rank of the first retrieved passage holding `command`, None when none does."""
    for rank, context in enumerate(body.get("retrieved_contexts") or []):
        if contains_command(context.get("content") or "", command):
            return rank
    return None


@dataclass(frozen=True)
class Score:
    row: dict[str, Any]
    refused: bool
    section_first: bool
    file_cited: bool
    command_shown: bool | None  # howto only
    command_rank: int | None  # howto only

    def missed(self) -> list[str]:
        checks = {"section cited first": self.section_first, "gold file cited": self.file_cited}
        if self.command_shown is not None:
            checks = {"command shown": self.command_shown, **checks}
        return [name for name, ok in checks.items() if not ok]


def score(row: dict[str, Any], body: dict[str, Any]) -> Score:
    command = row.get("must_contain") if row["kind"] == "howto" else None
    return Score(
        row=row,
        refused=bool(body.get("refused")),
        section_first=section_cited_first(body, row),
        file_cited=file_cited(body, row["gold_file"]),
        command_shown=None if command is None else contains_command(body.get("answer") or "", command),
        command_rank=None if command is None else command_rank(body, command),
    )


def miss_record(s: Score, body: dict[str, Any]) -> dict[str, Any]:
    first = first_citation(body) or {}
    row = s.row
    return {
        "id": row["id"],
        "book": row["book"],
        "kind": row["kind"],
        "question": row["question"],
        "missed": s.missed(),
        "refused": s.refused,
        "answer": (body.get("answer") or "")[:300],
        "first_citation": {k: first.get(k) for k in ("source_file", "section", "heading_path")},
        "cited_files": [c.get("source_file") for c in body.get("citations") or []],
        "command_rank": s.command_rank,
        "gold_file": row["gold_file"],
        "gold_section": row["gold_section"],
        "gold_section_clean": row.get("gold_section_clean"),
        "must_contain": row.get("must_contain"),
    }


def load(books: Iterable[str], limit: int | None) -> list[dict[str, Any]]:
    """The questions of `books`, in file order; with `limit`, the first that many of each kind in each book
    (a quick run then asks how-to questions too, which come after the concepts in the files)."""
    rows = []
    for book in books:
        lines = [line for line in (DATA / f"{book}.jsonl").read_text().splitlines() if line.strip()]
        taken: Counter[str] = Counter()
        for row in map(json.loads, lines):
            taken[row["kind"]] += 1
            if limit is None or taken[row["kind"]] <= limit:
                rows.append(row)
    return rows


def data_dir() -> Path:
    """A DATA_DIR holding a fresh copy of the books-only collection (the server may write to its own)."""
    settings = Settings(_env_file=None)
    embedder = Embedder(settings.embedding_threads, settings.embedding_quantization)
    store, _ = books_store(embedder, settings)
    source = store.path
    store.close()
    target = CACHE / "book-questions"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target / "qdrant" / "textbook_content")
    return target


def ask_all(rows: Sequence[dict[str, Any]], workers: int) -> list[dict[str, Any]]:
    """Every question's answer body, in the order of `rows` (each question a new session: no `session_id`)."""
    started = time.monotonic()
    limits = httpx.Limits(max_connections=workers)
    with (
        httpx.Client(base_url=f"http://127.0.0.1:{PORT}", timeout=120, limits=limits) as client,
        ThreadPoolExecutor(workers) as pool,
    ):

        def ask(row: dict[str, Any]) -> dict[str, Any]:
            response = client.post("/api/v1/answer", json={"question": row["question"], "k": K})
            response.raise_for_status()
            body: dict[str, Any] = response.json()
            return body

        bodies = []
        for n, body in enumerate(pool.map(ask, rows), 1):
            bodies.append(body)
            if n % 100 == 0:
                print(f"  {n}/{len(rows)} answered, {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
        return bodies


def share(values: Sequence[bool]) -> str:
    return f"{statistics.mean(values):.3f}" if values else "—"


def report(scores: Sequence[Score], books: Sequence[str]) -> str:
    columns = [*books, "all"]

    def pick(column: str, kind: str) -> list[Score]:
        return [s for s in scores if s.row["kind"] == kind and column in (s.row["book"], "all")]

    def line(label: str, kind: str, cell: Callable[[list[Score]], str]) -> str:
        return f"| {label} | " + " | ".join(cell(pick(c, kind)) for c in columns) + " |"

    def top(group: list[Score]) -> str:
        if not group:
            return "—"
        return " / ".join(share([s.command_rank is not None and s.command_rank < n for s in group]) for n in TOP)

    rows = [
        line(
            "howto: the book's command shown (`must_contain` in the answer)",
            "howto",
            lambda g: share([bool(s.command_shown) for s in g]),
        ),
        line("howto: gold section cited first", "howto", lambda g: share([s.section_first for s in g])),
        line("howto: gold file cited", "howto", lambda g: share([s.file_cited for s in g])),
        line("howto: command in the first 1 / 3 / 5 retrieved passages", "howto", top),
        line("howto: refused", "howto", lambda g: share([s.refused for s in g])),
        line("howto: n", "howto", lambda g: str(len(g))),
        line("concept: named section cited first", "concept", lambda g: share([s.section_first for s in g])),
        line("concept: gold file cited", "concept", lambda g: share([s.file_cited for s in g])),
        line("concept: refused", "concept", lambda g: share([s.refused for s in g])),
        line("concept: n", "concept", lambda g: str(len(g))),
    ]
    head = "| figure (books-only index, provider `extractive`, k=5) | " + " | ".join(columns) + " |\n"
    head += "|---" * (len(columns) + 1) + "|\n"
    return head + "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="write the figures into docs/BENCHMARKS.md")
    parser.add_argument(
        "--limit", type=int, default=None, help="the first N questions of each kind in each book (a quick run)"
    )
    parser.add_argument("--books", default=",".join(BOOKS), help="comma-separated: " + ", ".join(BOOKS))
    parser.add_argument("--misses", type=Path, default=MISSES, help=f"JSONL of every miss (default {MISSES})")
    parser.add_argument("--workers", type=int, default=4, help="requests at a time (default 4)")
    args = parser.parse_args()
    books = [b for b in args.books.split(",") if b]
    if unknown := set(books) - set(BOOKS):
        parser.error(f"unknown books: {', '.join(sorted(unknown))}")
    require_shared()
    rows = load(books, args.limit)
    directory = data_dir()
    proc = serve(directory, PORT, SERVER_ENV)
    started = time.monotonic()
    try:
        bodies = ask_all(rows, args.workers)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    seconds = time.monotonic() - started
    scores = [score(row, body) for row, body in zip(rows, bodies, strict=True)]
    args.misses.parent.mkdir(parents=True, exist_ok=True)
    missed = [
        json.dumps(miss_record(s, b), ensure_ascii=False) for s, b in zip(scores, bodies, strict=True) if s.missed()
    ]
    args.misses.write_text("".join(f"{m}\n" for m in missed))
    text = report(scores, books)
    text += (
        f"\n\n{len(rows)} questions over HTTP, {args.workers} at a time, in {seconds:.0f} s"
        f" ({len(rows) / seconds:.1f} answers/s)."
    )
    print(text)
    print(f"{len(missed)} questions with a miss: {args.misses}", file=sys.stderr)
    if args.write:
        command = ".venv/bin/python -m bench.book_questions --write"
        if args.limit is not None:
            command += f" --limit {args.limit}"
        if books != list(BOOKS):
            command += f" --books {','.join(books)}"
        if args.workers != 4:
            command += f" --workers {args.workers}"
        write_section("Book questions", text, command, machine())


if __name__ == "__main__":
    main()
