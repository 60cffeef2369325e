"""SQL for the reports, on PostgreSQL and SQLite alike: aggregates computed by the database from covering
indexes (counts per window and per day, percentiles), and bounded reads of the questions to group.
Nothing loads every turn into memory. A turn's feedback is counted by its latest rating, which is kept
on the turn itself (`messages.rating`), so no report joins the feedback table to count."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import Select, and_, case, func, literal, or_, select, true, union_all
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from src.answering.routes import ASKED
from src.db.models import Feedback, Message

NO_CHAPTER = "(no chapter)"


@dataclass(frozen=True)
class Aggregate:
    questions: int
    refused: int
    degraded: int
    thumbs_up: int
    thumbs_down: int
    latency: tuple[float | None, ...] = ()  # at the requested shares

    def __add__(self, other: Aggregate) -> Aggregate:
        q, r, d, u, n = (a + b for a, b in zip(self.counts(), other.counts(), strict=True))
        return Aggregate(q, r, d, u, n)

    def counts(self) -> tuple[int, int, int, int, int]:
        return self.questions, self.refused, self.degraded, self.thumbs_up, self.thumbs_down


@dataclass(frozen=True)
class Place:
    """Where questions landed: the top citation's chapter or, with none (a refusal), the reader's page."""

    chapter: str | None
    page: str | None

    @property
    def name(self) -> str:
        return self.chapter or self.page or NO_CHAPTER


@dataclass(frozen=True)
class ChapterCounts:
    place: Place
    questions: int
    refused: int
    down: int


def _ones(condition: Any) -> ColumnElement[Any]:
    """How many rows meet the condition (a boolean column or expression)."""
    return func.sum(case((condition, 1), else_=0))


def _counted() -> tuple[ColumnElement[Any], ...]:
    return (
        func.count(),
        _ones(Message.refused),
        _ones(Message.degraded),
        _ones(Message.rating == "up"),
        _ones(Message.rating == "down"),
    )


def nearest_rank(n: int, share: Fraction) -> int:
    """The rank of a percentile by the nearest-rank method (the ceil(n * share)-th smallest): the value
    PostgreSQL's percentile_disc picks, and the one SQLite's row_number picks here."""
    return (n * share.numerator + share.denominator - 1) // share.denominator


class ReportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.postgres = session.get_bind().dialect.name == "postgresql"

    def _window(self, since: datetime, until: datetime) -> ColumnElement[bool]:
        return and_(Message.created_at >= since, Message.created_at < until)

    def _day(self) -> ColumnElement[Any]:
        """The turn's day in UTC (SQLite stores UTC already)."""
        if self.postgres:
            return func.date(func.timezone("UTC", Message.created_at))
        return func.date(Message.created_at)

    async def summary(
        self, since: datetime, until: datetime, shares: Sequence[Fraction]
    ) -> tuple[Aggregate, list[tuple[str, Aggregate]]]:
        """The window's totals and the same per day (oldest first), with latency percentiles."""
        if self.postgres:
            return await self._summary_postgres(since, until, shares)
        return await self._summary_portable(since, until, shares)

    async def _summary_postgres(
        self, since: datetime, until: datetime, shares: Sequence[Fraction]
    ) -> tuple[Aggregate, list[tuple[str, Aggregate]]]:
        """One pass: per day and the whole window (ROLLUP), percentile_disc for the latencies."""
        day = self._day().label("day")
        percentiles = func.percentile_disc(postgresql.array([float(s) for s in shares])).within_group(
            Message.latency_ms
        )
        stmt = (
            select(day, *_counted(), percentiles)
            .where(self._window(since, until))
            .group_by(func.rollup(day))
            .order_by(day)
        )
        total = Aggregate(0, 0, 0, 0, 0, (None,) * len(shares))
        days = []
        for row in (await self.session.execute(stmt)).all():
            aggregate = _aggregate(row[1:6], tuple(row[6]) if row[6] is not None else (None,) * len(shares))
            if row[0] is None:
                total = aggregate
            else:
                days.append((str(row[0]), aggregate))
        return total, days

    async def _summary_portable(
        self, since: datetime, until: datetime, shares: Sequence[Fraction]
    ) -> tuple[Aggregate, list[tuple[str, Aggregate]]]:
        """Counts per day, then the percentiles picked with row_number over the sorted latencies (integer
        arithmetic only)."""
        day = self._day()
        rows = (
            await self.session.execute(
                select(day, *_counted()).where(self._window(since, until)).group_by(day).order_by(day)
            )
        ).all()
        counts = [(str(row[0]), _aggregate(row[1:6])) for row in rows]
        ranked = (
            select(
                day.label("day"),
                Message.latency_ms.label("latency"),
                func.row_number().over(partition_by=day, order_by=Message.latency_ms).label("rank"),
                func.count().over(partition_by=day).label("n"),
                func.row_number().over(order_by=Message.latency_ms).label("rank_all"),
                func.count().over().label("n_all"),
            )
            .where(self._window(since, until))
            .subquery()
        )

        def at(rank: ColumnElement[int], n: ColumnElement[int], share: Fraction) -> ColumnElement[bool]:
            return rank == (n * share.numerator + share.denominator - 1) // share.denominator

        wanted = or_(
            *(at(ranked.c.rank, ranked.c.n, s) for s in shares),
            *(at(ranked.c.rank_all, ranked.c.n_all, s) for s in shares),
        )
        overall: list[float | None] = [None] * len(shares)
        per_day: dict[str, list[float | None]] = {}
        for row in (await self.session.execute(select(ranked).where(wanted))).all():
            for i, share in enumerate(shares):
                if row.rank_all == nearest_rank(row.n_all, share):
                    overall[i] = float(row.latency)
                if row.rank == nearest_rank(row.n, share):
                    per_day.setdefault(str(row.day), [None] * len(shares))[i] = float(row.latency)
        total = Aggregate(0, 0, 0, 0, 0)
        for _, aggregate in counts:
            total = total + aggregate
        with_latency = [(d, _aggregate(a.counts(), tuple(per_day.get(d, [None] * len(shares))))) for d, a in counts]
        return _aggregate(total.counts(), tuple(overall)), with_latency

    async def unanswered(self, since: datetime, until: datetime, low_confidence: float, limit: int) -> Sequence[Any]:
        """The most recent questions the book did not answer: refused, low confidence, or down-voted."""
        stmt = (
            select(
                Message.id,
                Message.question,
                Message.standalone_question,
                Message.page,
                Message.top_chapter,
                Message.refused,
                Message.question_vector,
                (Message.rating == "down").label("down"),
            )
            .where(
                self._window(since, until),
                Message.route.in_(ASKED),
                Message.question_vector.is_not(None),
                or_(Message.refused, Message.confidence < low_confidence, Message.rating == "down"),
            )
            .order_by(Message.created_at.desc())
            .limit(limit)
        )
        return (await self.session.execute(stmt)).all()

    async def chapters(self, since: datetime, until: datetime, limit: int) -> list[ChapterCounts]:
        """Questions per place, the busiest first (from ix_messages_chapter_report alone)."""
        page = case((Message.top_chapter.is_(None), Message.page)).label("page")
        stmt = (
            select(
                Message.top_chapter,
                page,
                func.count().label("questions"),
                _ones(Message.refused).label("refused"),
                _ones(Message.rating == "down").label("down"),
            )
            .where(self._window(since, until), Message.route.in_(ASKED))
            .group_by(Message.top_chapter, page)
            .order_by(func.count().desc(), Message.top_chapter, page)
            .limit(limit)
        )
        rows = (await self.session.execute(stmt)).all()
        return [
            ChapterCounts(Place(r.top_chapter, r.page), int(r.questions), int(r.refused or 0), int(r.down or 0))
            for r in rows
        ]

    async def recent_per_place(
        self, since: datetime, until: datetime, places: Sequence[Place], per_place: int
    ) -> list[tuple[int, Any]]:
        """The latest `per_place` questions of each place, as (index into `places`, row), in one statement:
        one index range per place (ix_messages_top_chapter_created, ix_messages_page_created), read
        newest first. On PostgreSQL the chapters are one LATERAL join (planned once, not per chapter)."""
        if not places:
            return []
        lateral = self.postgres and any(p.chapter for p in places)
        parts = [
            self._latest(i, self._at(p), since, until, per_place)
            for i, p in enumerate(places)
            if not (lateral and p.chapter)
        ]
        if lateral:
            parts.append(self._latest_per_chapter(places, since, until, per_place))
        rows = (await self.session.execute(union_all(*parts) if len(parts) > 1 else parts[0])).all()
        return [(int(r.place), r) for r in rows]

    def _asked_with_vector(self, since: datetime, until: datetime) -> ColumnElement[bool]:
        return and_(self._window(since, until), Message.route.in_(ASKED), Message.question_vector.is_not(None))

    @staticmethod
    def _at(place: Place) -> ColumnElement[bool]:
        if place.chapter:
            return Message.top_chapter == place.chapter
        return and_(
            Message.top_chapter.is_(None), Message.page.is_(None) if place.page is None else Message.page == place.page
        )

    def _latest(self, index: int, where: ColumnElement[bool], since: datetime, until: datetime, n: int) -> Select[Any]:
        part = (
            select(literal(index).label("place"), *self._question_columns())
            .where(where, self._asked_with_vector(since, until))
            .order_by(Message.created_at.desc())
            .limit(n)
            .subquery()
        )
        return select(part)

    def _latest_per_chapter(self, places: Sequence[Place], since: datetime, until: datetime, n: int) -> Select[Any]:
        chapters = [(i, p.chapter) for i, p in enumerate(places) if p.chapter]
        named = (
            func.unnest(postgresql.array([i for i, _ in chapters]), postgresql.array([c for _, c in chapters]))
            .table_valued("place", "chapter")
            .render_derived()
        )
        latest = (
            select(*self._question_columns())
            .where(Message.top_chapter == named.c.chapter, self._asked_with_vector(since, until))
            .order_by(Message.created_at.desc())
            .limit(n)
            .lateral()
        )
        return select(named.c.place, *latest.c).select_from(named.join(latest, true()))

    @staticmethod
    def _question_columns() -> tuple[Any, ...]:
        return (
            func.coalesce(Message.standalone_question, Message.question).label("asked"),
            Message.question_vector,
            Message.top_url,
        )

    async def disliked(
        self, since: datetime, until: datetime, limit: int
    ) -> tuple[int, list[tuple[Message, Feedback | None]]]:
        """Turns whose latest rating is down (the newest first), with the feedback that said why."""
        where = and_(self._window(since, until), Message.rating == "down")
        total = int((await self.session.execute(select(func.count()).select_from(Message).where(where))).scalar_one())
        messages = (
            (await self.session.execute(select(Message).where(where).order_by(Message.created_at.desc()).limit(limit)))
            .scalars()
            .all()
        )
        said: dict[str, Feedback] = {}
        if messages:
            ratings = (
                select(Feedback)
                .where(Feedback.message_id.in_([m.id for m in messages]), Feedback.rating == "down")
                .order_by(Feedback.created_at, Feedback.id)
            )
            for feedback in (await self.session.execute(ratings)).scalars():
                kept = said.get(feedback.message_id)
                if kept is None or feedback.comment or not kept.comment:
                    said[feedback.message_id] = feedback  # the latest with a comment, else the latest
        return total, [(m, said.get(m.id)) for m in messages]


def _aggregate(counts: Sequence[Any], latency: tuple[float | None, ...] = ()) -> Aggregate:
    questions, refused, degraded, up, down = (int(v or 0) for v in counts)
    return Aggregate(questions, refused, degraded, up, down, tuple(None if v is None else float(v) for v in latency))
