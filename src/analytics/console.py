"""The reports for a terminal (`python -m src.cli report`): rich tables, or the JSON and CSV the API
gives. The command asks the running service, so it works whichever stores the service uses and
needs no lock on the embedded vector store.

Readers write the questions and comments, and the book's text is the author's: every such string goes
into a table as `Text` (`_literal`), so "[link=...]" or "[bold red]" is shown as typed, never read as
Rich markup, and a control character (an escape sequence for the terminal) is shown, not sent."""

from __future__ import annotations

import unicodedata
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text


def _literal(text: str) -> Text:
    """Text as typed: Text is never parsed for markup or emoji codes; control characters other than the
    line breaks and tabs a question may hold become visible escapes (Rich passes ESC through)."""
    shown = "".join(c if c in "\n\t" or unicodedata.category(c) != "Cc" else repr(c)[1:-1] for c in text)
    return Text(shown)


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def summary_table(report: dict[str, Any]) -> Table:
    t = report["total"]
    table = Table(title=_literal(f"Summary  {report['window']['since'][:10]} → {report['window']['until'][:10]}"))
    for column in ("day", "questions", "answered", "refused", "refused rate", "👍 / 👎", "degraded", "p50 / p95 ms"):
        table.add_column(column, justify="left" if column == "day" else "right")

    def row(day: str, c: dict[str, Any]) -> list[str]:
        p50, p95 = c["latency_p50_ms"], c["latency_p95_ms"]
        latency = "–" if p50 is None else f"{p50:.0f} / {p95:.0f}"
        return [
            day,
            str(c["questions"]),
            str(c["answered"]),
            str(c["refused"]),
            _pct(c["refused_rate"]),
            f"{c['thumbs_up']} / {c['thumbs_down']}",
            str(c["degraded"]),
            latency,
        ]

    for day in report["per_day"]:
        table.add_row(*row(day["day"], day))
    table.add_row(*row("all", t), style="bold")
    return table


def gaps_table(report: dict[str, Any]) -> Table:
    table = Table(title=f"What the book did not answer ({report['unanswered']} questions)")
    for column in ("count", "what readers asked", "where", "nearest sections"):
        table.add_column(column, justify="right" if column == "count" else "left", overflow="fold")
    for g in report["groups"]:
        sections = "\n".join(" › ".join(x for x in (s["title"], s["section"]) if x) for s in g["nearest_sections"])
        table.add_row(
            str(g["count"]),
            _literal("\n".join(g["examples"])),
            _literal(", ".join(g["chapters"]) or "–"),
            _literal(sections),
        )
    return table


def chapters_table(report: dict[str, Any]) -> Table:
    table = Table(title="Chapters, the worst refused rate first")
    for column in ("chapter", "questions", "refused", "thumbs down", "top questions"):
        table.add_column(column, justify="left" if column in ("chapter", "top questions") else "right", overflow="fold")
    for c in report["chapters"]:
        top = "\n".join(f"{g['count']} × {g['examples'][0]}" for g in c["top_groups"] if g["examples"])
        table.add_row(
            _literal(c["chapter"]),
            str(c["questions"]),
            _pct(c["refused_rate"]),
            _pct(c["thumbs_down_rate"]),
            _literal(top),
        )
    return table


def feedback_table(report: dict[str, Any]) -> Table:
    table = Table(title=f"Down-voted answers ({report['count']})")
    for column in ("when", "question", "answer", "comment"):
        table.add_column(column, overflow="fold")
    for a in report["answers"]:
        answer = a["answer"] if len(a["answer"]) <= 240 else a["answer"][:237] + "…"
        table.add_row(
            a["rated_at"][:16].replace("T", " "),
            _literal(a["question"]),
            _literal(answer),
            _literal(a["comment"] or ""),
        )
    return table


TABLES = {"summary": summary_table, "gaps": gaps_table, "chapters": chapters_table, "feedback": feedback_table}


def print_tables(reports: dict[str, dict[str, Any]], console: Console) -> None:
    for name, report in reports.items():
        console.print(TABLES[name](report))
