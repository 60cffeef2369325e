"""How the chat holds up in what students actually do, on an index of the four textbooks only (no
SQuAD or Wikipedia text, as a real deployment would have): follow-up conversations, highlighted
passages, questions the books do not answer, and in-book questions that must not be refused.

    .venv/bin/python -m bench.student_flows [--write] [--provider extractive|openai|local] [--only conversations,selections,...]

Every line of `../shared/data/qa/student-flows/` goes to the service over real HTTP (a uvicorn on a
loopback port): conversations turn by turn through `session_id`, selections in `selection_only` and
in `book` mode, off-book questions, and the Physical AI and Rust quiz questions. The collection is
built by the service's own ingestion code (bench/corpus.py) and cached; caches are off.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.common import physical_ai, rust_quizzes, serve
from bench.corpus import CACHE, QA, books_store, require_shared
from bench.report import machine, write_section
from src.kit.settings import Settings
from src.retrieval.embedder import Embedder

FLOWS = QA / "student-flows"
PORT = 8765
KINDS = ("explain", "meaning", "summarize", "why", "example")


def load(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (FLOWS / name).read_text().splitlines() if line.strip()]


def squash(text: str) -> str:
    return " ".join(text.lower().split())


def keyword_share(answer: str, keywords: Iterable[str]) -> float:
    words = list(keywords)
    if not words:
        return 1.0
    text = squash(answer)
    return sum(squash(k) in text for k in words) / len(words)


def cited_or_top5(body: dict[str, Any], gold: Iterable[str]) -> bool:
    gold_set = set(gold)
    cited = {c.get("source_file") for c in body.get("citations", [])}
    top = {c["metadata"].get("source_file") for c in body.get("retrieved_contexts", [])[:5]}
    return bool(gold_set & (cited | top))


@dataclass
class Results:
    figures: dict[str, float] = field(default_factory=dict)
    misses: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


def data_dir_for(provider: str) -> Path:
    """A DATA_DIR holding a fresh copy of the books-only collection."""
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    embedder = Embedder(settings.embedding_threads, settings.embedding_quantization)
    store, _ = books_store(embedder, settings)
    source = store.path
    store.close()
    data_dir = CACHE / f"flows-{provider}"
    shutil.rmtree(data_dir, ignore_errors=True)
    shutil.copytree(source, data_dir / "qdrant" / "textbook_content")
    return data_dir


def ask(client: httpx.Client, question: str, **extra: Any) -> dict[str, Any]:
    response = client.post("/api/v1/answer", json={"question": question, **extra})
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def conversations(client: httpx.Client, out: Results) -> None:
    first_found, first_kw, follow_found, follow_kw = [], [], [], []
    for conv in load("conversations.jsonl"):
        session_id: str | None = None
        for n, turn in enumerate(conv["turns"]):
            body = ask(client, turn["question"], **({"session_id": session_id} if session_id else {}))
            session_id = body["session_id"]
            found = cited_or_top5(body, turn["gold_files"])
            share = keyword_share(body["answer"], turn["expected_keywords"])
            (first_found if n == 0 else follow_found).append(found)
            (first_kw if n == 0 else follow_kw).append(share)
            if not found or share < 0.5:
                out.misses["conversations"].append(
                    f"{conv['id']} turn {n + 1} {turn['question']!r} -> {body['answer'][:160]!r}"
                )
    out.figures["conversations_first_found"] = statistics.mean(first_found)
    out.figures["conversations_first_keywords"] = statistics.mean(first_kw)
    out.figures["conversations_followup_found"] = statistics.mean(follow_found)
    out.figures["conversations_followup_keywords"] = statistics.mean(follow_kw)


def says_more(answer: str, selection: str) -> bool:
    """Whether the answer holds a sentence (of four words or more) that is not in the selection: an
    explanation, not an echo."""
    held = squash(re.sub(r"[*_`]", "", selection))
    sentences = (squash(re.sub(r"[*_`]", "", s)).rstrip(".:") for s in re.split(r"\[\d+\]", answer))
    return any(len(s.split()) >= 4 and s not in held for s in sentences)


def selections(client: httpx.Client, out: Results) -> None:
    for mode in ("selection_only", "book"):
        by_kind: dict[str, list[bool]] = defaultdict(list)
        refused_unanswerable: list[bool] = []
        explained: list[bool] = []
        for row in load("selections.jsonl"):
            body = ask(client, row["question"], selected_text=row["selected_text"], mode=mode)
            if mode == "book" and row["kind"] in ("explain", "meaning"):
                explained.append(not body["refused"] and says_more(body["answer"], row["selected_text"]))
                if not explained[-1]:
                    out.misses["selections book: echoes"].append(
                        f"{row['id']} {row['kind']} {row['question']!r} -> {body['answer'][:160]!r}"
                    )
            if row["answerable_from_selection"]:
                ok = not body["refused"] and keyword_share(body["answer"], row["expected_keywords"]) >= 0.5
                by_kind[row["kind"]].append(ok)
                if not ok:
                    out.misses[f"selections {mode}"].append(
                        f"{row['id']} {row['kind']} {row['question']!r} -> {body['answer'][:160]!r}"
                    )
            else:
                refused_unanswerable.append(body["refused"])
                if mode == "selection_only" and not body["refused"]:
                    out.misses[f"selections {mode}"].append(
                        f"{row['id']} {row['kind']} (not answerable) {row['question']!r} -> {body['answer'][:160]!r}"
                    )
        answerable = [ok for oks in by_kind.values() for ok in oks]
        out.figures[f"selections_{mode}_answerable"] = statistics.mean(answerable)
        for kind in KINDS:
            out.figures[f"selections_{mode}_{kind}"] = statistics.mean(by_kind[kind])
        out.figures[f"selections_{mode}_unanswerable_refused"] = statistics.mean(refused_unanswerable)
        if explained:
            out.figures["selections_book_says_more"] = statistics.mean(explained)


def offbook(client: httpx.Client, out: Results) -> None:
    refused, near = [], []
    for row in load("offbook.jsonl"):
        body = ask(client, row["question"])
        stopped = bool(body["refused"]) or body.get("route") in ("out_of_scope", "smalltalk")
        refused.append(stopped)
        if row["id"] <= "off-20":
            near.append(stopped)
        if not stopped:
            out.misses["offbook"].append(f"{row['id']} {row['question']!r} -> {body['answer'][:160]!r}")
    out.figures["offbook_refused"] = statistics.mean(refused)
    out.figures["offbook_near_refused"] = statistics.mean(near)


def in_book(client: httpx.Client, out: Results) -> None:
    keywords = []
    for q, row in zip(
        physical_ai(),
        [json.loads(line) for line in (QA / "physical-ai" / "queries.jsonl").read_text().splitlines()],
        strict=True,
    ):
        body = ask(client, q.text)
        keywords.append(keyword_share(body["answer"], row["expected_keywords"]))
    out.figures["physical_ai_keywords"] = statistics.mean(keywords)
    refused = []
    for q in [*physical_ai(), *rust_quizzes()]:
        body = ask(client, q.text)
        refused.append(bool(body["refused"]))
        if body["refused"]:
            out.misses["in-book refused"].append(f"{q.text!r} -> {body['answer'][:120]!r}")
    out.figures["in_book_refused"] = statistics.mean(refused)
    out.figures["in_book_questions"] = len(refused)


SUITES = {"conversations": conversations, "selections": selections, "offbook": offbook, "in_book": in_book}


def provider_env(provider: str) -> dict[str, str]:
    if provider == "extractive":
        return {"LLM_PROVIDER": "extractive"}
    passed = {k: v for k, v in os.environ.items() if k.startswith("LLM_") or k == "ANSWER_TIMEOUT_SECONDS"}
    return {**passed, "LLM_PROVIDER": provider}


def report(results: Results, provider: str) -> str:
    f = results.figures

    def fmt(key: str) -> str:
        return f"{f[key]:.2f}" if key in f else "not run"

    kinds = ", ".join(f"{k} {fmt(f'selections_selection_only_{k}')}" for k in KINDS)
    book_kinds = ", ".join(f"{k} {fmt(f'selections_book_{k}')}" for k in KINDS)
    rows = [
        (
            "selections, answerable kinds (`selection_only`): not refused and ≥ half the expected keywords",
            f"{fmt('selections_selection_only_answerable')} ({kinds})",
            "≥ 0.90, every kind ≥ 0.80",
        ),
        ("selections, answerable kinds (`book` mode)", f"{fmt('selections_book_answerable')} ({book_kinds})", "report"),
        (
            "selections, explain and meaning (`book` mode): the answer holds a sentence that is not in the selection",
            fmt("selections_book_says_more"),
            "≥ 0.90",
        ),
        (
            "selections, not answerable from the selection: refused in `selection_only`",
            fmt("selections_selection_only_unanswerable_refused"),
            "≥ 0.90",
        ),
        (
            "conversations, first turns: gold file cited or in the top 5 / expected keywords",
            f"{fmt('conversations_first_found')} / {fmt('conversations_first_keywords')}",
            "≥ 0.95 / ≥ 0.60",
        ),
        (
            "conversations, follow-up turns: gold file cited or in the top 5 / expected keywords",
            f"{fmt('conversations_followup_found')} / {fmt('conversations_followup_keywords')}",
            "≥ 0.85 / ≥ 0.55",
        ),
        ("Physical AI questions: expected keywords in the answer", fmt("physical_ai_keywords"), "≥ 0.60"),
        (
            "off-book questions refused or redirected (all) / near-topic ones",
            f"{fmt('offbook_refused')} / {fmt('offbook_near_refused')}",
            "≥ 0.80 / ≥ 0.70",
        ),
        (
            f"in-book questions refused (Physical AI + Rust quizzes, {int(f.get('in_book_questions', 88))})",
            fmt("in_book_refused"),
            "≤ 0.05",
        ),
    ]
    table = "| figure (books-only index, provider `" + provider + "`) | value | target |\n|---|---|---|\n"
    table += "\n".join(f"| {a} | {b} | {c} |" for a, b, c in rows)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="write the figures into docs/BENCHMARKS.md")
    parser.add_argument("--provider", default="extractive", choices=["extractive", "openai", "local"])
    parser.add_argument("--only", default=",".join(SUITES), help="comma-separated: " + ", ".join(SUITES))
    parser.add_argument("--misses", action="store_true", help="print every miss")
    args = parser.parse_args()
    require_shared()
    data_dir = data_dir_for(args.provider)
    proc = serve(data_dir, PORT, provider_env(args.provider))
    results = Results()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{PORT}", timeout=120) as client:
            for name in args.only.split(","):
                print(f"running {name}...", file=sys.stderr, flush=True)
                SUITES[name](client, results)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = report(results, args.provider)
    print(text)
    if args.misses:
        for suite, lines in results.misses.items():
            print(f"\n### misses: {suite} ({len(lines)})")
            for line in lines:
                print("-", re.sub(r"\s+", " ", line))
    if args.write:
        title = "Student flows" + ("" if args.provider == "extractive" else f" ({args.provider})")
        write_section(
            title, text, f".venv/bin/python -m bench.student_flows --write --provider {args.provider}", machine()
        )


if __name__ == "__main__":
    main()
