"""`report`: the author's reports, read from the running service's analytics API and printed as tables,
CSV or JSON."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from src.cli.output import console, say
from src.kit.settings import get_settings


def report(
    since: Annotated[
        str, typer.Option(help="Start of the window: ISO 8601, or a span back from now (7d, 24h, 2w)")
    ] = "7d",
    until: Annotated[str | None, typer.Option(help="End of the window (default now)")] = None,
    output: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table",
    only: Annotated[
        str, typer.Option(help="Comma-separated: summary, gaps, chapters, feedback")
    ] = "summary,gaps,chapters,feedback",
    url: Annotated[str, typer.Option(help="The running service", envvar="SERVICE_URL")] = "http://127.0.0.1:8000",
) -> None:
    """The author's reports, from the running service: what readers ask, what the book does not answer,
    chapter by chapter, and the answers they disliked."""
    import json

    import httpx

    from src.analytics.console import TABLES, print_tables
    from src.security.keys import load_or_create_api_key

    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in TABLES]
    if unknown or output not in ("table", "csv", "json"):
        say("unknown report or format:", "red", ", ".join(unknown) or output)
        raise typer.Exit(2)
    key, _ = load_or_create_api_key(get_settings())
    params = {"since": since, **({"until": until} if until else {}), **({"format": "csv"} if output == "csv" else {})}
    reports: dict[str, Any] = {}
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
            for name in names:
                response = client.get(f"/api/v1/analytics/{name}", params=params)
                if response.status_code != 200:
                    say(f"{name}: HTTP {response.status_code}", "red", response.text[:200])
                    raise typer.Exit(1)
                reports[name] = response.text if output == "csv" else response.json()
    except httpx.HTTPError as exc:
        console.print(
            Text.assemble(
                (f"The service at {url} cannot be reached ({type(exc).__name__}).", "red"),
                " Start it (make run), or pass --url.",
            )
        )
        raise typer.Exit(1) from exc
    if output == "json":
        typer.echo(json.dumps(reports, indent=2, ensure_ascii=False))
    elif output == "csv":
        for name, text in reports.items():
            typer.echo(f"# {name}\n{text}")
    else:
        print_tables(reports, Console(width=160))
