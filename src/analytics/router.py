"""The author's reports (Bearer INDEXING_API_KEY): GET /api/v1/analytics/{summary, gaps, chapters,
feedback}, over a `since`/`until` window (ISO 8601 or a span back from now: 7d, 24h), as JSON or,
with `?format=csv`, CSV."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from src.analytics import csvout
from src.analytics.deps import AnalyticsServiceDep
from src.analytics.schemas import Chapters, Feedback, Gaps, Summary
from src.analytics.service import window
from src.kit.deps import DbSession
from src.kit.errors import error_responses
from src.security.auth import IndexingKey, IndexingKeyRoute

router = APIRouter(
    prefix="/api/v1/analytics",
    tags=["analytics"],
    dependencies=[IndexingKey],
    route_class=IndexingKeyRoute.requiring("analytics"),
)
Since = Annotated[
    str | None,
    Query(
        max_length=40,
        description="Start: ISO 8601, or a span back from now (7d, 24h, 2w); default 30 days before `until`",
    ),
]
Until = Annotated[str | None, Query(max_length=40, description="End: ISO 8601 or a span; default now")]
Format = Annotated[Literal["json", "csv"], Query(description="json (default) or csv")]
_ERRORS = error_responses(401, 422, 503)
R = TypeVar("R", Summary, Gaps, Chapters, Feedback)
_CSV = {"content": {"text/csv": {}}, "description": "The report (JSON, or CSV with ?format=csv)"}


def _as(report: R, format: str, to_csv: Callable[[R], str], name: str) -> R | PlainTextResponse:
    """The report as JSON (the model), or as a CSV attachment."""
    if format != "csv":
        return report
    return PlainTextResponse(
        to_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


@router.get(
    "/summary",
    response_model=Summary,
    responses={200: _CSV, **_ERRORS},
    summary="Questions, answers, refusals, feedback and latency, in total and per day",
)
async def summary(
    db: DbSession, analytics: AnalyticsServiceDep, since: Since = None, until: Until = None, format: Format = "json"
) -> Summary | PlainTextResponse:
    return _as(await analytics.summary(db, *window(since, until)), format, csvout.summary_csv, "summary")


@router.get(
    "/gaps",
    response_model=Gaps,
    responses={200: _CSV, **_ERRORS},
    summary="What the book did not answer, grouped by meaning, with the nearest sections",
)
async def gaps(
    db: DbSession, analytics: AnalyticsServiceDep, since: Since = None, until: Until = None, format: Format = "json"
) -> Gaps | PlainTextResponse:
    return _as(await analytics.gaps(db, *window(since, until)), format, csvout.gaps_csv, "gaps")


@router.get(
    "/chapters",
    response_model=Chapters,
    responses={200: _CSV, **_ERRORS},
    summary="Per chapter: questions, refused and down-voted rates, top question groups",
)
async def chapters(
    db: DbSession, analytics: AnalyticsServiceDep, since: Since = None, until: Until = None, format: Format = "json"
) -> Chapters | PlainTextResponse:
    return _as(await analytics.chapters(db, *window(since, until)), format, csvout.chapters_csv, "chapters")


@router.get(
    "/feedback",
    response_model=Feedback,
    responses={200: _CSV, **_ERRORS},
    summary="Down-voted answers with their comments",
)
async def feedback(
    db: DbSession,
    analytics: AnalyticsServiceDep,
    since: Since = None,
    until: Until = None,
    format: Format = "json",
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Feedback | PlainTextResponse:
    return _as(await analytics.feedback(db, *window(since, until), limit), format, csvout.feedback_csv, "feedback")
