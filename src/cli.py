"""Command line for authors and operators: `python -m src.cli --help`.

`migrate` is what every start path runs before serving (the image, the systemd unit, `make migrate`).

`index` reads a folder or glob into the index in process (same code as the HTTP API), with a
progress bar and a summary. With the embedded vector store, run it while the server is stopped
(the store serves one process); with QDRANT_URL it can run beside the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import re
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from src.ingestion.files import DOCUMENT_TYPES, discover, read_document
from src.kit.settings import get_settings

app = typer.Typer(help="AI-textbook chatbot backend: indexing and operations.", no_args_is_help=True)
console = Console(stderr=True)


async def _index(paths: list[Path], root: Path, base_url: str | None, prefix: str | None, if_empty: bool, prune: bool) -> int:
    from src.container import close_container, open_container
    from src.ingestion.bulk import Load, index_many
    from src.ingestion.repository import DocumentRepository
    from src.ingestion.schemas import IndexMetadata
    from src.ingestion.service import DocumentNotFound, IndexOutcome
    from src.kit.db import transaction
    from src.kit.logging import configure_logging
    from src.kit.middleware import InFlight

    settings = get_settings()
    configure_logging("WARNING", settings.log_dir, settings.log_json, settings.log_file_max_bytes, settings.log_file_backups)
    container = await open_container(settings, InFlight())
    try:
        if if_empty and container.store.count() > 0:
            console.print(f"The index already holds {container.store.count()} chunks: nothing to do.")
            return 0
        totals = dict.fromkeys(("files", "chunks", "new", "unchanged", "deleted", "failed", "removed files"), 0)
        seen: set[str] = set()
        started = time.perf_counter()
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("indexing", total=len(paths))

            def loader(path: Path) -> Load:
                def load() -> tuple[str | bytes, IndexMetadata]:
                    content, meta = read_document(path, root, base_url, prefix)
                    seen.add(meta.source_file)
                    return content, meta

                return load

            async def report(position: int, result: IndexOutcome | Exception) -> None:
                progress.update(task, description=str(paths[position].relative_to(root))[:60])
                if isinstance(result, Exception):
                    totals["failed"] += 1
                    console.print(f"[red]skipped[/red] {paths[position]}: {result}")
                else:
                    totals["files"] += 1
                    totals["chunks"] += result.indexed_chunks
                    totals["new"] += result.chunks_new
                    totals["unchanged"] += result.chunks_unchanged
                    totals["deleted"] += result.chunks_deleted
                progress.advance(task)

            await index_many(container.indexing, [loader(p) for p in paths], report, settings.index_pool_chunks)
        if prune:
            async with transaction(container.db) as session:
                registered = [d.source_file for d in await DocumentRepository(session).list(1_000_000, 0)]
            for source_file in registered:
                inside = source_file.startswith(prefix + "/") if prefix else True
                if inside and source_file not in seen:
                    with contextlib.suppress(DocumentNotFound):  # removed meanwhile: nothing left to do
                        totals["deleted"] += await container.indexing.delete(source_file)
                    totals["removed files"] += 1
        if container.store.needs_optimize():
            console.print("Building the search index (HNSW)...")
            await container.indexing.optimize_now()
        table = Table(title="Indexing summary")
        columns_out = ("files", "chunks", "new", "unchanged", "deleted", "removed files", "failed")
        for column in (*columns_out, "seconds"):
            table.add_column(column, justify="right")
        table.add_row(*(str(totals[c]) for c in columns_out), f"{time.perf_counter() - started:.1f}")
        Console().print(table)
        return 1 if totals["failed"] else 0
    finally:
        await close_container(container)


@app.command()
def index(
    paths: Annotated[list[str], typer.Argument(help="Folders, files or globs (quote globs)")],
    root: Annotated[Path | None, typer.Option(help="Book root: source_file names are relative to it (default: the common folder)")] = None,
    base_url: Annotated[str | None, typer.Option(help="The published site's URL, for citation links")] = None,
    prefix: Annotated[str | None, typer.Option(help="Put source_file names under this prefix (several books in one index)")] = None,
    prune: Annotated[bool, typer.Option("--prune", help="Also remove indexed files (under --prefix) that are no longer on disk")] = False,
    if_empty: Annotated[bool, typer.Option("--if-empty", help="Do nothing if the index already has chunks")] = False,
) -> None:
    """Index a book folder (Markdown, MDX, reStructuredText, HTML, text, PDF), a file, or a glob."""
    files: list[Path] = []
    for pattern in paths:
        matches = [Path(p) for p in glob.glob(pattern, recursive=True)] if any(c in pattern for c in "*?[") else [Path(pattern)]
        for match in matches:
            files.extend(discover(match))
    files = sorted(set(files))
    if not files:
        console.print(f"No indexable files ({', '.join(sorted(DOCUMENT_TYPES))}) under {', '.join(paths)}.")
        raise typer.Exit(1)
    book_root = (root or _common_root(paths)).resolve()
    raise typer.Exit(asyncio.run(_index([f.resolve() for f in files], book_root, base_url, prefix, if_empty, prune)))


def _common_root(patterns: list[str]) -> Path:
    """The folder the arguments name (for a glob, the part before the first wildcard)."""
    bases = []
    for pattern in patterns:
        head = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
        base = Path(head or ".")
        bases.append(str((base if base.is_dir() else base.parent).resolve()))
    return Path(os.path.commonpath(bases)) if bases else Path.cwd()


@app.command()
def migrate() -> None:
    """Apply the migrations (`alembic upgrade head`) before a start: every start path runs this. On a
    database a newer release has migrated, change nothing, and exit 0 if its schema_compatibility lists
    this release (a rollback across expand steps), 1 if not (a contract step: downgrade first)."""
    from src.db.migrations import migrate_once
    from src.kit.logging import configure_logging

    settings = get_settings()
    configure_logging("INFO", settings.log_dir, settings.log_json, settings.log_file_max_bytes, settings.log_file_backups)
    done = migrate_once(settings)
    if done.state == "current":
        typer.echo(f"migrate: the database is at {done.head}, this release's head")
    elif done.state == "ahead_compatible":
        typer.echo(
            f"migrate: skipped (ahead_compatible): the database is at {done.revision}, a newer release's schema whose"
            f" schema_compatibility lists this release's head {done.head}; the schema is left as it is"
        )
    else:
        # One plain line (no console wrapping): it is what the journal or `docker logs` shows of the failed start.
        typer.echo(
            f"migrate: refused (ahead_incompatible): this release (head {done.head}) cannot run on this database, which a newer"
            f" release migrated to {done.revision}: a contract step since {done.head} removed or changed what this release uses,"
            f" so schema_compatibility does not list {done.head}. The schema is left as it is. To run this release, first"
            " downgrade from the newer release's checkout, which has the migration files:"
            f" `python -m alembic downgrade {done.head}`",
            err=True,
        )
        raise typer.Exit(1)


@app.command("show-key")
def show_key() -> None:
    """Print the indexing API key (INDEXING_API_KEY, or the one generated under DATA_DIR)."""
    from src.security.keys import load_or_create_api_key

    settings = get_settings()
    key, path = load_or_create_api_key(settings)
    single = settings.indexing_api_key is not None and settings.indexing_api_key.get_secret_value()
    where = f"kept in {path}" if path else ("from INDEXING_API_KEY" if single else "the first of INDEXING_API_KEYS / INDEXING_API_KEYS_FILE")
    typer.echo(f"INDEXING_API_KEY={key}  ({where})")


@app.command()
def cleanup(days: Annotated[int | None, typer.Option(help="Retention in days (default SESSION_RETENTION_DAYS)")] = None) -> None:
    """Remove sessions idle for longer than the retention period."""
    from src.sessions.retention import cleanup_old_sessions

    typer.echo(f"Cleaned up {cleanup_old_sessions(get_settings(), days=days)} old sessions")


@app.command()
def report(
    since: Annotated[str, typer.Option(help="Start of the window: ISO 8601, or a span back from now (7d, 24h, 2w)")] = "7d",
    until: Annotated[str | None, typer.Option(help="End of the window (default now)")] = None,
    output: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table",
    only: Annotated[str, typer.Option(help="Comma-separated: summary, gaps, chapters, feedback")] = "summary,gaps,chapters,feedback",
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
        console.print(f"[red]unknown report or format:[/red] {', '.join(unknown) or output}")
        raise typer.Exit(2)
    key, _ = load_or_create_api_key(get_settings())
    params = {"since": since, **({"until": until} if until else {}), **({"format": "csv"} if output == "csv" else {})}
    reports: dict[str, Any] = {}
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
            for name in names:
                response = client.get(f"/api/v1/analytics/{name}", params=params)
                if response.status_code != 200:
                    console.print(f"[red]{name}: HTTP {response.status_code}[/red] {response.text[:200]}")
                    raise typer.Exit(1)
                reports[name] = response.text if output == "csv" else response.json()
    except httpx.HTTPError as exc:
        console.print(f"[red]The service at {url} cannot be reached ({type(exc).__name__}).[/red] Start it (make run), or pass --url.")
        raise typer.Exit(1) from exc
    if output == "json":
        typer.echo(json.dumps(reports, indent=2, ensure_ascii=False))
    elif output == "csv":
        for name, text in reports.items():
            typer.echo(f"# {name}\n{text}")
    else:
        print_tables(reports, Console(width=160))


@app.command("restore-check")
def restore_check(
    dump: Annotated[
        Path,
        typer.Argument(help="The database backup from scripts/backup.sh: database.sql.gz (or plain SQL), or the SQLite app.db", exists=True, dir_okay=False),
    ],
    question: Annotated[str, typer.Option(help="A question the restored book must answer with citations")],
    expect_source: Annotated[str | None, typer.Option(help="A source_file the answer must cite (e.g. docs/02-humanoid-robotics/index.md)")] = None,
    vectors: Annotated[
        Path | None, typer.Option(help="vectors.tar.gz from scripts/backup.sh (the embedded store); without it the configured store answers", exists=True)
    ] = None,
    server_url: Annotated[str | None, typer.Option(help="PostgreSQL server for the scratch database of a dump (default: NEON_DB_URL / DATABASE_URL)")] = None,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the scratch database, or the SQLite copy (its name or path is printed)")] = False,
) -> None:
    """Restore a backup into a scratch copy (a PostgreSQL database, or an SQLite file), check its migrations and ask it a known question."""
    from src.kit.logging import configure_logging
    from src.ops.restore_check import restore_check as check

    settings = get_settings()
    configure_logging("WARNING", settings.log_dir, settings.log_json)
    try:
        report = asyncio.run(check(settings, dump, question, server_url=server_url, vectors=vectors, expect_source=expect_source, keep=keep))
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    for step in report.steps:
        typer.echo(f"{'PASS' if step.passed else 'FAIL'}  {step.name}: {step.detail}")
    kept = f" (kept: {report.database})" if keep else ""
    typer.echo(f"restore-check: {'PASSED' if report.passed else 'FAILED'}{kept}")
    raise typer.Exit(0 if report.passed else 1)


if __name__ == "__main__":
    app()
