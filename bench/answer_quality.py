"""Answer quality of the extractive answerer on the pooled corpus: SQuAD 2.0 answerable questions
whose answer contains a gold answer, unanswerable ones answered "not in the book", false refusals,
and the Physical AI questions' expected keywords found in the answer.

    .venv/bin/python -m bench.answer_quality [--write]

Runs the service's own answering (`AnswerService.answer`: routing, search agent, extractive
answer) without HTTP; the turns are not recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import time

from bench.corpus import QA, pooled_store, require_shared
from bench.report import machine, write_section
from src.answering.service import AnswerService, Asked
from src.kit.cache import Cache
from src.kit.redis_link import RedisLink
from src.kit.settings import Settings
from src.retrieval.embedder import Embedder
from src.retrieval.service import RetrievalService
from src.retrieval.sparse import SparseEncoder
from src.sessions.recorder import new_session_id


class NotRecorded:
    """Stands in for the LoggingAgent: the benchmark keeps no sessions."""

    saturated = False

    async def record(self, turn: object) -> None:
        return None

    async def session_for(self, requested: str | None, history: object = None) -> tuple[str, None]:
        """Every question stands alone: a new session, no history."""
        return new_session_id(), None


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]", " ", text.lower()).split())


async def run() -> dict[str, float]:
    settings = Settings(
        _env_file=None, cache_query_ttl_seconds=0, cache_embedding_ttl_seconds=0, cache_answer_ttl_seconds=0
    )  # type: ignore[call-arg]
    embedder = Embedder(settings.embedding_threads, settings.embedding_quantization)
    store, _ = pooled_store(embedder, settings)
    cache = Cache(RedisLink(None, 1, 1), 0)
    retrieval = RetrievalService(settings, embedder, SparseEncoder(), store, cache)
    answers = AnswerService(settings, retrieval, cache, NotRecorded())  # type: ignore[arg-type]
    latencies: list[float] = []

    async def ask(question: str) -> tuple[str, bool]:
        started = time.perf_counter()
        result = await answers.answer(Asked(question))
        latencies.append((time.perf_counter() - started) * 1000)
        return result.answer, result.refused

    try:
        gold = {
            json.loads(line)["_id"]: json.loads(line)
            for line in (QA / "squad-v2-subset" / "answers.jsonl").read_text().splitlines()
        }
        queries = [json.loads(line) for line in (QA / "squad-v2-subset" / "queries.jsonl").read_text().splitlines()]
        contains = answerable = refused_answerable = unanswerable = refused_unanswerable = 0
        for q in queries:
            text, refused = await ask(q["text"])
            if q["answerable"]:
                answerable += 1
                refused_answerable += refused
                contains += (not refused) and any(normalise(a) in normalise(text) for a in gold[q["_id"]]["answers"])
            else:
                unanswerable += 1
                refused_unanswerable += refused
        keywords_found = keywords_total = 0
        for line in (QA / "physical-ai" / "queries.jsonl").read_text().splitlines():
            row = json.loads(line)
            text, _ = await ask(row["text"])
            keywords_total += len(row["expected_keywords"])
            keywords_found += sum(normalise(k) in normalise(text) for k in row["expected_keywords"])
    finally:
        store.close()
    latencies.sort()
    return {
        "answerable": answerable,
        "contains": contains / answerable,
        "false_refusals": refused_answerable / answerable,
        "unanswerable": unanswerable,
        "refused_unanswerable": refused_unanswerable / unanswerable,
        "keywords": keywords_found / keywords_total,
        "p50": statistics.median(latencies),
        "p95": latencies[int(len(latencies) * 0.95)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    require_shared()
    r = asyncio.run(run())
    text = "\n".join(
        [
            "| measure | value | target (issue 4) |",
            "|---|---|---|",
            f"| SQuAD answerable ({int(r['answerable'])} q): answer contains a gold answer | {r['contains']:.3f} | ≥ 0.80 |",
            f"| SQuAD answerable: false refusals | {r['false_refusals']:.3f} | ≤ 0.10 |",
            f'| SQuAD unanswerable ({int(r["unanswerable"])} q): answered "not in the book" | {r["refused_unanswerable"]:.3f} | report |',
            f"| Physical AI: expected keywords in the answer | {r['keywords']:.3f} | ≥ 0.80 |",
            f"| answering in process, p50 / p95 | {r['p50']:.1f} / {r['p95']:.1f} ms | (over HTTP: see Answer speed) |",
        ]
    )
    print(text)
    if args.write:
        body = (
            "The extractive answerer (the offline default) on the pooled collection, k = 5, caches off, no HTTP.\n\n"
            + text
        )
        write_section("Answer quality (extractive)", body, "python -m bench.answer_quality --write", machine())


if __name__ == "__main__":
    main()
