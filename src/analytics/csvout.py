"""Reports as CSV (`?format=csv`): one row for each item of the report's list, the same rows as the
JSON; lists inside an item are joined with " | ". A text cell that a spreadsheet would read as a
formula is escaped (OWASP "CSV injection"): readers write the questions and comments in them."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from src.analytics.schemas import Chapters, Feedback, Gaps, Summary

# What makes Excel, LibreOffice or Google Sheets read a cell as a formula (=HYPERLINK(...), +cmd|...,
# -2+3, @SUM(...)), and the tab and line breaks that can hide one after them.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def _safe(value: Any) -> str:
    """A cell's text; one that starts like a formula gets a leading apostrophe, which spreadsheets show as
    text. Numbers are left as they are, so a numeric column stays numeric (a negative one too). A carriage
    return becomes a line feed: the writer quotes a cell holding "\n" (its line terminator), not one
    holding a bare "\r", which a spreadsheet would read as the end of the row."""
    text = _cell(value).replace("\r\n", "\n").replace("\r", "\n")
    if isinstance(value, (int, float)) or not text.startswith(_FORMULA_STARTS):
        return text
    return "'" + text


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " | ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}={_cell(v)}" for k, v in value.items())
    return str(value)


def _write(header: list[str], rows: Iterable[list[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_safe(v) for v in row])
    return out.getvalue()


def summary_csv(report: Summary) -> str:
    keys = [
        "questions",
        "answered",
        "refused",
        "refused_rate",
        "thumbs_up",
        "thumbs_down",
        "degraded",
        "latency_p50_ms",
        "latency_p95_ms",
    ]
    return _write(["day", *keys], ([d.day, *(getattr(d, k) for k in keys)] for d in report.per_day))


def gaps_csv(report: Gaps) -> str:
    return _write(
        ["count", "refused", "thumbs_down", "examples", "chapters", "pages", "nearest_sections"],
        (
            [
                g.count,
                g.refused,
                g.thumbs_down,
                g.examples,
                g.chapters,
                g.pages,
                [f"{s.title} > {s.section} ({s.url or s.source_file})" for s in g.nearest_sections],
            ]
            for g in report.groups
        ),
    )


def chapters_csv(report: Chapters) -> str:
    return _write(
        ["chapter", "questions", "refused", "refused_rate", "thumbs_down", "thumbs_down_rate", "top_groups"],
        (
            [
                c.chapter,
                c.questions,
                c.refused,
                c.refused_rate,
                c.thumbs_down,
                c.thumbs_down_rate,
                [f"{g.count}: {g.examples[0]}" for g in c.top_groups if g.examples],
            ]
            for c in report.chapters
        ),
    )


def feedback_csv(report: Feedback) -> str:
    return _write(
        ["answer_id", "asked_at", "rated_at", "chapter", "page", "question", "answer", "comment", "citations"],
        (
            [
                a.answer_id,
                a.asked_at,
                a.rated_at,
                a.chapter,
                a.page,
                a.question,
                a.answer,
                a.comment,
                [c.url or c.source_file for c in a.citations],
            ]
            for a in report.answers
        ),
    )
