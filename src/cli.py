"""Command line for authors and operators: `python -m src.cli --help`.

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
from typing import Annotated

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
    from src.ingestion.repository import DocumentRepository
    from src.ingestion.service import DocumentNotFound
    from src.kit.db import transaction
    from src.kit.logging import configure_logging
    from src.kit.middleware import InFlight

    settings = get_settings()
    configure_logging("WARNING", settings.log_dir, settings.log_json)
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
            for path in paths:
                progress.update(task, description=str(path.relative_to(root))[:60])
                try:
                    content, meta = read_document(path, root, base_url, prefix)
                    seen.add(meta.source_file)
                    outcome = await container.indexing.index(content, meta)
                except (ValueError, UnicodeDecodeError) as exc:
                    totals["failed"] += 1
                    console.print(f"[red]skipped[/red] {path}: {exc}")
                else:
                    totals["files"] += 1
                    totals["chunks"] += outcome.indexed_chunks
                    totals["new"] += outcome.chunks_new
                    totals["unchanged"] += outcome.chunks_unchanged
                    totals["deleted"] += outcome.chunks_deleted
                progress.advance(task)
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


@app.command("show-key")
def show_key() -> None:
    """Print the indexing API key (INDEXING_API_KEY, or the one generated under DATA_DIR)."""
    from src.security.keys import load_or_create_api_key

    settings = get_settings()
    key, path = load_or_create_api_key(settings)
    where = f"kept in {path}" if path else "from INDEXING_API_KEY"
    typer.echo(f"INDEXING_API_KEY={key}  ({where})")


@app.command()
def cleanup(days: Annotated[int | None, typer.Option(help="Retention in days (default SESSION_RETENTION_DAYS)")] = None) -> None:
    """Remove sessions idle for longer than the retention period."""
    from src.sessions.retention import cleanup_old_sessions

    typer.echo(f"Cleaned up {cleanup_old_sessions(get_settings(), days=days)} old sessions")


if __name__ == "__main__":
    app()
