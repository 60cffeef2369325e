"""Command line for authors and operators: `python -m src.cli --help`.

`migrate` is what every start path runs before serving (the image, the systemd unit, `make migrate`).

`index` reads a folder or glob into the index in process (same code as the HTTP API), with a
progress bar and a summary. `--prune` removes documents whose files left the book (a file that
fails to read is still there, and keeps its chunks); `--dry-run` reports what it would do and writes
nothing; a file with no text left to index keeps its chunks unless `--allow-empty`. Files and
folders linked from outside the book folder are skipped. With the embedded vector store, run it
while the server is stopped (the store serves one process); with QDRANT_URL it can run beside the
server.
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
from rich.text import Text

from src.ingestion.files import DOCUMENT_TYPES, discover, read_document, source_file_of
from src.kit.settings import get_settings

app = typer.Typer(help="AI-textbook chatbot backend: indexing and operations.", no_args_is_help=True)
console = Console(stderr=True)


def _say(label: str, style: str, detail: str) -> None:
    """A coloured label, then text from files or errors exactly as it is: never read as Rich markup
    (a file named `[bold]x.md`) or emoji codes, and on one line, for grep."""
    console.print(Text.assemble((label, style), " ", detail), soft_wrap=True)


async def _index(
    paths: list[Path], root: Path, base_url: str | None, prefix: str | None, *, if_empty: bool, prune: bool, dry_run: bool, allow_empty: bool
) -> int:
    from src.container import close_container, open_container
    from src.ingestion.bulk import Load, index_many, preview_many
    from src.ingestion.repository import DocumentRepository
    from src.ingestion.schemas import IndexMetadata
    from src.ingestion.service import DocumentNotFound, EmptyReindex, IndexOutcome
    from src.kit.db import transaction
    from src.kit.logging import configure_logging
    from src.kit.middleware import InFlight

    settings = get_settings()
    configure_logging("WARNING", settings.log_dir, settings.log_json, settings.log_file_max_bytes, settings.log_file_backups)
    container = await open_container(settings, InFlight())
    would, skipped = ("would ", "would skip") if dry_run else ("", "skipped")
    try:
        if if_empty and container.store.count() > 0:
            console.print(f"The index already holds {container.store.count()} chunks: nothing to do.")
            return 0
        totals = dict.fromkeys(("files", "chunks", "new", "unchanged", "deleted", "failed", "removed files"), 0)
        started = time.perf_counter()
        columns = (TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("indexing", total=len(paths))

            def loader(path: Path) -> Load:
                def load() -> tuple[str | bytes, IndexMetadata]:
                    return read_document(path, root, base_url, prefix)

                return load

            async def report(position: int, result: IndexOutcome | Exception) -> None:
                path = paths[position]
                progress.update(task, description=str(path.relative_to(root))[:60])
                if isinstance(result, EmptyReindex):  # nothing was removed: say how to remove it on purpose
                    totals["failed"] += 1
                    _say(skipped, "red", f"{path}: {result.reason}; pass --allow-empty to empty it, or delete the file and --prune")
                elif isinstance(result, Exception):
                    totals["failed"] += 1
                    _say(skipped, "red", f"{path}: {result}")
                else:
                    totals["files"] += 1
                    totals["chunks"] += result.indexed_chunks
                    totals["new"] += result.chunks_new
                    totals["unchanged"] += result.chunks_unchanged
                    totals["deleted"] += result.chunks_deleted
                    if dry_run and result.status != "unchanged":
                        changes = f"{result.indexed_chunks} chunks ({result.chunks_new} new, {result.chunks_deleted} removed)"
                        _say("would index", "cyan", f"{path}: {changes}")
                progress.advance(task)

            loads = [loader(p) for p in paths]
            allowed = range(len(paths)) if allow_empty else range(0)
            if dry_run:
                await preview_many(container.indexing, loads, report, allowed)
            else:
                await index_many(container.indexing, loads, report, settings.index_pool_chunks, allowed)
        if prune:
            # What is on disk is every file found under the arguments, read or not: a file that failed to
            # read is still the book's, and keeps its chunks until it is fixed or removed.
            present = {source_file_of(p, root, prefix) for p in paths}
            async with transaction(container.db) as session:
                registered = await DocumentRepository(session).list(1_000_000, 0)
            gone = [d for d in registered if d.source_file not in present and (d.source_file.startswith(prefix + "/") if prefix else True)]
            for document in gone:  # all listed before the first is removed
                _say(f"{would}remove", "yellow", f"{document.source_file} ({document.chunk_count} chunks): not among the files found on disk")
            for document in gone:
                totals["removed files"] += 1
                if dry_run:
                    totals["deleted"] += document.chunk_count
                    continue
                with contextlib.suppress(DocumentNotFound):  # removed meanwhile: nothing left to do
                    totals["deleted"] += await container.indexing.delete(document.source_file)
        if container.store.needs_optimize() and not dry_run:
            console.print("Building the search index (HNSW)...")
            await container.indexing.optimize_now()
        table = Table(title="Dry run: nothing was written" if dry_run else "Indexing summary")
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
    prune: Annotated[
        bool, typer.Option("--prune", help="Also remove indexed files (under --prefix) that are no longer on disk; needs a folder or glob, or --prefix")
    ] = False,
    if_empty: Annotated[bool, typer.Option("--if-empty", help="Do nothing if the index already has chunks")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only report what indexing and --prune would do: write nothing")] = False,
    allow_empty: Annotated[
        bool, typer.Option("--allow-empty", help="Let a file with no text to index remove all chunks of its indexed version (refused otherwise)")
    ] = False,
) -> None:
    """Index a book folder (Markdown, MDX, reStructuredText, HTML, text, PDF), a file, or a glob."""
    literal = [p for p in paths if not _is_glob(p) and not Path(p).is_dir()]
    if prune and prefix is None and literal:
        # Every other indexed document would count as gone from disk, and be removed.
        typer.echo(f"index: refused: --prune with the file {literal[0]!r} would remove every other document; pass its folder, or --prefix", err=True)
        raise typer.Exit(2)
    book_root = (root or _common_root(paths)).resolve()

    def outside(path: Path, target: Path) -> None:
        _say("skipped", "yellow", f"{path}: it leads to {target}, outside the book folder {book_root}")

    files: set[Path] = set()
    for pattern in paths:
        matches = [Path(p) for p in glob.glob(pattern, recursive=True)] if _is_glob(pattern) else [Path(pattern)]
        for match in matches:
            files.update(f.resolve() for f in discover(match, book_root, outside))
    if not files:
        console.print(Text(f"No indexable files ({', '.join(sorted(DOCUMENT_TYPES))}) under {', '.join(paths)}."))
        raise typer.Exit(1)
    options = {"if_empty": if_empty, "prune": prune, "dry_run": dry_run, "allow_empty": allow_empty}
    raise typer.Exit(asyncio.run(_index(sorted(files), book_root, base_url, prefix, **options)))


def _is_glob(pattern: str) -> bool:
    """A pattern with wildcards that is not itself a path on disk (a folder may be named `notes[1]`)."""
    return any(c in pattern for c in "*?[") and not Path(pattern).exists()


def _common_root(patterns: list[str]) -> Path:
    """The folder the arguments name (for a glob, the part before the first wildcard)."""
    bases = []
    for pattern in patterns:
        head = re.split(r"[*?\[]", pattern, maxsplit=1)[0] if _is_glob(pattern) else pattern
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
        _say("unknown report or format:", "red", ", ".join(unknown) or output)
        raise typer.Exit(2)
    key, _ = load_or_create_api_key(get_settings())
    params = {"since": since, **({"until": until} if until else {}), **({"format": "csv"} if output == "csv" else {})}
    reports: dict[str, Any] = {}
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
            for name in names:
                response = client.get(f"/api/v1/analytics/{name}", params=params)
                if response.status_code != 200:
                    _say(f"{name}: HTTP {response.status_code}", "red", response.text[:200])
                    raise typer.Exit(1)
                reports[name] = response.text if output == "csv" else response.json()
    except httpx.HTTPError as exc:
        console.print(Text.assemble((f"The service at {url} cannot be reached ({type(exc).__name__}).", "red"), " Start it (make run), or pass --url."))
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
        console.print(Text(str(exc), style="red"))
        raise typer.Exit(2) from exc
    for step in report.steps:
        typer.echo(f"{'PASS' if step.passed else 'FAIL'}  {step.name}: {step.detail}")
    kept = f" (kept: {report.database})" if keep else ""
    typer.echo(f"restore-check: {'PASSED' if report.passed else 'FAILED'}{kept}")
    raise typer.Exit(0 if report.passed else 1)


if __name__ == "__main__":
    app()
