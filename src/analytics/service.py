"""The reports: turned from the recorded turns into what an author can act on. Sections nearest to a
group of unanswered questions come from the vector store (the group's centroid searched as a query)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt
from anyio import to_thread
from sqlalchemy.ext.asyncio import AsyncSession

from src.analytics.clustering import Group, group
from src.analytics.repository import Aggregate, ReportRepository
from src.analytics.schemas import (
    Chapter,
    Chapters,
    Counts,
    Day,
    DislikedAnswer,
    Feedback,
    Gap,
    Gaps,
    QuestionGroup,
    Section,
    Summary,
    Window,
)
from src.kit.errors import InvalidInput
from src.retrieval.passage import Citation, Passage
from src.retrieval.store.base import SearchFilter, SparseVec, VectorStore
from src.sessions.vectors import stack

DEFAULT_DAYS = 30
MAX_UNANSWERED = 5000  # questions grouped for the gaps report (the most recent)
MAX_GROUPS = 25
MAX_CHAPTERS = 40
CHAPTER_QUESTIONS = 100  # the latest questions per chapter, for its top question groups
EXAMPLES = 3
SHARES = (Fraction(1, 2), Fraction(19, 20))
_RELATIVE = re.compile(r"^(\d{1,4})([hdw])$")


def parse_time(value: str | None, default: datetime) -> datetime:
    """An ISO 8601 time, or a span back from now ("7d", "24h", "2w"); naive times are UTC."""
    if not value:
        return default
    relative = _RELATIVE.match(value.strip())
    if relative:
        amount, unit = int(relative[1]), relative[2]
        return datetime.now(UTC) - timedelta(hours=amount if unit == "h" else amount * 24 * (7 if unit == "w" else 1))
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(
            f"not a time: {value!r}",
            [{"loc": ["query"], "msg": "an ISO 8601 time, or a span such as 7d or 24h", "type": "value_error"}],
        ) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def window(since: str | None, until: str | None) -> tuple[datetime, datetime]:
    end = parse_time(until, datetime.now(UTC) + timedelta(seconds=1))
    start = parse_time(since, end - timedelta(days=DEFAULT_DAYS))
    if start >= end:
        raise InvalidInput(
            "since must be before until",
            [{"loc": ["query", "since"], "msg": "since must be before until", "type": "value_error"}],
        )
    return start, end


def _counts(a: Aggregate) -> dict[str, Any]:
    answered = a.questions - a.refused
    return {
        "questions": a.questions,
        "answered": answered,
        "refused": a.refused,
        "refused_rate": round(a.refused / a.questions, 4) if a.questions else 0.0,
        "thumbs_up": a.thumbs_up,
        "thumbs_down": a.thumbs_down,
        "degraded": a.degraded,
        "latency_p50_ms": a.latency[0],
        "latency_p95_ms": a.latency[1],
    }


def _text(row: Any) -> str:
    return str(row.standalone_question or row.question)


def _with_vectors(rows: Sequence[Any]) -> tuple[list[Any], npt.NDArray[np.float32]]:
    """The rows whose stored embedding reads, and those embeddings stacked."""
    kept, vectors = stack([row.question_vector for row in rows])
    return [rows[i] for i in kept], vectors


def _page_of(questions: list[Any], page: str | None) -> str | None:
    """Where a chapter is in the book: the page most of its recent questions' top citations point to
    (without the section's anchor); for a place that is a reader's page, that page."""
    pages = Counter(str(q.top_url).split("#", 1)[0] for q in questions if q.top_url)
    if pages:
        return pages.most_common(1)[0][0]
    return page if page and page.startswith(("/", "http://", "https://")) else None


def _top_groups(recent: dict[int, list[Any]]) -> dict[int, list[QuestionGroup]]:
    """Each place's three largest groups of recent questions."""
    out = {}
    for place, questions in recent.items():
        kept, vectors = _with_vectors(questions)
        texts = [str(q.asked) for q in kept]
        out[place] = [
            QuestionGroup(count=len(g.members), examples=_examples(g, texts)) for g in group(vectors, limit=3)
        ]
    return out


def _examples(grp: Group, texts: list[str]) -> list[str]:
    seen: list[str] = []
    for i in grp.members:
        if texts[i].lower() not in {s.lower() for s in seen}:
            seen.append(texts[i])
        if len(seen) == EXAMPLES:
            break
    return seen


class AnalyticsService:
    def __init__(self, store: VectorStore, low_confidence: float) -> None:
        self.store = store
        # An answer below the evidence threshold (given only because one sentence covered the question)
        # counts as one the book did not really give.
        self.low_confidence = low_confidence

    async def summary(self, db: AsyncSession, since: datetime, until: datetime) -> Summary:
        total, days = await ReportRepository(db).summary(since, until, SHARES)
        return Summary(
            window=Window(since=since.isoformat(), until=until.isoformat()),
            total=Counts(**_counts(total)),
            per_day=[Day(day=day, **_counts(a)) for day, a in days],
        )

    async def gaps(self, db: AsyncSession, since: datetime, until: datetime) -> Gaps:
        rows, vectors = _with_vectors(
            await ReportRepository(db).unanswered(since, until, self.low_confidence, MAX_UNANSWERED)
        )
        texts = [_text(r) for r in rows]
        groups = await to_thread.run_sync(lambda: group(vectors, limit=MAX_GROUPS))
        nearest = await to_thread.run_sync(self._nearest_sections, [g.centroid for g in groups])
        out = []
        for grp, sections in zip(groups, nearest, strict=True):
            members = [rows[i] for i in grp.members]
            chapters = Counter(r.top_chapter or r.page for r in members if r.top_chapter or r.page)
            pages = Counter(r.page for r in members if r.page)
            out.append(
                Gap(
                    count=len(members),
                    examples=_examples(grp, texts),
                    chapters=[c for c, _ in chapters.most_common(3)],
                    pages=[p for p, _ in pages.most_common(3)],
                    nearest_sections=sections,
                    refused=sum(1 for r in members if r.refused),
                    thumbs_down=sum(1 for r in members if r.down),
                )
            )
        return Gaps(window=Window(since=since.isoformat(), until=until.isoformat()), unanswered=len(rows), groups=out)

    def _nearest_sections(self, centroids: list[Any], k: int = 3) -> list[list[Section]]:
        """The sections closest to each group (dense search with the group's centroid, one per file and section)."""
        out = []
        for centroid in centroids:
            dense, _ = self.store.search([float(x) for x in centroid], SparseVec([], []), k * 4, SearchFilter())
            seen: set[tuple[str, str]] = set()
            sections = []
            for hit in dense:
                p = Passage.from_payload(hit.payload)
                key = (str(p.source_file), str(p.section))
                if key in seen:
                    continue
                seen.add(key)
                sections.append(
                    Section(
                        title=p.title,
                        section=p.section,
                        source_file=p.source_file,
                        url=p.url,
                        score=round(hit.score, 4),
                    )
                )
                if len(sections) == k:
                    break
            out.append(sections)
        return out

    async def chapters(self, db: AsyncSession, since: datetime, until: datetime) -> Chapters:
        repo = ReportRepository(db)
        rows = await repo.chapters(since, until, MAX_CHAPTERS)
        recent: dict[int, list[Any]] = {}
        for place, q in await repo.recent_per_place(since, until, [r.place for r in rows], CHAPTER_QUESTIONS):
            recent.setdefault(place, []).append(q)
        tops = await to_thread.run_sync(_top_groups, recent)
        out = []
        for i, row in enumerate(rows):
            top = tops.get(i, [])
            url = _page_of(recent.get(i, []), row.place.page)
            n, refused, down = row.questions, row.refused, row.down
            out.append(
                Chapter(
                    chapter=row.place.name,
                    url=url,
                    questions=n,
                    refused=refused,
                    refused_rate=round(refused / n, 4) if n else 0.0,
                    thumbs_down=down,
                    thumbs_down_rate=round(down / n, 4) if n else 0.0,
                    top_groups=top,
                )
            )
        out.sort(key=lambda c: (-c.refused_rate, -c.questions, c.chapter))
        return Chapters(window=Window(since=since.isoformat(), until=until.isoformat()), chapters=out)

    async def feedback(self, db: AsyncSession, since: datetime, until: datetime, limit: int) -> Feedback:
        total, rows = await ReportRepository(db).disliked(since, until, limit)
        answers = [
            DislikedAnswer(
                answer_id=m.id,
                question=m.question,
                answer=m.answer,
                comment=f.comment if f else None,
                citations=[Citation.model_validate(c) for c in m.citations],
                chapter=m.top_chapter,
                page=m.page,
                asked_at=m.created_at.isoformat(),
                rated_at=f.created_at.isoformat() if f else None,
            )
            for m, f in rows
        ]
        return Feedback(window=Window(since=since.isoformat(), until=until.isoformat()), count=total, answers=answers)
